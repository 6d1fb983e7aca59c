"""Transcription jobs: queued when a recorded meeting ends, run by a worker, retried when a worker dies.

The durable state is the meeting's ``Transcript`` row: status (queued, running, done, failed), progress,
attempts, the worker holding it and its heartbeat. A worker claims the row, renews the heartbeat as it reports
progress, and stores the segments and ``done`` in one transaction, replacing those of an earlier attempt,
so a job retried after a crash never duplicates segments. A running row whose heartbeat is older than
``GIAOBAN_JOB_LEASE_S`` belongs to a dead worker and is queued again; after ``job_max_attempts`` it is failed.
Audio that cannot be decoded (empty, truncated, not audio) fails the job at once with a readable reason.
A worker that is stopping (SIGINT, SIGTERM, server shutdown) gives its job back: queued again at once, the
interrupted attempt not counted (:meth:`TranscriptionRunner.release_held`).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from recordings.manifest import MeetingManifest, read_manifest
from server.config import Settings
from server.db import Database
from server.models import JobStatus, Meeting, Recording, Transcript, utcnow
from server.services.leased_jobs import Enqueue, LeasedJobRunner
from transcription.errors import AudioDecodeError, TranscriptionError
from transcription.pipeline import TrackInput, TranscribedSegment, lost_spans, transcribe_tracks

log = logging.getLogger(__name__)

PROGRESS_WRITE_INTERVAL_S = 1.0
JOB_KIND = "transcribe"


class JobInterrupted(Exception):
    """Raised inside a job when its worker is stopping; the runner gives the job back to the queue."""


def queue(session: Session, meeting_id: int) -> Transcript:
    """Create (or reset) the meeting's transcript row as queued; the caller enqueues the job."""
    row = session.scalar(select(Transcript).where(Transcript.meeting_id == meeting_id))
    if row is None:
        row = Transcript(meeting_id=meeting_id, status=JobStatus.QUEUED)
        session.add(row)
    else:
        row.status, row.progress, row.error, row.attempts = JobStatus.QUEUED, 0.0, "", 0
        row.worker, row.heartbeat_at = "", None
    row.queued_at = utcnow()
    session.flush()
    return row


def tracks_from_manifest(meeting_dir: Path, manifest: MeetingManifest) -> list[TrackInput]:
    """Every track with its meeting-clock offset, its muted spans (relative to the track) to skip, and its
    unrecovered packet losses (the manifest's ``loss`` events): words said over them come out uncertain."""
    out = []
    for t in manifest.audio_tracks:
        skip = tuple(
            (max(0.0, iv.start_s - t.start_s), max(0.0, iv.end_s - t.start_s))
            for iv in t.muted
            if iv.end_s > iv.start_s
        )
        speaker = t.display_name or t.username
        out.append(
            TrackInput(
                path=meeting_dir / t.path,
                offset_s=t.start_s,
                unit_code=t.unit_code,
                unit_name=t.unit_name,
                speaker=speaker,
                skip=skip,
                lost=lost_spans(t),
            )
        )
    return out


def hotwords_for(session: Session, meeting: Meeting, manifest: MeetingManifest) -> list[str]:
    """Names worth spelling right: the chairing and invited units, short ("xã Chư Mố", not "UBND xã ...").

    Only names: longer phrases (agenda titles, "Điểm cầu ..." labels) were copied into the output.
    """
    names = [meeting.chair_unit.name] + [inv.unit.name for inv in meeting.invitations]
    return short_names(names + [t.unit_name for t in manifest.tracks])


def meeting_hotwords(session: Session, meeting_id: int) -> list[str]:
    """The live captions' hotwords: the chairing and invited units' names, as :func:`hotwords_for` (no
    agenda titles: the offline pass found them copied into the output)."""
    meeting = session.get(Meeting, meeting_id)
    if meeting is None:
        return []
    return short_names([meeting.chair_unit.name] + [inv.unit.name for inv in meeting.invitations])


def short_names(names: list[str]) -> list[str]:
    seen: list[str] = []
    for name in names:
        short = name.replace("UBND ", "").replace("Ủy ban nhân dân ", "").strip()
        if short and short not in seen:
            seen.append(short)
    return seen


