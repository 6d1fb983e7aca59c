"""The live captions' shorter encoder window (transcription/engines/fasterwhisper_window.py): the hook on
faster-whisper only shortens the streaming decoder's window, keeps word times where the words were said, is
the caption process's default, and its start-up check stops the process clearly when faster-whisper no
longer has the shape it relies on."""

from __future__ import annotations

import difflib

import faster_whisper.transcribe as fw_transcribe
import numpy as np
import pytest

from tests.speech import Corpus
from transcription import captions_worker
from transcription.audio import SAMPLE_RATE_HZ, decode_audio
from transcription.captions_client import CaptionProcess, feed_realtime, opus_packets
from transcription.engines import fasterwhisper_window
from transcription.engines.fasterwhisper_window import (
    EncoderWindow,
    WindowHookError,
    encoder_window,
)
from transcription.models import ModelInfo
from transcription.streaming import StreamingOptions, TimedWord, WhisperStreamingDecoder

LEAD_S = StreamingOptions.pre_speech_s  # the silence a caption buffer holds before speech
GAP_S = 1.0  # between sentences fed to the process
WORD_SLACK_S = 0.5  # a word time may lie this far outside the sentence's sound (Whisper puts a first word's
# start at its segment's start, the buffer's start in a decode)
SAME_WORD_S = 0.3  # the same word decoded with the short and the full window: times this close


def speech_spans(audio: np.ndarray, threshold: float = 0.01) -> tuple[float, float]:
    """Where the sentence's sound starts and ends (first and last 10 ms frame above ``threshold`` RMS)."""
    frames = audio[: audio.size - audio.size % 160].reshape(-1, 160)
    loud = np.flatnonzero(np.sqrt((frames**2).mean(axis=1)) > threshold)
    return loud[0] * 0.01, (loud[-1] + 1) * 0.01


def test_the_window_pads_only_inside_the_streaming_decode() -> None:
    fasterwhisper_window.install()
    features = np.zeros((80, 450), dtype=np.float32)
    assert fw_transcribe.pad_or_trim(features).shape == (80, 3000)  # the offline pass: 30 s
    with encoder_window(EncoderWindow(10.0)):
        assert fw_transcribe.pad_or_trim(features).shape == (80, 1000)
        assert fw_transcribe.pad_or_trim(np.zeros((80, 1234), dtype=np.float32)).shape == (80, 1500)
        assert fw_transcribe.pad_or_trim(np.zeros((80, 3500), dtype=np.float32)).shape == (80, 3000)
    with encoder_window(EncoderWindow(0.0, step_s=0.0, margin_s=2.0)):
        assert fw_transcribe.pad_or_trim(features).shape == (80, 650)
    assert fw_transcribe.pad_or_trim(features).shape == (80, 3000)
    assert EncoderWindow(30.0).full and EncoderWindow(10.0).frames(2999) == 3000


def test_the_start_up_check_names_what_changed(monkeypatch: pytest.MonkeyPatch) -> None:
    fasterwhisper_window.self_check()  # the pinned faster-whisper passes

    def pad_or_trim(array: np.ndarray, size: int = 3000) -> np.ndarray:
        return array

    monkeypatch.setattr(fw_transcribe, "pad_or_trim", pad_or_trim)
    with pytest.raises(WindowHookError, match=r"pad_or_trim\(array: 'np.ndarray', size: 'int' = 3000\)"):
        fasterwhisper_window.self_check()
    monkeypatch.undo()

    def generate_segments(self: object, features: np.ndarray) -> None:
        segment = fw_transcribe.pad_or_trim(features, 3000)
        del segment

    monkeypatch.setattr(fw_transcribe.WhisperModel, "generate_segments", generate_segments)
    with pytest.raises(WindowHookError, match="generate_segments no longer does 'segment = pad_or_trim"):
        fasterwhisper_window.install()


def test_the_caption_process_refuses_to_start_on_a_changed_faster_whisper(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], packaged_model: ModelInfo
) -> None:
    monkeypatch.setattr(fw_transcribe, "pad_or_trim", lambda array: array)
    code = captions_worker.main(["--model", str(packaged_model.path), "--no-nice", "--window-s", "10"])
    captured = capsys.readouterr()
    assert code == 3 and '"ready"' not in captured.out
    assert "caption process cannot start" in captured.err and "pad_or_trim(array)" in captured.err


