"""Background work of one process: the job queue, the transcription runner and (optionally) a worker thread.

``giaoban serve`` starts one in-process worker (embedded default); ``giaoban worker`` runs the same loop
in its own process against the configured database and queue (Redis), as many as the machines allow.
"""

from __future__ import annotations

import logging
import os
import time
from typing import Any

from server.config import Settings
from server.db import Database
from server.jobs import JobQueue, Worker, worker_name
from server.services import recordings, transcription_jobs, transcripts, video_jobs, videos
from server.services.transcription_jobs import TranscriptionRunner
from server.services.video_jobs import CompositionRunner

log = logging.getLogger(__name__)

PURGE_INTERVAL_S = 3600.0


class Background:
    def __init__(self, settings: Settings, db: Database, engine_factory: Any = None) -> None:
        self.settings = settings
        self.db = db
        self.queue = JobQueue(settings, self._handle)
        self.runner = TranscriptionRunner(
            settings,
            db,
            self._enqueue_transcription,
            worker_name(),
            engine_factory=engine_factory,
            stopping=self._stopping,
            on_done=self.queue_subtitles,
        )
        self.composer = CompositionRunner(
            settings, db, self._enqueue_composition, worker_name(), stopping=self._stopping
        )
        self.worker: Worker | None = None
        self._last_purge = float("-inf")

    def _stopping(self) -> bool:
        return self.worker is not None and self.worker.stop_event.is_set()

    def _handle(self, kind: str, payload: dict[str, Any]) -> None:
        if kind == transcription_jobs.JOB_KIND:
            self.runner.run(int(payload["meeting_id"]))
        elif kind == video_jobs.JOB_KIND:
            self.composer.run(int(payload["meeting_id"]))
        else:
            log.error("unknown job kind %s", kind)

    def _enqueue_transcription(self, meeting_id: int) -> None:
        self.queue.enqueue(transcription_jobs.JOB_KIND, meeting_id=meeting_id)

    def queue_transcription(self, meeting_id: int) -> None:
        """Mark the meeting's transcript queued and wake a worker; with ``GIAOBAN_TRANSCRIPT_SOURCE=live``, a
        meeting whose live captions wrote its transcript keeps it (no offline pass)."""
        with self.db.session() as session:
            live = self.settings.transcript_source == "live"
            if live and transcripts.has_live_segments(session, meeting_id):
                log.info("meeting %s: the live transcript is kept (no offline pass)", meeting_id)
                return
            transcription_jobs.queue(session, meeting_id)
        self._enqueue_transcription(meeting_id)
        log.info("meeting %s: transcription queued", meeting_id)

    def _enqueue_composition(self, meeting_id: int) -> None:
        self.queue.enqueue(video_jobs.JOB_KIND, meeting_id=meeting_id)

    def queue_composition(self, meeting_id: int) -> None:
        """A finished recording with video: compose it (after the transcription queued before it)."""
        with self.db.session() as session:
            wanted = videos.has_video(session, meeting_id)
            wanted = wanted and videos.queue(session, meeting_id, videos.MODE_FULL)
        if wanted:
            self._enqueue_composition(meeting_id)
            log.info("meeting %s: video composition queued", meeting_id)

    def queue_subtitles(self, meeting_id: int) -> None:
        """The transcript changed (done, or a line corrected): the composed video's subtitles again."""
        with self.db.session() as session:
            wanted = videos.queue(session, meeting_id, videos.MODE_FINISH)
        if wanted:
            self._enqueue_composition(meeting_id)
            log.info("meeting %s: video subtitles queued", meeting_id)

    def _release(self) -> None:
        self.runner.release_held()
        self.composer.release_held()

    def sweep(self) -> None:
        """Periodic upkeep: re-queue jobs of dead workers; once an hour, purge recordings past retention."""
        self.runner.requeue_stale()
        self.composer.requeue_stale()
        now = time.monotonic()
        if self.settings.recording_retention_days > 0 and now - self._last_purge >= PURGE_INTERVAL_S:
            self._last_purge = now
            with self.db.session() as session:
                purged = recordings.purge_expired(session, self.settings)
            if purged:
                log.info(
                    "recordings purged after %d days: meetings %s",
                    self.settings.recording_retention_days,
                    purged,
                )

    def start_worker(self) -> None:
        self.worker = Worker(self.queue, self.sweep, release=self._release)
        self.worker.start_thread()

    def run_worker_forever(self) -> None:
        """``giaoban worker``: run jobs until SIGINT or SIGTERM; the running job goes back to the queue.

        When the job does not stop within the grace (busy in the speech model), it has been given back already
        and the process leaves at once, without waiting for the native code to return.
        """
        self.worker = Worker(self.queue, self.sweep, release=self._release)
        if not self.worker.run_until_signalled():
            log.warning("worker: leaving while the abandoned job's thread is still busy")
            logging.shutdown()
            os._exit(0)

    def stop(self) -> None:
        if self.worker is not None:
            self.worker.stop()
