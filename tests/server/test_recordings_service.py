"""Recording rows: integrity check against the stored SHA-256, purge after the retention, audit log."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys

from fastapi.testclient import TestClient
from sqlalchemy import select

from server.config import Settings
from server.live import finish_files
from server.models import AuditEvent, Meeting, Recording, Unit
from server.services import recordings as recording_rows
from tests.conftest import Account, login_headers
from tests.server.test_transcription_jobs import record_meeting


def _recorded_meeting(client: TestClient, settings: Settings) -> int:
    db = client.app.state.db  # type: ignore[attr-defined]
    with db.session() as session:
        iapa = session.scalar(select(Unit).where(Unit.code == "IAPA"))
        assert iapa is not None
        m = Meeting(title="Họp cũ", chair_unit_id=iapa.id, starts_at=dt.datetime.now(dt.UTC), record=True)
        session.add(m)
        session.flush()
        meeting_id = m.id
    folder = record_meeting(settings, meeting_id)
    tracks, mix, mix_sha, mix_bytes, error = finish_files(folder)
    with db.session() as session:
        recording_rows.begin(session, meeting_id, folder)
        recording_rows.finish(session, meeting_id, tracks, mix, mix_sha, mix_bytes, error)
    return meeting_id


def test_verify_finds_a_changed_byte(
    client: TestClient, seeded: dict[str, Account], settings: Settings
) -> None:
    meeting_id = _recorded_meeting(client, settings)
    db = client.app.state.db  # type: ignore[attr-defined]
    with db.session() as session:
        problems, checked = recording_rows.verify_all(session)
    assert problems == [] and checked == 2  # one track and the mix
    track = next((settings.data_dir / "recordings" / str(meeting_id) / "tracks").iterdir())
    data = bytearray(track.read_bytes())
    data[len(data) // 2] ^= 0xFF
    track.write_bytes(bytes(data))
    env = {"GIAOBAN_DATA_DIR": str(settings.data_dir), "PATH": "/usr/bin:/bin"}
    if settings.database_url:
        env["GIAOBAN_DATABASE_URL"] = settings.database_url
    out = subprocess.run(
        [sys.executable, "-m", "server.cli", "recordings", "verify"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 1 and "sai mã băm" in out.stdout and track.name in out.stdout


def test_purge_after_retention_deletes_files_and_keeps_the_row(
    client: TestClient, seeded: dict[str, Account], settings: Settings
) -> None:
    meeting_id = _recorded_meeting(client, settings)
    db = client.app.state.db  # type: ignore[attr-defined]
    folder = settings.data_dir / "recordings" / str(meeting_id)
    kept = Settings(
        data_dir=settings.data_dir, database_url=settings.database_url, recording_retention_days=30
    )
    with db.session() as session:
        assert recording_rows.purge_expired(session, kept) == []  # recorded today: kept
        rec = session.scalar(select(Recording).where(Recording.meeting_id == meeting_id))
        assert rec is not None
        rec.started_at = dt.datetime.now(dt.UTC) - dt.timedelta(days=31)
    with db.session() as session:
        assert recording_rows.purge_expired(session, kept) == [meeting_id]
    assert not folder.exists()
    with db.session() as session:
        rec = session.scalar(select(Recording).where(Recording.meeting_id == meeting_id))
        assert rec is not None and rec.status.value == "purged" and rec.purged_at is not None
        event = session.scalar(select(AuditEvent).where(AuditEvent.action == "recording.purge"))
        assert event is not None and event.object_id == str(meeting_id) and event.details["files"] >= 2
    r = client.get(f"/api/meetings/{meeting_id}/recording", headers=login_headers(client, "chair"))
    assert r.status_code == 404
    video = client.get(f"/api/meetings/{meeting_id}/video", headers=login_headers(client, "chair"))
    assert video.status_code == 404 and "thời hạn lưu trữ" in video.json()["error"]["message"], video.text
