"""Mixing a meeting: length equals the meeting, each speaker at their meeting-clock offset, no clipping."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest
from rec_speech import PACKET_SAMPLES, SAMPLE_RATE_HZ, Speech, decode_pcm, xcorr_peak

from recordings.manifest import read_manifest
from recordings.mixing import decoded_duration_s, mix_meeting, soft_limit, track_duration_s
from recordings.storage import MIX_FILENAME, MeetingRecorder, ParticipantInfo, RecordingsLayout

CHUMO = ParticipantInfo("p-chumo", "chumo", "Điểm cầu Chư Mố", "CHUMO", "UBND xã Chư Mố")
IATUL = ParticipantInfo("p-iatul", "iatul", "Điểm cầu Ia Tul", "IATUL", "UBND xã Ia Tul")


def record_meeting(tmp_path: Path, speech: Speech, other: Speech, *, mute: tuple[float, float] | None = None
                   ) -> tuple[Path, float, float, float]:
    layout = RecordingsLayout(tmp_path)
    recorder = MeetingRecorder.start(layout, "mix", started_at=datetime(2026, 11, 20, 8, tzinfo=UTC))
    offset_a, offset_b, meeting_s = 1.5, 4.25, 20.0
    a = recorder.open_track(CHUMO, offset_a)
    b = recorder.open_track(IATUL, offset_b)
    for index, payload in enumerate(speech.packets):
        a.write(payload, 10_000 + index * PACKET_SAMPLES)
    for index, payload in enumerate(other.packets):
        b.write(payload, 4_000_000_000 + index * PACKET_SAMPLES)
    if mute is not None:
        b.mute(mute[0])
        b.unmute(mute[1])
    a.close(offset_a + len(speech.packets) * 0.02)
    recorder.end(meeting_s)
    return layout.meeting_dir("mix"), offset_a, offset_b, meeting_s


def test_mix_places_each_track_at_its_offset(tmp_path: Path, speech: Speech, other_speech: Speech) -> None:
    folder, offset_a, offset_b, meeting_s = record_meeting(tmp_path, speech, other_speech)
    out = mix_meeting(folder)
    assert out == folder / MIX_FILENAME and out.is_file()
    assert not list(folder.glob(".*partial"))
    mix = decode_pcm(out)
    assert abs(len(mix) / SAMPLE_RATE_HZ - meeting_s) < 0.001
    assert decoded_duration_s(out) == pytest.approx(meeting_s, abs=0.001)
    for source, offset in ((speech.pcm, offset_a), (other_speech.pcm, offset_b)):
        found, peak = xcorr_peak(source, mix)
        assert abs(found / SAMPLE_RATE_HZ - offset) < 0.005, (found / SAMPLE_RATE_HZ, offset)
        assert peak > 0.5
    # nothing before the first speaker, and the mix never leaves [-1, 1]
    assert float(np.abs(mix[: int(offset_a * SAMPLE_RATE_HZ) - 480]).max()) < 1e-3
    assert float(np.abs(mix).max()) <= 1.0


def test_mix_silences_muted_spans(tmp_path: Path, speech: Speech, other_speech: Speech) -> None:
    folder, offset_a, offset_b, meeting_s = record_meeting(tmp_path, speech, other_speech, mute=(6.0, 7.0))
    (track_b,) = [t for t in read_manifest(folder).tracks if t.unit_code == "IATUL"]
    assert track_duration_s(folder, track_b) == pytest.approx(
        len(other_speech.packets) * 0.02 - 312 / SAMPLE_RATE_HZ, abs=1e-6)
    muted = decode_pcm(mix_meeting(folder, output=tmp_path / "muted.ogg"))
    unmuted = decode_pcm(mix_meeting(folder, output=tmp_path / "all.ogg", honour_mutes=False))
    span = slice(int(6.05 * SAMPLE_RATE_HZ), int(6.95 * SAMPLE_RATE_HZ))
    # both speak from 4.25 s to ~10.8 s; in the muted second only A is left in the mix
    diff = float(np.sqrt(np.mean((unmuted[span] - muted[span]) ** 2)))
    assert diff > 0.005
    outside = slice(int(8.0 * SAMPLE_RATE_HZ), int(9.0 * SAMPLE_RATE_HZ))
    assert float(np.sqrt(np.mean((unmuted[outside] - muted[outside]) ** 2))) < diff / 5


def test_soft_limit_bounds_and_identity() -> None:
    quiet = np.linspace(-0.9, 0.9, 1001, dtype=np.float32)
    assert np.array_equal(soft_limit(quiet), quiet)
    loud = np.linspace(-4.0, 4.0, 4001, dtype=np.float32)
    limited = soft_limit(loud)
    assert float(np.abs(limited).max()) <= 1.0
    assert np.all(np.diff(limited) >= 0)  # monotonic: no fold-over distortion