@pytest.mark.asr
def test_short_window_words_match_the_full_window(speech_corpus: Corpus, packaged_model: ModelInfo) -> None:
    """Three sentences, each after the lead-in silence a caption buffer holds, decoded as the caption process
    does with the default (short) window and with Whisper's 30 s one: the words lie on the sentence's sound
    and the words both decodes read alike have the same times."""
    fasterwhisper_window.install()
    window = EncoderWindow(captions_worker.DEFAULT_WINDOW_S, captions_worker.DEFAULT_WINDOW_STEP_S)
    assert not window.full
    decoder = WhisperStreamingDecoder(packaged_model, window=window)
    compared = 0
    for utterance in speech_corpus.utterances()[:3]:
        sentence = decode_audio(utterance.path)
        audio = np.concatenate([np.zeros(round(LEAD_S * SAMPLE_RATE_HZ), dtype=np.float32), sentence])
        sound_start_s, sound_end_s = (LEAD_S + t for t in speech_spans(sentence))
        decoder.window = window
        short = decoder.decode(audio, prompt="", final=True).words
        decoder.window = None
        full = decoder.decode(audio, prompt="", final=True).words
        assert short, utterance.key
        # Whisper may snap a decode's first word's start to the buffer's start (seen once in 6 VIVOS clips
        # with the 10 s window: 0.0 instead of 0.52 s): its start is only bounded by the buffer.
        for index, word in enumerate(short):
            earliest_s = 0.0 if index == 0 else sound_start_s - WORD_SLACK_S
            assert earliest_s <= word.start_s <= word.end_s <= sound_end_s + WORD_SLACK_S, (
                utterance.key,
                word,
                (sound_start_s, sound_end_s),
            )
        assert short[0].end_s >= sound_start_s
        assert [w.start_s for w in short] == sorted(w.start_s for w in short)
        compared += _same_words_same_times(short, full)
    assert compared >= 5  # enough words read alike to compare their times


def _same_words_same_times(short: tuple[TimedWord, ...], full: tuple[TimedWord, ...]) -> int:
    matcher = difflib.SequenceMatcher(a=[w.key for w in short], b=[w.key for w in full], autojunk=False)
    count = 0
    for block in matcher.get_matching_blocks():
        for k in range(block.size):
            a, b = short[block.a + k], full[block.b + k]
            assert abs(a.end_s - b.end_s) <= SAME_WORD_S, (a, b)
            assert block.a + k == 0 or abs(a.start_s - b.start_s) <= SAME_WORD_S, (a, b)
            count += 1
    return count


@pytest.mark.asr
@pytest.mark.e2e
@pytest.mark.timeout(300)
def test_caption_process_default_window_on_speech(speech_corpus: Corpus, packaged_model: ModelInfo) -> None:
    """The caption process as the media process starts it (no window flag): it warms up before "ready",
    encodes the short window, and its final captions' words lie on the sentences they came from."""
    utterances = speech_corpus.utterances()[:3]
    gap = np.zeros(round(GAP_S * SAMPLE_RATE_HZ), dtype=np.float32)
    parts: list[np.ndarray] = []
    spans: list[tuple[float, float]] = []
    start_s = 20.0  # meeting clock of the first sample
    at_s = start_s
    for utterance in utterances:
        sentence = decode_audio(utterance.path)
        first, last = speech_spans(sentence)
        spans.append((at_s + GAP_S + first, at_s + GAP_S + last))
        parts += [gap, sentence]
        at_s += GAP_S + sentence.size / SAMPLE_RATE_HZ
    parts.append(gap)
    audio = np.concatenate(parts)

    process = CaptionProcess(["--model", str(packaged_model.path), "--no-nice"])
    try:
        ready = process.wait_ready().data
        feed_realtime(process, "IATUL", opus_packets(audio), start_s=start_s, speed=2.0)
        process.close(timeout_s=240)
    finally:
        process.kill()
    assert ready["window"] == EncoderWindow(captions_worker.DEFAULT_WINDOW_S).describe()
    assert ready["warm_up_s"] > 0
    finals = [e.data for e in process.captions(final=True)]
    words = [w for caption in finals for w in caption["words"]]
    assert len(finals) >= 2 and len(words) >= 6, finals
    for word_start, word_end, text in words:
        assert any(a - WORD_SLACK_S <= word_start <= word_end <= b + WORD_SLACK_S for a, b in spans), (
            word_start,
            word_end,
            text,
            spans,
        )
    said = [any(a - WORD_SLACK_S <= w[0] <= b + WORD_SLACK_S for w in words) for a, b in spans]
    assert sum(said) >= 2, (said, finals)
