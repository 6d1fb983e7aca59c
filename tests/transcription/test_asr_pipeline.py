"""Two recorded tracks (Ogg Opus made from eval clips) on a meeting clock, one with a muted stretch."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from asr_support import AudioMaker, clip_audio

from transcription.audio import SAMPLE_RATE_HZ
from transcription.engines import FasterWhisperEngine
from transcription.errors import AudioDecodeError
from transcription.pipeline import TrackInput, transcribe_tracks
from transcription.wer import normalize_vi

SILENCE_S = 1.0


def _silence(seconds: float) -> np.ndarray:
    return np.zeros(round(seconds * SAMPLE_RATE_HZ), dtype=np.float32)


@pytest.mark.asr
def test_two_tracks_on_the_meeting_clock(
    faster_engine: FasterWhisperEngine, make_ogg: AudioMaker, tmp_path: Path
) -> None:
    # Track A (Chư Mố): R052, a muted stretch where R054 was said (must not be transcribed), then R048.
    said, muted, later = clip_audio("R052"), clip_audio("R054"), clip_audio("R048")
    a_parts = [said, _silence(SILENCE_S), muted, _silence(SILENCE_S), later]
    muted_start = (said.size + SAMPLE_RATE_HZ * SILENCE_S) / SAMPLE_RATE_HZ
    muted_end = muted_start + muted.size / SAMPLE_RATE_HZ
    later_start = muted_end + SILENCE_S
    track_a = make_ogg(np.concatenate(a_parts), tmp_path / "chumo.ogg")
    # Track B (Ia Tul) joins the meeting 5 s after A and says R059.
    track_b = make_ogg(np.concatenate([_silence(0.5), clip_audio("R059")]), tmp_path / "iatul.ogg")
    offset_a, offset_b = 10.0, 15.0
    tracks = [
        TrackInput(
            track_a, offset_a, "CHUMO", "Xã Chư Mố", "Đại biểu Chư Mố", skip=((muted_start, muted_end),)
        ),
        TrackInput(track_b, offset_b, "IATUL", "Xã Ia Tul", "Đại biểu Ia Tul"),
    ]
    reported: list[float] = []
    segments = transcribe_tracks(
        tracks, faster_engine, hotwords=["Chư Mố", "Ia Tul"], progress=reported.append
    )

    assert [s.start_s for s in segments] == sorted(s.start_s for s in segments)
    by_unit = {code: [s for s in segments if s.unit_code == code] for code in ("CHUMO", "IATUL")}
    text_a = normalize_vi(" ".join(s.text for s in by_unit["CHUMO"]))
    text_b = normalize_vi(" ".join(s.text for s in by_unit["IATUL"]))
    assert "khoa học" in text_a and "khả năng" in text_a, text_a
    assert "dừng máy" not in text_a and "lặn xuống" not in text_a, text_a  # the muted stretch is skipped
    assert "không phải" in text_b and "như vậy" in text_b, text_b
    for s in by_unit["CHUMO"]:
        assert (s.unit_name, s.speaker, s.track_index) == ("Xã Chư Mố", "Đại biểu Chư Mố", 0)
        # On the meeting clock, and never inside the muted stretch.
        assert offset_a <= s.start_s < s.end_s <= offset_a + later_start + later.size / SAMPLE_RATE_HZ + 0.1
        assert not (offset_a + muted_start + 0.1 < s.start_s < offset_a + muted_end - 0.1)
    # Word times land where the words were said on the meeting clock, across the cut-out stretch.
    words_a = [w for s in by_unit["CHUMO"] for w in s.words]
    khoa = next(w for w in words_a if normalize_vi(w.text) == "khoa")
    kha = next(w for w in words_a if normalize_vi(w.text) == "khả")
    assert offset_a < khoa.start_s < offset_a + said.size / SAMPLE_RATE_HZ
    assert offset_a + later_start - 0.2 <= kha.start_s < offset_a + later_start + later.size / SAMPLE_RATE_HZ
    assert all(not (offset_a + muted_start + 0.1 < w.start_s < offset_a + muted_end - 0.1) for w in words_a)
    for s in by_unit["IATUL"]:
        assert (s.unit_name, s.track_index) == ("Xã Ia Tul", 1)
        assert (
            offset_b + 0.3
            <= s.start_s
            < s.end_s
            <= offset_b + 0.5 + clip_audio("R059").size / SAMPLE_RATE_HZ + 0.1
        )
    assert reported == sorted(reported) and reported[-1] == 1.0
    assert any(0.2 < p < 0.9 for p in reported)  # progress moves across tracks, not just at the ends


@pytest.mark.asr
def test_a_corrupt_track_names_its_file(
    faster_engine: FasterWhisperEngine, make_ogg: AudioMaker, tmp_path: Path
) -> None:
    good = make_ogg(clip_audio("R037"), tmp_path / "good.ogg")
    bad = tmp_path / "broken.ogg"
    bad.write_bytes(b"OggS" + bytes(200))
    tracks = [
        TrackInput(good, 0.0, "CHUMO", "Xã Chư Mố", "A"),
        TrackInput(bad, 3.0, "IATUL", "Xã Ia Tul", "B"),
    ]
    with pytest.raises(AudioDecodeError) as caught:
        transcribe_tracks(tracks, faster_engine)
    assert caught.value.path == bad and "broken.ogg" in str(caught.value)


def test_no_tracks_gives_no_segments() -> None:
    class NeverCalled:
        name = "never"

        def transcribe(self, *args: object, **kwargs: object) -> list[object]:
            raise AssertionError("no track, no transcription")

    assert transcribe_tracks([], NeverCalled()) == []  # type: ignore[arg-type]
