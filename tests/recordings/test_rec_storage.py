"""Storage layout and MeetingRecorder: safe ids, disk full, restart after a crash."""

from __future__ import annotations

import errno
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from rec_speech import PACKET_SAMPLES, Speech, decode_pcm

from recordings.errors import InvalidIdError, MeetingExistsError
from recordings.integrity import sha256_file
from recordings.manifest import read_manifest
from recordings.oggopus import read_ogg_opus_info
from recordings.storage import MeetingRecorder, ParticipantInfo, RecordingsLayout, validate_id

REPO = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
CHUMO = ParticipantInfo("p-chumo", "chumo", "Điểm cầu Chư Mố", "CHUMO", "UBND xã Chư Mố")

UNSAFE_IDS = ["", ".", "..", "../etc", "a/b", "a\\b", "/abs", "a b", "a.ogg", "a\x00b", "hội-nghị", "x" * 65,
              "..%2f", "~root"]


@pytest.mark.parametrize("bad", UNSAFE_IDS)
def test_unsafe_ids_are_rejected(tmp_path: Path, bad: str) -> None:
    layout = RecordingsLayout(tmp_path)
    with pytest.raises(InvalidIdError):
        validate_id(bad)
    with pytest.raises(InvalidIdError):
        layout.meeting_dir(bad)
    with pytest.raises(InvalidIdError):
        layout.track_path("ok-meeting", bad)
    with pytest.raises(InvalidIdError):
        MeetingRecorder.start(layout, bad)
    assert not (tmp_path / "etc").exists() and not (tmp_path.parent / "etc").exists()


def test_layout_and_generated_track_ids(tmp_path: Path) -> None:
    layout = RecordingsLayout(tmp_path)
    assert validate_id("Hop_2026-11-20") == "Hop_2026-11-20"
    recorder = MeetingRecorder.start(layout, "m1")
    weird = ParticipantInfo("../../Ủy ban/xã", "u", "U", "U", "U")
    handle = recorder.open_track(weird, 0.0)
    validate_id(handle.track_id)
    assert layout.track_path("m1", handle.track_id).is_file()
    with pytest.raises(InvalidIdError):
        recorder.open_track(CHUMO, 1.0, track_id="../escape")
    with pytest.raises(InvalidIdError):
        recorder.open_track(CHUMO, 1.0, track_id=handle.track_id)  # ids are unique in a meeting
    recorder.end(2.0)
    assert layout.meeting_ids() == ["m1"]
    assert sorted(p.name for p in layout.meeting_dir("m1").iterdir()) == ["manifest.jsonl", "tracks"]
    with pytest.raises(MeetingExistsError):
        MeetingRecorder.start(layout, "m1")


@pytest.mark.slow
def test_disk_full_stops_recording_and_keeps_earlier_data(tmp_path: Path) -> None:
    limit = 24_000
    data_dir = tmp_path / "data"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), str(HERE)])}
    done = subprocess.run(
        [sys.executable, str(HERE / "rec_child_disk_full.py"), str(data_dir), "full", str(limit)],
        capture_output=True, text=True, env=env, cwd=str(REPO), timeout=120,
    )
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["errno"] == errno.EFBIG
    assert report["error"].startswith("Ghi âm đã dừng: hết dung lượng lưu trữ")
    assert report["callbacks"] == [report["error"]]  # reported once
    assert report["still_recording"] == [False, False, False]
    assert 100 < report["written_before_error"] < 4000

    folder = data_dir / "recordings" / "full"
    manifest = read_manifest(folder)
    assert manifest.ended_s == 95.0
    (failure,) = manifest.failures
    assert failure.message == report["error"] and failure.track_id in report["tracks"]
    assert [t.track_id for t in manifest.tracks] == report["tracks"]  # the late track was never opened
    for track in manifest.tracks:
        path = folder / track.path
        info = read_ogg_opus_info(path)
        assert path.stat().st_size <= limit
        assert info.valid_bytes == info.file_bytes  # cut back to a page boundary: no torn page
        assert track.closed and track.sha256 == sha256_file(path)
        decoded = decode_pcm(path)
        assert len(decoded) == info.duration_samples > 0
        # what was recorded before the error is all there (up to the last complete page)
        assert len(decoded) >= (report["written_before_error"] - 30) * PACKET_SAMPLES - 312
        assert track.end_s == pytest.approx(info.duration_s, abs=0.001)


def test_restart_marks_interruption_and_resumes(tmp_path: Path, speech: Speech) -> None:
    layout = RecordingsLayout(tmp_path)
    recorder = MeetingRecorder.start(layout, "restart")
    handle = recorder.open_track(CHUMO, 1.0)
    for index, payload in enumerate(speech.packets[:120]):
        handle.write(payload, index * PACKET_SAMPLES)
    # the process dies here: no close, no end (the writer's fd is simply abandoned)
    path = layout.track_path("restart", handle.track_id)
    with open(path, "ab") as tail:
        tail.write(b"OggS\x00\x00 torn page")  # a page cut short by the crash

    again = MeetingRecorder.reopen(layout, "restart")
    at_s = again.mark_interrupted()
    assert at_s == pytest.approx(1.0 + read_ogg_opus_info(path).duration_s)
    again.resume(at_s + 30.0)
    back = again.open_track(CHUMO, at_s + 31.0)
    for index, payload in enumerate(speech.packets[:50]):
        back.write(payload, 5 + index * PACKET_SAMPLES)
    again.end(at_s + 33.0)

    manifest = read_manifest(layout.meeting_dir("restart"))
    assert manifest.interrupted
    assert [(i.start_s, i.end_s) for i in manifest.interruptions] == [
        (pytest.approx(at_s, abs=1e-5), pytest.approx(at_s + 30.0, abs=1e-5))
    ]
    first, second = manifest.tracks
    assert first.closed and first.sha256 == sha256_file(path)
    assert read_ogg_opus_info(path).valid_bytes == path.stat().st_size  # the torn tail was cut
    assert (second.segment, second.previous_track_id) == (1, first.track_id)
    assert manifest.length_s == pytest.approx(at_s + 33.0)


def test_resume_without_explicit_mark_closes_crashed_tracks(tmp_path: Path, speech: Speech) -> None:
    layout = RecordingsLayout(tmp_path)
    recorder = MeetingRecorder.start(layout, "auto")
    handle = recorder.open_track(CHUMO, 0.0)
    for index, payload in enumerate(speech.packets[:80]):
        handle.write(payload, index * PACKET_SAMPLES)
    # crash; the restarted server reopens and resumes straight away
    again = MeetingRecorder.reopen(layout, "auto")
    again.resume(20.0)
    again.resume(21.0)  # a second resume after the first one marks a second interruption
    again.end(22.0)
    manifest = read_manifest(layout.meeting_dir("auto"))
    (track,) = manifest.tracks
    assert track.closed and track.end_s == pytest.approx(read_ogg_opus_info(layout.track_path(
        "auto", track.track_id)).duration_s)
    assert [(i.start_s, i.end_s) for i in manifest.interruptions] == [
        (pytest.approx(track.end_s, abs=1e-5), 20.0), (20.0, 21.0)  # the last moment known: the resume
    ]
