"""Long tracks in bounded windows: cuts at quiet moments, nothing lost or repeated, times kept, and the real
model on a track cut between two clips."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from asr_support import AudioMaker, clip_audio, clip_path

from transcription.audio import SAMPLE_RATE_HZ, decode_audio, stream_audio
from transcription.engines import FasterWhisperEngine
from transcription.pipeline import TrackInput, transcribe_track
from transcription.wer import normalize_vi
from transcription.windows import AudioWindow, split_windows


def _noise(seconds: float, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return (0.3 * rng.standard_normal(round(seconds * SAMPLE_RATE_HZ))).astype(np.float32)


def _in_pieces(audio: np.ndarray, size: int) -> list[np.ndarray]:
    return [audio[i : i + size] for i in range(0, audio.size, size)]


def test_windows_cover_every_sample_once_and_cut_in_the_quiet() -> None:
    # 4 s of sound, 0.6 s of silence, 4 s of sound, 0.6 s of silence, 2 s of sound.
    quiet = np.zeros(round(0.6 * SAMPLE_RATE_HZ), dtype=np.float32)
    audio = np.concatenate([_noise(4.0, 1), quiet, _noise(4.0, 2), quiet, _noise(2.0, 3)])
    windows = list(split_windows(_in_pieces(audio, 321), window_s=5.0, search_s=2.0))

    assert len(windows) == 3
    assert np.array_equal(np.concatenate([w.samples for w in windows]), audio)
    assert windows[0].offset_s == 0.0
    for before, after in zip(windows, windows[1:], strict=False):
        assert after.offset_s == pytest.approx(before.end_s)
    for window in windows:
        assert window.duration_s <= 5.0
    # The first two cuts fall inside the silences (4.0–4.6 s and 8.6–9.2 s).
    assert 4.0 < windows[1].offset_s < 4.6
    assert 8.6 < windows[2].offset_s < 9.2


def test_short_audio_is_one_window_and_empty_audio_none() -> None:
    audio = _noise(1.5, 4)
    assert [w.offset_s for w in split_windows([audio], window_s=5.0)] == [0.0]
    assert list(split_windows([], window_s=5.0)) == []
    with pytest.raises(ValueError):
        list(split_windows([audio], window_s=0))


def test_without_quiet_moments_windows_are_full_length() -> None:
    audio = _noise(12.0, 5)
    windows = list(split_windows(_in_pieces(audio, 4000), window_s=5.0, search_s=0.0))
    assert [round(w.duration_s, 3) for w in windows] == [5.0, 5.0, 2.0]
    assert isinstance(windows[0], AudioWindow)


def test_streamed_pieces_are_the_decoded_file() -> None:
    path = clip_path("GB08")
    assert np.array_equal(np.concatenate(list(stream_audio(path))), decode_audio(path))


@pytest.mark.asr
def test_a_track_cut_into_windows_keeps_both_clips_and_their_times(
    faster_engine: FasterWhisperEngine, make_ogg: AudioMaker, tmp_path: Path
) -> None:
    first, second = clip_audio("GB08"), clip_audio("GB09")
    gap_s = 1.5
    gap = np.zeros(round(gap_s * SAMPLE_RATE_HZ), dtype=np.float32)
    track_path = make_ogg(np.concatenate([first, gap, second]), tmp_path / "long.ogg")
    first_s = first.size / SAMPLE_RATE_HZ
    second_end_s = first_s + gap_s + second.size / SAMPLE_RATE_HZ
    window_s = first_s + 1.0
    track = TrackInput(track_path, 100.0, "CHUMO", "Xã Chư Mố", "Đại biểu Chư Mố")
    reported: list[float] = []

    # A window just longer than the first sentence: the cut must fall in the 1.5 s gap after it.
    segments = transcribe_track(0, track, faster_engine, window_s=window_s, progress=reported.append)

    # Both sentences are transcribed (synthesised speech: their times are checked, not their words), each on
    # its own side of the cut, on the meeting clock: the second window's times carry its offset.
    assert all(normalize_vi(s.text) for s in segments)
    first_half = [s for s in segments if s.start_s < 100.0 + first_s + gap_s / 2]
    second_half = [s for s in segments if s not in first_half]
    assert first_half and second_half, segments
    assert all(s.end_s <= 100.0 + window_s + 0.05 for s in first_half), first_half
    assert all(100.0 + first_s <= s.start_s < s.end_s <= 100.0 + second_end_s + 0.1 for s in second_half)
    assert reported == sorted(reported) and reported[-1] == 1.0
