"""A meeting's background job held by one worker under a lease: the part transcription and composition share.

The durable state of such a job is one row per meeting (``Transcript``, ``VideoComposition``): status
(queued, running, done, failed), progress, attempts, the worker holding it and its heartbeat. A worker claims
the row (running, held by it, the attempt counted), renews the heartbeat as it reports progress, and ends it
done or failed; a failure is retried (queued again) until ``job_max_attempts``. A running row whose
heartbeat is older than ``GIAOBAN_JOB_LEASE_S`` belongs to a dead worker and is queued again
(``requeue_stale``), as is a queued row whose queue entry was lost; a stopping worker gives its jobs back,
the attempt not counted (``release_held``). What the job does, and what it stores when done, is the
runner's (a subclass: ``TranscriptionRunner``, ``CompositionRunner``).
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from typing import Generic, TypeVar

from sqlalchemy import select
from sqlalchemy.orm import Session

from server.config import Settings
from server.db import Database
from server.models import JobStatus, Transcript, VideoComposition, utcnow

log = logging.getLogger(__name__)

TOO_MANY_ATTEMPTS = "Đã thử quá số lần cho phép."

Enqueue = Callable[[int], None]
Row = TypeVar("Row", Transcript, VideoComposition)


class LeasedJobRunner(Generic[Row]):
    """Claims, renews, fails, gives back and recovers the per-meeting job rows of one ``model``.

    ``what`` names the job in the log ("transcription", "video composition"); ``enqueue`` wakes a worker for
    a meeting's job; ``worker`` names this worker in the rows it holds.
    """

    def __init__(
        self,
        model: type[Row],
        what: str,
        settings: Settings,
        db: Database,
        enqueue: Enqueue,
        worker: str,
        stopping: Callable[[], bool],
    ) -> None:
        self.model: type[Row] = model
        self.what = what
        self.settings = settings
        self.db = db
        self.enqueue = enqueue
        self.worker = worker
        self.stopping = stopping

    def _start(self, meeting_id: int) -> Row | None:
        """The claimed row of a job to run now (:meth:`_claim`); None, the wake-up sent back for the next
        worker, when this one is stopping."""
        if self.stopping():
            self.enqueue(meeting_id)  # not ours to start
            return None
        return self._claim(meeting_id)

    def _claim(self, meeting_id: int) -> Row | None:
        """Take the meeting's job if it is queued, or running under a stale (or this worker's) lease: the row,
        now running and held here, the attempt counted; None when there is nothing to run (done, failed, held
        by a live worker, or just failed for too many attempts)."""
        with self.db.session() as session:
            row = session.scalar(
                select(self.model).where(self.model.meeting_id == meeting_id).with_for_update()
            )
            if row is None or row.status in (JobStatus.DONE, JobStatus.FAILED):
                return None
            if row.status is JobStatus.RUNNING and row.worker != self.worker and not self._stale(row):
                return None  # a live worker holds it
            if row.attempts >= self.settings.job_max_attempts:
                row.status, row.finished_at = JobStatus.FAILED, utcnow()
                row.error = row.error or TOO_MANY_ATTEMPTS
                return None
            row.status, row.worker, row.heartbeat_at = JobStatus.RUNNING, self.worker, utcnow()
            row.attempts += 1
            row.started_at, row.progress = utcnow(), 0.0
            return row

    def _held(self, session: Session, meeting_id: int) -> Row | None:
        """The meeting's row while this worker still holds it; None once given back or taken over."""
        row = session.scalar(select(self.model).where(self.model.meeting_id == meeting_id))
        return row if row is not None and row.worker == self.worker else None

    def _renew(self, meeting_id: int, progress: float) -> None:
        """Write the progress (below 1 until done) and renew the lease."""
        with self.db.session() as session:
            row = self._held(session, meeting_id)
            if row is not None:
                row.progress = round(min(0.99, max(0.0, progress)), 4)
                row.heartbeat_at = utcnow()

    @staticmethod
    def _done(row: Row) -> None:
        """Mark a held row done (the caller stores the job's result in the same transaction)."""
        row.status, row.progress, row.error, row.finished_at = JobStatus.DONE, 1.0, "", utcnow()

    def _fail(self, meeting_id: int, reason: str, *, permanent: bool = False) -> None:
        """Fail the attempt: queued again while attempts remain (unless ``permanent``), else failed."""
        retry = False
        with self.db.session() as session:
            row = self._held(session, meeting_id)
            if row is None:
                return  # given back meanwhile (the worker stopped): not ours to fail
            row.error = reason[:2000]
            if permanent or row.attempts >= self.settings.job_max_attempts:
                row.status, row.finished_at = JobStatus.FAILED, utcnow()
            else:
                row.status, row.worker, row.heartbeat_at = JobStatus.QUEUED, "", None
                retry = True
        log.warning(
            "meeting %s: %s %s: %s", meeting_id, self.what, "will retry" if retry else "failed", reason
        )
        if retry:
            self.enqueue(meeting_id)

    def release_held(self) -> list[int]:
        """Give back the jobs this worker holds (it is stopping): queued again at once, the interrupted
        attempt not counted. A job that finished meanwhile is left as it is."""
        ids: list[int] = []
        with self.db.session() as session:
            for row in session.scalars(
                select(self.model)
                .where(self.model.status == JobStatus.RUNNING, self.model.worker == self.worker)
                .with_for_update()
            ):
                row.status, row.worker, row.heartbeat_at = JobStatus.QUEUED, "", None
                row.attempts, row.progress, row.queued_at = max(0, row.attempts - 1), 0.0, utcnow()
                ids.append(row.meeting_id)
        for meeting_id in ids:
            log.warning(
                "meeting %s: %s given back to the queue (worker %s stopping)",
                meeting_id,
                self.what,
                self.worker,
            )
            self.enqueue(meeting_id)
        return ids

    def requeue_stale(self) -> list[int]:
        """Queue again the jobs whose worker stopped renewing its lease (killed, crashed, machine lost),
        and the queued ones that lost their queue entry (the embedded queue died with its process)."""
        ids: list[int] = []
        with self.db.session() as session:
            for row in session.scalars(
                select(self.model).where(self.model.status.in_([JobStatus.RUNNING, JobStatus.QUEUED]))
            ):
                if row.status is JobStatus.RUNNING and self._stale(row):
                    row.status, row.worker, row.heartbeat_at = JobStatus.QUEUED, "", None
                    row.queued_at = utcnow()
                    ids.append(row.meeting_id)
                elif row.status is JobStatus.QUEUED and _age_s(row.queued_at) > self.settings.job_lease_s:
                    row.queued_at = utcnow()
                    ids.append(row.meeting_id)
        for meeting_id in ids:
            log.warning("meeting %s: %s queued again (stale)", meeting_id, self.what)
            self.enqueue(meeting_id)
        return ids

    def _stale(self, row: Row) -> bool:
        return _age_s(row.heartbeat_at) > self.settings.job_lease_s


def _age_s(at: dt.datetime | None) -> float:
    return float("inf") if at is None else (utcnow() - at).total_seconds()
