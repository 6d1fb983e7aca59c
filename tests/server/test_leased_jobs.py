"""The lease both background jobs share (server/services/leased_jobs.py), on the real database (SQLite, and
PostgreSQL in its run): a stale lease is taken over and a live one is not, a stopping worker gives its jobs
back uncounted, a job out of attempts fails, a composition that fails is retried until then.

The runners are the real ones (``TranscriptionRunner``, ``CompositionRunner``) on a migrated database
without an app, so no in-process worker sweeps the rows meanwhile. Nothing here runs a speech engine or the
composer: the jobs either are not claimed or fail before they would start one.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from sqlalchemy import select

from server.config import Settings
from server.db import Database, migrate
from server.models import JobStatus, Meeting, Transcript, Unit, VideoComposition, utcnow
from server.services import units
from server.services.leased_jobs import TOO_MANY_ATTEMPTS
from server.services.transcription_jobs import TranscriptionRunner
from server.services.video_jobs import CompositionRunner

Model = type[Transcript] | type[VideoComposition]
KINDS: dict[str, Model] = {"transcript": Transcript, "video": VideoComposition}


def _no_engine() -> Any:
    raise AssertionError("no job here may reach the speech engine")


def make_runner(
    kind: str, settings: Settings, db: Database, worker: str, queued: list[int], stopping: bool = False
) -> TranscriptionRunner | CompositionRunner:
    if kind == "video":
        return CompositionRunner(settings, db, queued.append, worker, stopping=lambda: stopping)
    return TranscriptionRunner(
        settings, db, queued.append, worker, engine_factory=_no_engine, stopping=lambda: stopping
    )


@pytest.fixture
def db(settings: Settings) -> Database:
    migrate(settings)
    database = Database(settings)
    with database.session() as session:
        units.seed_ia_pa(session)
    return database


def add_jobs(db: Database, model: Model, *states: dict[str, Any]) -> list[int]:
    """One meeting a state, with its job row (queued unless the state says otherwise)."""
    ids = []
    with db.session() as session:
        iapa = session.scalar(select(Unit).where(Unit.code == "IAPA"))
        assert iapa is not None
        for index, state in enumerate(states):
            meeting = Meeting(title=f"Họp {index}", chair_unit_id=iapa.id, starts_at=utcnow(), record=True)
            session.add(meeting)
            session.flush()
            session.add(model(meeting_id=meeting.id, **{"status": JobStatus.QUEUED, **state}))
            ids.append(meeting.id)
    return ids


def row_of(db: Database, model: Model, meeting_id: int) -> Any:
    with db.session() as session:
        row = session.scalar(select(model).where(model.meeting_id == meeting_id))
        assert row is not None
        session.expunge(row)
        return row


def ago(seconds: float) -> dt.datetime:
    return utcnow() - dt.timedelta(seconds=seconds)


@pytest.mark.parametrize("kind", KINDS)
def test_a_stale_lease_is_taken_over_and_a_live_one_is_not(
    kind: str, settings: Settings, db: Database
) -> None:
    model = KINDS[kind]
    lease = settings.job_lease_s
    dead, alive, lost, fresh, done = add_jobs(
        db,
        model,
        {"status": JobStatus.RUNNING, "worker": "dead", "heartbeat_at": ago(lease + 5), "attempts": 1},
        {"status": JobStatus.RUNNING, "worker": "alive", "heartbeat_at": ago(1), "attempts": 1},
        {"queued_at": ago(lease + 5)},  # queued, but its queue entry died with the embedded queue
        {"queued_at": ago(1)},
        {"status": JobStatus.DONE, "worker": "dead", "heartbeat_at": ago(lease + 5)},
    )
    queued: list[int] = []
    runner = make_runner(kind, settings, db, "w2", queued)
    assert sorted(runner.requeue_stale()) == [dead, lost] and sorted(queued) == [dead, lost]
    taken = row_of(db, model, dead)
    assert (taken.status, taken.worker, taken.heartbeat_at, taken.attempts) == (JobStatus.QUEUED, "", None, 1)
    assert (utcnow() - row_of(db, model, lost).queued_at).total_seconds() < 60
    assert row_of(db, model, alive).worker == "alive" and row_of(db, model, alive).status is JobStatus.RUNNING
    assert (
        row_of(db, model, fresh).status is JobStatus.QUEUED
        and row_of(db, model, done).status is JobStatus.DONE
    )

    # the live worker's job is not claimed by another: run() leaves it as it is and starts nothing
    queued.clear()
    runner.run(alive)
    held = row_of(db, model, alive)
    assert (held.status, held.worker, held.attempts, queued) == (JobStatus.RUNNING, "alive", 1, [])

    # the dead worker, come back, can no longer write progress on the job it lost, nor fail it
    returned = make_runner(kind, settings, db, "dead", queued)
    returned._renew(dead, 0.5)
    returned._fail(dead, "RuntimeError: too late")
    again = row_of(db, model, dead)
    assert (again.status, again.progress, again.error, again.heartbeat_at) == (
        JobStatus.QUEUED,
        0.0,
        "",
        None,
    )
    assert queued == []


@pytest.mark.parametrize("kind", KINDS)
def test_a_stopping_worker_gives_its_jobs_back_uncounted(kind: str, settings: Settings, db: Database) -> None:
    model = KINDS[kind]
    mine, other, finished, waiting = add_jobs(
        db,
        model,
        {"status": JobStatus.RUNNING, "worker": "w1", "heartbeat_at": ago(1), "attempts": 2, "progress": 0.5},
        {"status": JobStatus.RUNNING, "worker": "w2", "heartbeat_at": ago(1), "attempts": 1},
        {"status": JobStatus.DONE, "worker": "w1", "attempts": 1, "progress": 1.0},
        {},
    )
    queued: list[int] = []
    stopping = make_runner(kind, settings, db, "w1", queued, stopping=True)
    assert stopping.release_held() == [mine] and queued == [mine]
    back = row_of(db, model, mine)
    assert (back.status, back.worker, back.heartbeat_at) == (JobStatus.QUEUED, "", None)
    assert (back.attempts, back.progress) == (1, 0.0)  # the interrupted attempt is not counted
    assert (row_of(db, model, other).status, row_of(db, model, other).worker) == (JobStatus.RUNNING, "w2")
    assert row_of(db, model, finished).status is JobStatus.DONE

    # a stopping worker woken for a job does not take it: the wake-up goes back for the next worker
    queued.clear()
    stopping.run(waiting)
    assert queued == [waiting]
    left = row_of(db, model, waiting)
    assert (left.status, left.worker, left.attempts) == (JobStatus.QUEUED, "", 0)


@pytest.mark.parametrize("kind", KINDS)
def test_a_job_out_of_attempts_fails_when_claimed(kind: str, settings: Settings, db: Database) -> None:
    """A job whose last allowed attempt died with its worker: requeued as stale, then failed, not run."""
    model = KINDS[kind]
    (meeting,) = add_jobs(
        db,
        model,
        {
            "status": JobStatus.RUNNING,
            "worker": "dead",
            "heartbeat_at": ago(settings.job_lease_s + 5),
            "attempts": settings.job_max_attempts,
        },
    )
    queued: list[int] = []
    runner = make_runner(kind, settings, db, "w2", queued)
    assert runner.requeue_stale() == [meeting]
    runner.run(meeting)
    row = row_of(db, model, meeting)
    assert (row.status, row.error, row.attempts) == (
        JobStatus.FAILED,
        TOO_MANY_ATTEMPTS,
        settings.job_max_attempts,
    )
    assert row.finished_at is not None and queued == [meeting]


def test_a_failing_composition_is_retried_until_the_allowed_attempts(
    settings: Settings, db: Database
) -> None:
    """A meeting without its recording: each attempt fails with the reason, is queued again and woken, and
    the last allowed one leaves the composition failed (a transcription fails such a job at once)."""
    (meeting,) = add_jobs(db, VideoComposition, {"mode": "full"})
    queued: list[int] = []
    runner = make_runner("video", settings, db, "w1", queued)
    seen: list[tuple[JobStatus, int, str]] = []
    for _ in range(settings.job_max_attempts):
        runner.run(meeting)
        row = row_of(db, VideoComposition, meeting)
        seen.append((row.status, row.attempts, row.worker))
    retries = [(JobStatus.QUEUED, n, "") for n in range(1, settings.job_max_attempts)]
    assert seen == [*retries, (JobStatus.FAILED, settings.job_max_attempts, "w1")]
    assert queued == [meeting] * (settings.job_max_attempts - 1)
    row = row_of(db, VideoComposition, meeting)
    assert row.error == "ValueError: Cuộc họp không có bản ghi." and row.finished_at is not None
    runner.run(meeting)  # failed: nothing more
    assert row_of(db, VideoComposition, meeting).attempts == settings.job_max_attempts
