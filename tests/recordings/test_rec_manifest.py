"""The meeting manifest: a recorded meeting read back, reconnect chains, mutes, a torn or corrupt log."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from rec_speech import PACKET_SAMPLES, SAMPLE_RATE_HZ, Speech

from recordings.errors import ManifestError
from recordings.integrity import sha256_file
from recordings.manifest import MANIFEST_FILENAME, ManifestLog, Muted, read_events, read_manifest
from recordings.storage import MeetingRecorder, ParticipantInfo, RecordingsLayout

CHUMO = ParticipantInfo("p-chumo", "chumo", "Điểm cầu Chư Mố", "CHUMO", "UBND xã Chư Mố")
IATUL = ParticipantInfo("p-iatul", "iatul", "Điểm cầu Ia Tul", "IATUL", "UBND xã Ia Tul")
STARTED = datetime(2026, 11, 20, 7, 30, tzinfo=UTC)


def feed(handle: object, packets: list[bytes], first_timestamp: int) -> None:
    for index, payload in enumerate(packets):
        handle.write(payload, first_timestamp + index * PACKET_SAMPLES)  # type: ignore[attr-defined]


def test_recorded_meeting_reads_back(tmp_path: Path, speech: Speech) -> None:
    layout = RecordingsLayout(tmp_path)
    recorder = MeetingRecorder.start(layout, "hop-2026-11-20", started_at=STARTED)
    first = recorder.open_track(CHUMO, 2.0)
    feed(first, speech.packets[:100], 1000)
    first.mute(2.5)
    first.unmute(3.0)
    first.close(4.0)
    again = recorder.open_track(CHUMO, 6.0)  # reconnect of the same connection point
    feed(again, speech.packets[:50], 999_000)
    again.mute(6.5)  # still muted when the meeting ends
    other = recorder.open_track(IATUL, 1.0)
    feed(other, speech.packets[:25], 5)
    recorder.end(9.0)

    manifest = read_manifest(layout.meeting_dir("hop-2026-11-20"))
    assert manifest.meeting_id == "hop-2026-11-20"
    assert manifest.started_at == STARTED
    assert manifest.ended_at == STARTED + timedelta(seconds=9)
    assert manifest.ended_s == 9.0 and manifest.length_s == 9.0
    assert not manifest.interrupted and manifest.failures == ()
    by_id = {t.track_id: t for t in manifest.tracks}
    one, two = by_id[first.track_id], by_id[again.track_id]
    assert (one.segment, one.previous_track_id) == (0, None)
    assert (two.segment, two.previous_track_id) == (1, first.track_id)
    assert one.unit_code == "CHUMO" and one.unit_name == "UBND xã Chư Mố"
    assert one.display_name == "Điểm cầu Chư Mố" and one.username == "chumo"
    assert (one.start_s, one.end_s) == (2.0, 4.0)
    assert [(m.start_s, m.end_s) for m in one.muted] == [(2.5, 3.0)]
    assert [(m.start_s, m.end_s) for m in two.muted] == [(6.5, 9.0)]
    assert by_id[other.track_id].end_s == 9.0
    for track in manifest.tracks:
        path = layout.meeting_dir("hop-2026-11-20") / track.path
        assert track.closed and track.path.startswith("tracks/")
        assert track.sha256 == sha256_file(path) and track.size_bytes == path.stat().st_size


def test_long_rtp_gap_is_logged_short_ones_are_not(tmp_path: Path, speech: Speech) -> None:
    layout = RecordingsLayout(tmp_path)
    recorder = MeetingRecorder.start(layout, "gaps")
    handle = recorder.open_track(CHUMO, 10.0)
    for index, payload in enumerate(speech.packets[:300]):
        if 40 <= index < 45 or 100 <= index < 200:  # 0.1 s lost (not logged), then 2 s (logged)
            continue
        handle.write(payload, 42 + index * PACKET_SAMPLES)
    handle.close(16.0)
    (track,) = read_manifest(layout.meeting_dir("gaps")).tracks
    (gap,) = track.gaps
    assert gap.reason == "rtp_gap"
    assert gap.start_s == pytest.approx(10.0 + 100 * PACKET_SAMPLES / SAMPLE_RATE_HZ, abs=0.01)
    assert gap.end_s - gap.start_s == pytest.approx(2.0, abs=1e-6)


def test_torn_last_line_is_ignored_and_cut_before_appending(tmp_path: Path, speech: Speech) -> None:
    layout = RecordingsLayout(tmp_path)
    recorder = MeetingRecorder.start(layout, "torn")
    handle = recorder.open_track(CHUMO, 0.0)
    feed(handle, speech.packets[:60], 0)
    handle.mute(0.5)
    folder = layout.meeting_dir("torn")
    manifest_path = folder / MANIFEST_FILENAME
    with open(manifest_path, "ab") as raw:  # a crash in the middle of a line
        raw.write(b'{"event":"unmuted","track_id":"' + handle.track_id.encode() + b'","t_')
    manifest = read_manifest(folder)
    (track,) = manifest.tracks
    assert not track.closed
    # never closed: the end comes from the file (pages flushed so far), and the mute runs to it
    assert track.end_s is not None and track.end_s > 0.9
    assert [(m.start_s, m.end_s) for m in track.muted] == [(0.5, track.end_s)]

    log = ManifestLog(manifest_path)  # what a restarted server does
    log.append(Muted("x", 1.0))
    log.close()
    lines = manifest_path.read_bytes().splitlines()
    assert all(json.loads(line) for line in lines)
    assert json.loads(lines[-1]) == {"event": "muted", "track_id": "x", "t_s": 1.0}


def test_corrupt_line_before_the_end_is_an_error(tmp_path: Path) -> None:
    folder = tmp_path / "recordings" / "bad"
    folder.mkdir(parents=True)
    (folder / MANIFEST_FILENAME).write_text(
        '{"event":"meeting_started","meeting_id":"bad","utc":"2026-11-20T07:30:00+00:00"}\n'
        "not json\n"
        '{"event":"meeting_ended","t_s":3.0,"utc":"2026-11-20T07:30:03+00:00"}\n',
        encoding="utf-8",
    )
    with pytest.raises(ManifestError):
        read_manifest(folder)
    with pytest.raises(ManifestError):
        read_manifest(tmp_path / "missing")


def test_unknown_events_are_skipped(tmp_path: Path) -> None:
    path = tmp_path / MANIFEST_FILENAME
    path.write_text(
        '{"event":"meeting_started","meeting_id":"m","utc":"2026-11-20T07:30:00+00:00"}\n'
        '{"event":"from_a_newer_version","x":1}\n',
        encoding="utf-8",
    )
    assert [e.kind for e in read_events(path)] == ["meeting_started"]
