"""Doubtful segments are kept for the meeting's transcript and marked with why, never dropped silently.

Users lost 10 s of a commune's real speech "decoded from silence": the hallucination filter dropped every
segment the model rated as probably not speech. The real model does exactly that on the synthesised giao ban
sentences over a faint noise floor (white noise at -55 dBFS): no_speech_prob ≈ 0.8, avg_logprob ≈ -0.9, and
the old filter returned nothing at all for 7 s of speech. Now the engines keep such segments with their
``doubt``; live captions (the default ``keep_doubtful=False``) still drop them.
"""

from __future__ import annotations

from pathlib import Path

import ctranslate2
import numpy as np
import pytest

from tests.speech import shippable_utterance
from transcription.audio import SAMPLE_RATE_HZ, decode_audio
from transcription.engines import FasterWhisperEngine, create_engine
from transcription.engines.base import clean_segments
from transcription.models import ModelInfo
from transcription.pipeline import TrackInput, transcribe_tracks
from transcription.segment import Segment, Word
from transcription.wer import normalize_vi

NOISE_DBFS = -55.0
SEED = 20261205  # CTranslate2's sampling seed for the temperature fallback


def _segment(
    text: str, no_speech_prob: float = 0.05, avg_logprob: float = -0.3, probabilities: tuple[float, ...] = ()
) -> Segment:
    words = tuple(Word(0.1 * i, 0.1 * (i + 1), f"w{i}", p) for i, p in enumerate(probabilities))
    return Segment(0.0, 1.0, text, words, avg_logprob=avg_logprob, no_speech_prob=no_speech_prob)


def test_doubtful_segments_are_kept_and_marked_for_the_transcript() -> None:
    phrases = ["Chư Mố", "Ia Tul"]
    segments = [
        _segment("Tình hình chống hạn trong tuần qua", no_speech_prob=0.86, avg_logprob=-0.86),  # silence?
        _segment("nạo vét kênh mương", probabilities=(0.1, 0.2, 0.3, 0.2)),  # words barely believed
        _segment("Ia Tul", no_speech_prob=0.7),  # a lone hotword rated as not speech
        _segment("Chư Mố, Ia Tul, Chư Mố"),  # the prompt recited: a hallucination, still dropped
        _segment("Xã Chư Mố có mặt", probabilities=(0.9, 0.8, 0.7, 0.6)),
        _segment("   "),
    ]
    kept = clean_segments(segments, phrases, keep_doubtful=True)
    assert [(s.text, s.doubt) for s in kept] == [
        ("Tình hình chống hạn trong tuần qua", "no_speech"),
        ("nạo vét kênh mương", "low_confidence"),
        ("Ia Tul", "no_speech"),
        ("Xã Chư Mố có mặt", None),
    ]
    assert kept[0].confidence == pytest.approx(np.exp(-0.86))  # no word times: exp(avg_logprob)
    assert kept[1].confidence == pytest.approx(0.2)  # the words' mean probability
    # live captions keep dropping them (the default)
    assert [s.text for s in clean_segments(segments, phrases)] == ["Xã Chư Mố có mặt"]


def _speech_over_noise(tail_s: float) -> np.ndarray:
    speech = np.concatenate([decode_audio(shippable_utterance(k).path) for k in ("GB01", "GB02")])
    size = speech.size + int(tail_s * SAMPLE_RATE_HZ)
    noise = np.random.default_rng(1).normal(0.0, 10 ** (NOISE_DBFS / 20), size)
    audio = noise.astype(np.float32)
    audio[: speech.size] += speech
    return audio


@pytest.fixture(scope="module")
def one_thread_engine(packaged_model: ModelInfo) -> FasterWhisperEngine:
    """The packaged model on one CTranslate2 thread: its decodes are then the same from run to run (on two
    threads the order of floating-point sums varies, and a sampled fallback followed it)."""
    engine = create_engine("faster-whisper", packaged_model, threads=1)
    assert isinstance(engine, FasterWhisperEngine)
    return engine


@pytest.mark.asr
def test_the_real_engine_keeps_speech_it_doubts(
    one_thread_engine: FasterWhisperEngine, tmp_path: Path
) -> None:
    engine = one_thread_engine
    reference = set(normalize_vi(" ".join(shippable_utterance(k).text for k in ("GB01", "GB02"))).split())
    audio = _speech_over_noise(tail_s=0.0)
    # the temperature fallback samples (CTranslate2's generator): seeded alike before both decodes of the
    # same samples, so that the pipeline's decode is the engine's. Unseeded, each drew its own and the
    # pipeline's was sometimes read as confident, with no mark: 4 failures in 16 runs; seeded on the
    # two-thread engine, 1 in 20 (its threads ordered floating-point sums differently); seeded on one thread
    # the decodes are the same every run
    ctranslate2.set_random_seed(SEED)
    segments = engine.transcribe(audio, hotwords=["xã Chư Mố", "Ia Pa"])
    assert segments, "the speech the model doubts was dropped"
    # measured: no_speech_prob 0.86, avg_logprob -0.86 -> "no_speech"; the temperature fallback samples, so a
    # run may read a segment as "low_confidence" instead (seen once in CI): either way kept and flagged
    assert any(s.doubt is not None for s in segments), segments
    assert {s.doubt for s in segments} <= {"no_speech", "low_confidence", None}
    heard = set(normalize_vi(" ".join(s.text for s in segments)).split())
    assert len(heard & reference) >= 3, (heard, reference)  # real speech, not noise

    # the same samples as a recorded track: the pipeline carries the mark, its reason and the confidence
    wav = tmp_path / "chumo.wav"
    sf_write(wav, audio)
    ctranslate2.set_random_seed(SEED)
    placed = transcribe_tracks(
        [TrackInput(wav, 5.0, "CHUMO", "Xã Chư Mố", "Đại biểu Chư Mố")],
        engine,
        hotwords=["xã Chư Mố", "Ia Pa"],
    )
    doubtful = [s for s in placed if s.uncertain]
    assert doubtful and all(s.uncertain_reason in ("no_speech", "low_confidence") for s in doubtful)
    assert all(s.confidence is not None and 0.0 < s.confidence < 0.6 for s in doubtful)
    assert all(s.confidence is not None and 0.0 < s.confidence <= 1.0 for s in placed)
    assert all(5.0 <= s.start_s < s.end_s <= 5.0 + audio.size / SAMPLE_RATE_HZ + 0.5 for s in placed)


def sf_write(path: Path, audio: np.ndarray) -> None:
    """16 kHz mono 16-bit WAV of ``audio``."""
    import wave

    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(SAMPLE_RATE_HZ)
        out.writeframes((np.clip(audio, -1.0, 1.0) * 32767.0).astype("<i2").tobytes())
