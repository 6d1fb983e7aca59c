"""Transcription jobs on the database: failure reasons, retries without duplicates, other jobs going on.

The engine here is a small fake that returns one segment per track (the real model runs in
tests/server/test_transcription_pipeline.py and tests/transcription/): these tests are about the job's states.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from recordings.storage import MeetingRecorder, ParticipantInfo, RecordingsLayout
from server.config import Settings
from server.models import Meeting, Transcript
from server.services import recordings as recording_rows
from server.services import transcription_jobs
from server.services.transcription_jobs import TranscriptionRunner
from tests.conftest import Account
from tests.recordings.rec_speech import clip_paths, encode_opus, load_speech
from transcription.segment import Segment


class FakeEngine:
    """Answers each track with one segment covering it; can be told to fail its first N calls."""

    name = "fake"

    def __init__(self, failures: int = 0) -> None:
        self.failures = failures
        self.calls = 0

    def transcribe(
        self, audio: object, *, hotwords: Sequence[str] = (), progress: object = None
    ) -> list[Segment]:
        self.calls += 1
        if self.calls <= self.failures:
            raise RuntimeError("engine crashed")
        return [Segment(0.5, 2.5, "xin chào các điểm cầu")]


def record_meeting(settings: Settings, meeting_id: int, *, corrupt: bool = False) -> Path:
    layout = RecordingsLayout(settings.data_dir)
    recorder = MeetingRecorder.start(layout, str(meeting_id))
    track = recorder.open_track(ParticipantInfo("u5", "chumo", "Xã Chư Mố", "CHUMO", "UBND xã Chư Mố"), 1.0)
    for i, payload in enumerate(encode_opus(load_speech(clip_paths(1)))):
        track.write(payload, 1000 + i * 960)
    track.close(5.0)
    recorder.end(6.0)
    folder = layout.meeting_dir(str(meeting_id))
    if corrupt:
        for f in (folder / "tracks").iterdir():
            f.write_bytes(b"this is not audio at all" * 10)
    return folder


@pytest.fixture
def meeting_ids(client: TestClient, seeded: dict[str, Account], settings: Settings) -> list[int]:
    db = client.app.state.db  # type: ignore[attr-defined]
    ids = []
    with db.session() as session:
        from server.models import Unit

        iapa = session.scalar(select(Unit).where(Unit.code == "IAPA"))
        assert iapa is not None
        for title in ("Họp A", "Họp B"):
            m = Meeting(title=title, chair_unit_id=iapa.id, starts_at=dt.datetime.now(dt.UTC), record=True)
            session.add(m)
            session.flush()
            ids.append(m.id)
    return ids


def runner_for(
    client: TestClient, settings: Settings, engine: FakeEngine, queued: list[int]
) -> TranscriptionRunner:
    db = client.app.state.db  # type: ignore[attr-defined]
    return TranscriptionRunner(settings, db, queued.append, "test-worker", engine_factory=lambda: engine)


def prepare(client: TestClient, settings: Settings, meeting_id: int, corrupt: bool = False) -> None:
    db = client.app.state.db  # type: ignore[attr-defined]
    folder = record_meeting(settings, meeting_id, corrupt=corrupt)
    with db.session() as session:
        recording_rows.begin(session, meeting_id, folder)
        transcription_jobs.queue(session, meeting_id)


def status(client: TestClient, meeting_id: int) -> Transcript:
    with client.app.state.db.session() as session:  # type: ignore[attr-defined]
        row = session.scalar(select(Transcript).where(Transcript.meeting_id == meeting_id))
        assert row is not None
        session.expunge(row)
        return row


def test_corrupt_audio_fails_with_a_reason_and_other_jobs_go_on(
    client: TestClient, settings: Settings, meeting_ids: list[int]
) -> None:
    bad, good = meeting_ids
    prepare(client, settings, bad, corrupt=True)
    prepare(client, settings, good)
    runner = runner_for(client, settings, FakeEngine(), [])
    runner.run(bad)
    runner.run(good)
    failed = status(client, bad)
    assert failed.status.value == "failed" and failed.attempts == 1
    assert "AudioDecodeError" in failed.error and ".ogg" in failed.error
    done = status(client, good)
    assert done.status.value == "done" and done.progress == 1.0
    body = client.get(f"/api/meetings/{bad}/transcript", headers=_chair(client)).json()
    assert body["status"] == "failed" and "AudioDecodeError" in body["error"]


def test_a_transient_failure_is_retried_without_duplicate_segments(
    client: TestClient, settings: Settings, meeting_ids: list[int]
) -> None:
    meeting = meeting_ids[0]
    prepare(client, settings, meeting)
    queued: list[int] = []
    engine = FakeEngine(failures=1)
    runner = runner_for(client, settings, engine, queued)
    runner.run(meeting)
    assert status(client, meeting).status.value == "queued" and queued == [meeting]
    runner.run(meeting)
    row = status(client, meeting)
    assert row.status.value == "done" and row.attempts == 2
    runner.run(meeting)  # a duplicate wake-up of a finished job does nothing
    body = client.get(f"/api/meetings/{meeting}/transcript", headers=_chair(client)).json()
    assert [(s["unit"], s["text"]) for s in body["segments"]] == [("CHUMO", "xin chào các điểm cầu")]
    assert body["segments"][0]["start"] == pytest.approx(1.5)  # 0.5 s into a track that started at 1.0 s


def test_jobs_fail_after_the_allowed_attempts(
    client: TestClient, settings: Settings, meeting_ids: list[int]
) -> None:
    meeting = meeting_ids[0]
    prepare(client, settings, meeting)
    queued: list[int] = []
    runner = runner_for(client, settings, FakeEngine(failures=99), queued)
    for _ in range(settings.job_max_attempts):
        runner.run(meeting)
    row = status(client, meeting)
    assert row.status.value == "failed" and row.attempts == settings.job_max_attempts
    assert "engine crashed" in row.error
    assert len(queued) == settings.job_max_attempts - 1


def test_a_stale_lease_is_requeued(client: TestClient, settings: Settings, meeting_ids: list[int]) -> None:
    meeting = meeting_ids[0]
    prepare(client, settings, meeting)
    with client.app.state.db.session() as session:  # type: ignore[attr-defined]
        row = session.scalar(select(Transcript).where(Transcript.meeting_id == meeting))
        assert row is not None
        row.status = row.status.RUNNING
        row.worker = "dead-worker"
        row.heartbeat_at = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=settings.job_lease_s + 5)
    queued: list[int] = []
    runner = runner_for(client, settings, FakeEngine(), queued)
    assert runner.requeue_stale() == [meeting] and queued == [meeting]
    runner.run(meeting)
    assert status(client, meeting).status.value == "done"


def _chair(client: TestClient) -> dict[str, str]:
    from tests.conftest import login_headers

    return login_headers(client, "chair")