class TranscriptionRunner(LeasedJobRunner[Transcript]):
    """Runs transcription jobs in a worker process; loads the speech engine once, on first use."""

    def __init__(
        self,
        settings: Settings,
        db: Database,
        enqueue: Enqueue,
        worker: str,
        engine_factory: Callable[[], Any] | None = None,
        stopping: Callable[[], bool] = lambda: False,
        on_done: Callable[[int], None] | None = None,
    ) -> None:
        super().__init__(Transcript, "transcription", settings, db, enqueue, worker, stopping)
        self.on_done = on_done  # after a transcript is stored (the composed video's subtitles follow it)
        self._engine: Any = None
        self._engine_factory = engine_factory or self._default_engine
        self._lock = threading.Lock()

    def _default_engine(self) -> Any:
        from transcription.engines import create_engine
        from transcription.models import discover_model

        model = discover_model(self.settings.asr_model, cache_dir=self.settings.resolved_model_cache_dir)
        return create_engine(
            self.settings.asr_engine,  # type: ignore[arg-type]
            model,
            threads=self.settings.asr_threads,
            batch_size=self.settings.asr_batch_size,
            checkpoint_dir=self.settings.resolved_model_cache_dir.parent,  # openai-whisper's exported weights
        )

    def engine(self) -> Any:
        with self._lock:
            if self._engine is None:
                self._engine = self._engine_factory()
            return self._engine

    # ---- the job ----------------------------------------------------------------------------------------
    def _check_stopping(self) -> None:
        if self.stopping():
            raise JobInterrupted

    def run(self, meeting_id: int) -> None:
        if self._start(meeting_id) is None:
            return
        log.info("meeting %s: transcription started by %s", meeting_id, self.worker)
        try:
            with self.db.session() as session:
                meeting = session.get(Meeting, meeting_id)
                rec = session.scalar(select(Recording).where(Recording.meeting_id == meeting_id))
                if meeting is None or rec is None:
                    raise TranscriptionError("Cuộc họp không có bản ghi âm.")
                meeting_dir = Path(rec.directory)
                manifest = read_manifest(meeting_dir)
                tracks = tracks_from_manifest(meeting_dir, manifest)
                hotwords = hotwords_for(session, meeting, manifest)
            engine = self.engine()
            self._check_stopping()
            segments = transcribe_tracks(
                tracks, engine, hotwords=hotwords, progress=self._progress(meeting_id)
            )
            self._check_stopping()
            self._complete(meeting_id, segments, getattr(engine, "name", ""))
        except JobInterrupted:
            self.release_held()
        except (AudioDecodeError, TranscriptionError, OSError, ValueError) as exc:
            self._fail(meeting_id, f"{type(exc).__name__}: {exc}", permanent=True)
        except Exception as exc:  # noqa: BLE001 - anything else may be transient: retry
            log.exception("meeting %s: transcription attempt failed", meeting_id)
            self._fail(meeting_id, f"{type(exc).__name__}: {exc}")

    def _progress(self, meeting_id: int) -> Callable[[float], None]:
        last = [0.0]

        def report(value: float) -> None:
            self._check_stopping()
            now = time.monotonic()
            if now - last[0] < PROGRESS_WRITE_INTERVAL_S and value < 1.0:
                return
            last[0] = now
            self._renew(meeting_id, value)

        return report

    def _complete(self, meeting_id: int, segments: list[TranscribedSegment], engine_name: str) -> None:
        from server.services import transcripts

        with self.db.session() as session:
            row = self._held(session, meeting_id)
            if row is None:
                log.warning("meeting %s: lost the transcription lease; result dropped", meeting_id)
                return
            transcripts.store_segments(session, meeting_id, segments, keep_edited=True)
            self._done(row)
            row.engine = engine_name
            row.model = str(self.settings.asr_model or "whisper-base (packaged)")
        log.info("meeting %s: transcription done, %d segments", meeting_id, len(segments))
        if self.on_done is not None:
            self.on_done(meeting_id)
