"""The engines on real Vietnamese speech with the real packaged model, and the hallucination filter."""

from __future__ import annotations

import numpy as np
import pytest
from asr_support import clip_audio, clip_path

from transcription.audio import SAMPLE_RATE_HZ
from transcription.engines import FasterWhisperEngine, OpenAIWhisperEngine, Transcriber, create_engine
from transcription.engines.base import clean_segments, echo_count, limit_hotwords
from transcription.models import ModelInfo
from transcription.segment import Segment
from transcription.wer import error_rates, normalize_vi, wer

# Clips the base model gets (nearly) right, with the content words it must find. The WER bounds are the
# measured value plus a margin (re-measure with benchmarks/asr/run.py when the model or settings change).
FASTER_CLIP = "R052"  # theo luật nhân quả mà gần đây khoa học đã chứng minh được
FASTER_WORDS = ("nhân quả", "gần đây", "khoa học", "chứng minh")
FASTER_MAX_WER = 0.25
OPENAI_CLIP = "R059"  # nhưng thực ra có thể không phải là như vậy
OPENAI_WORDS = ("có thể", "không phải", "như vậy")
OPENAI_MAX_WER = 0.25
BATCH_CLIPS = ("R048", "R050", "R052", "R053", "R054", "R056", "R059", "R035", "R036", "R038")
BATCH_MAX_WER = 0.35


def _text(segments: list[Segment]) -> str:
    return normalize_vi(" ".join(s.text for s in segments))


@pytest.mark.asr
def test_faster_whisper_transcribes_a_real_clip(
    faster_engine: FasterWhisperEngine, references: dict[str, str]
) -> None:
    assert isinstance(faster_engine, Transcriber)
    reported: list[float] = []
    segments = faster_engine.transcribe(clip_path(FASTER_CLIP), progress=reported.append)
    text = _text(segments)
    assert wer(references[f"VIVOSSPK01_{FASTER_CLIP}.wav"], text) <= FASTER_MAX_WER, text
    for word in FASTER_WORDS:
        assert word in text, (word, text)
    duration_s = clip_audio(FASTER_CLIP).size / SAMPLE_RATE_HZ
    for segment in segments:
        assert 0.0 <= segment.start_s < segment.end_s <= duration_s + 0.05
        assert segment.words, "word timestamps are on"
        assert all(
            segment.start_s - 0.05 <= w.start_s <= w.end_s <= segment.end_s + 0.05 for w in segment.words
        )
        assert segment.avg_logprob is not None and segment.no_speech_prob is not None
    assert reported[0] == 0.0 and reported[-1] == 1.0 and reported == sorted(reported)


@pytest.mark.asr
def test_faster_whisper_takes_samples_and_hotwords(faster_engine: FasterWhisperEngine) -> None:
    audio = clip_audio(FASTER_CLIP)
    segments = faster_engine.transcribe(audio, hotwords=["Chư Mố", "Ia Tul", "Pờ Tó"])
    text = _text(segments)
    assert "khoa học" in text
    # The hotwords help spelling; they must not be copied into the transcript.
    assert "chư mố" not in text and "pờ tó" not in text


@pytest.mark.asr
def test_faster_whisper_on_silence_returns_nothing(faster_engine: FasterWhisperEngine) -> None:
    silence = np.zeros(5 * SAMPLE_RATE_HZ, dtype=np.float32)
    assert faster_engine.transcribe(silence, hotwords=["Ủy ban nhân dân huyện Ia Pa"]) == []


@pytest.mark.asr
@pytest.mark.slow
def test_faster_whisper_batched_on_long_audio(packaged_model: ModelInfo, references: dict[str, str]) -> None:
    engine = create_engine("faster-whisper", packaged_model, batched=None)
    assert isinstance(engine, FasterWhisperEngine)
    gap = np.zeros(SAMPLE_RATE_HZ // 2, dtype=np.float32)
    audio = np.concatenate([part for name in BATCH_CLIPS for part in (clip_audio(name), gap)])
    assert engine.use_batched(audio.size / SAMPLE_RATE_HZ)
    reported: list[float] = []
    segments = engine.transcribe(audio, progress=reported.append)
    reference = " ".join(references[f"VIVOSSPK01_{name}.wav"] for name in BATCH_CLIPS)
    rates = error_rates([reference], [_text(segments)])
    assert rates.wer <= BATCH_MAX_WER, _text(segments)
    starts = [s.start_s for s in segments]
    assert starts == sorted(starts) and segments[-1].end_s <= audio.size / SAMPLE_RATE_HZ + 0.05
    assert reported[-1] == 1.0 and reported == sorted(reported)


@pytest.mark.asr
def test_openai_whisper_on_the_exported_checkpoint(
    openai_engine: OpenAIWhisperEngine, references: dict[str, str]
) -> None:
    assert isinstance(openai_engine, Transcriber)
    reported: list[float] = []
    segments = openai_engine.transcribe(clip_path(OPENAI_CLIP), progress=reported.append)
    text = _text(segments)
    assert wer(references[f"VIVOSSPK01_{OPENAI_CLIP}.wav"], text) <= OPENAI_MAX_WER, text
    for word in OPENAI_WORDS:
        assert word in text, (word, text)
    assert all(s.words for s in segments)
    assert reported[0] == 0.0 and reported[-1] == 1.0 and reported == sorted(reported)


def _segment(text: str, no_speech_prob: float = 0.05) -> Segment:
    return Segment(0.0, 1.0, text, avg_logprob=-0.3, no_speech_prob=no_speech_prob)


def test_echo_count() -> None:
    phrases = ["Chư Mố", "Ia Tul", "Ủy ban nhân dân huyện Ia Pa"]
    assert echo_count("Chư Mố, Ia Tul, Chư Mố.", phrases) == 3
    assert echo_count("ỦY BAN NHÂN DÂN HUYỆN IA PA", phrases) == 1
    assert echo_count("Xã Chư Mố có mặt", phrases) is None
    assert echo_count("Chư Mố", []) is None


def test_clean_segments_drops_prompt_echoes_and_empty_text() -> None:
    phrases = ["Chư Mố", "Ia Tul", "Pờ Tó"]
    segments = [
        _segment("Chư Mố, Ia Tul, Pờ Tó"),  # the prompt repeated: hallucination
        _segment("Ia Tul Ia Tul"),  # one hotword repeated
        _segment("Pờ Tó", no_speech_prob=0.8),  # a lone hotword on what is probably not speech
        _segment("  ...  "),
        _segment(""),
        _segment("Ia Tul"),  # a confident lone answer at roll call is kept
        _segment("Điểm cầu xã Chư Mố đã sẵn sàng"),
    ]
    assert [s.text for s in clean_segments(segments, phrases)] == ["Ia Tul", "Điểm cầu xã Chư Mố đã sẵn sàng"]


def test_limit_hotwords() -> None:
    assert limit_hotwords([" Chư  Mố ", "Chư Mố", "", "Ia Tul"]) == ["Chư Mố", "Ia Tul"]
    assert len(limit_hotwords([f"xã {i}" for i in range(100)])) == 24


def test_unknown_engine_name(packaged_model: ModelInfo) -> None:
    with pytest.raises(ValueError, match="unknown engine"):
        create_engine("whisper.cpp", packaged_model)  # type: ignore[arg-type]
