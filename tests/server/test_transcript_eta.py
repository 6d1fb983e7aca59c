"""The transcription's progress carries a time estimate while it runs: the time taken so far scaled by the
share left, in steps of 5 s; none before it starts, at the very beginning, or once done."""

from __future__ import annotations

import datetime as dt

from fastapi.testclient import TestClient
from sqlalchemy import select

from server.models import JobStatus, Transcript, utcnow
from tests.conftest import Account, login_headers
from tests.server.test_transcripts_api import MEETING


def test_progress_carries_a_time_estimate(client: TestClient, seeded: dict[str, Account]) -> None:
    chair = login_headers(client, "chair")
    mid = int(client.post("/api/meetings", json=MEETING, headers=chair).json()["id"])
    assert client.get(f"/api/meetings/{mid}/transcript", headers=chair).json()["eta_s"] is None
    db = client.app.state.db  # type: ignore[attr-defined]

    def running(progress: float, elapsed_s: float) -> int | None:
        with db.session() as session:
            row = session.scalar(select(Transcript).where(Transcript.meeting_id == mid))
            if row is None:
                row = Transcript(meeting_id=mid, status=JobStatus.RUNNING)
                session.add(row)
            row.status, row.progress = JobStatus.RUNNING, progress
            row.started_at = utcnow() - dt.timedelta(seconds=elapsed_s)
            row.worker, row.heartbeat_at = "test-worker", utcnow()  # a live lease: the sweeper leaves it be
        eta: int | None = client.get(f"/api/meetings/{mid}/transcript", headers=chair).json()["eta_s"]
        return eta

    assert running(0.25, 60.0) in (180, 185)  # 60 s for a quarter: three quarters take about 180 s more
    assert running(0.8, 400.0) in (100, 105)
    assert running(0.01, 30.0) is None  # too early to say
    with db.session() as session:
        row = session.scalar(select(Transcript).where(Transcript.meeting_id == mid))
        assert row is not None
        row.status, row.progress = JobStatus.DONE, 1.0
    assert client.get(f"/api/meetings/{mid}/transcript", headers=chair).json()["eta_s"] is None
