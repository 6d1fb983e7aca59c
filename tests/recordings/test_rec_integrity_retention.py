"""Integrity (SHA-256 of finished files) and retention (purging a meeting without touching anything else)."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest
from rec_speech import PACKET_SAMPLES, Speech

from recordings.errors import RecordingsError
from recordings.integrity import manifest_digests, sha256_file, verify
from recordings.manifest import read_manifest
from recordings.retention import PURGING_PREFIX, purge, purge_leftovers, purge_meeting
from recordings.storage import MeetingRecorder, ParticipantInfo, RecordingsLayout

CHUMO = ParticipantInfo("p-chumo", "chumo", "Điểm cầu Chư Mố", "CHUMO", "UBND xã Chư Mố")


def recorded(layout: RecordingsLayout, meeting_id: str, speech: Speech) -> Path:
    recorder = MeetingRecorder.start(layout, meeting_id)
    for n in range(2):
        handle = recorder.open_track(CHUMO, n * 3.0)
        for index, payload in enumerate(speech.packets[:100]):
            handle.write(payload, index * PACKET_SAMPLES)
        handle.close(n * 3.0 + 2.0)
    recorder.end(6.0)
    return layout.meeting_dir(meeting_id)


def test_sha256_and_verify(tmp_path: Path, speech: Speech) -> None:
    folder = recorded(RecordingsLayout(tmp_path), "m", speech)
    expected = manifest_digests(read_manifest(folder))
    assert len(expected) == 2
    for relative, digest in expected.items():
        assert digest == hashlib.sha256((folder / relative).read_bytes()).hexdigest()
    assert verify(folder, expected) == []

    first, second = sorted(expected)
    data = bytearray((folder / first).read_bytes())
    data[len(data) // 2] ^= 0x40
    (folder / first).write_bytes(bytes(data))
    (folder / second).unlink()
    mismatches = verify(folder, {**expected, "../outside.ogg": "00" * 32})
    by_path = {m.path: m for m in mismatches}
    assert set(by_path) == {first, second, "../outside.ogg"}
    assert by_path[first].actual == sha256_file(folder / first) != expected[first]
    assert by_path[second].missing and by_path["../outside.ogg"].missing


def test_purge_deletes_the_meeting_only(tmp_path: Path, speech: Speech) -> None:
    layout = RecordingsLayout(tmp_path / "data")
    keep = recorded(layout, "keep", speech)
    gone = recorded(layout, "gone", speech)
    outside = tmp_path / "precious.txt"
    outside.write_text("không được xoá", encoding="utf-8")
    os.symlink(outside, gone / "tracks" / "link.ogg")
    os.symlink(keep, gone / "linked-dir")
    size = sum(p.stat().st_size for p in gone.rglob("*") if p.is_file() and not p.is_symlink())

    report = purge_meeting(layout, "gone")
    assert report.meeting_id == "gone" and report.files_deleted == 5 and report.bytes_freed == size
    assert not gone.exists() and layout.meeting_ids() == ["keep"]
    assert outside.read_text(encoding="utf-8") == "không được xoá"  # links are removed, never followed
    assert verify(keep, manifest_digests(read_manifest(keep))) == []

    with pytest.raises(RecordingsError):
        purge(tmp_path)  # not a meeting folder
    with pytest.raises(RecordingsError):
        purge(keep / "tracks")
    assert keep.is_dir()


def test_interrupted_purge_is_finished_later(tmp_path: Path, speech: Speech) -> None:
    layout = RecordingsLayout(tmp_path)
    folder = recorded(layout, "half", speech)
    os.rename(folder, folder.with_name(f"{PURGING_PREFIX}half-0"))  # what purge() does first
    assert layout.meeting_ids() == []
    assert purge_leftovers(layout) == 1
    assert list(layout.root.iterdir()) == []
