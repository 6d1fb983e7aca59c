"""The composed video of a meeting, read side: the MP4 and its state for the API, the queueing of its job.

The job itself (``server.services.video_jobs``) runs in a worker; here are what the routes and the hooks
call: ``queue`` when a recording with video finishes (a full composition) or when the transcript changes
(subtitles and chapters again), ``video_file`` (404 before it exists, 409 while it is being made) and
``status`` (progress, like the transcript's, and the picture gaps the player shows).
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from server.errors import Conflict, NotFound
from server.models import JobStatus, RecordingStatus, RecordingTrack, VideoComposition, utcnow
from server.services import meetings, recordings
from server.services.context import Actor
from server.services.recordings import RecordingFile

MODE_FULL = "full"
MODE_FINISH = "finish"


class PictureGapView(BaseModel):
    start: float = Field(description="seconds on the meeting clock")
    end: float
    track_key: str
    reason: Literal["truncated", "video_loss", "interrupted", "video_stopped"] = Field(
        description="truncated: the file ends before the track did (cut or corrupt); video_loss: frames lost "
        "in transit until the next key frame; interrupted: the server stopped until the meeting resumed "
        "(track_key empty); video_stopped: video recording stopped (disk full), audio went on"
    )


class VideoStatusView(BaseModel):
    meeting_id: int
    status: Literal["none", "queued", "running", "done", "failed"]
    progress: float
    error: str
    available: bool = Field(description="GET /api/meetings/{id}/video serves a file now")
    version: str = Field(description="changes when the file is made again (a player reloads it then)")
    length_s: float
    size_bytes: int
    picture_gaps: list[PictureGapView]


def has_video(session: Session, meeting_id: int) -> bool:
    """The meeting's recording kept at least one camera or screen track."""
    rec = recordings.get(session, meeting_id)
    if rec is None:
        return False
    kinds = session.scalars(select(RecordingTrack.kind).where(RecordingTrack.recording_id == rec.id))
    return any(kind != "audio" for kind in kinds)


def get(session: Session, meeting_id: int) -> VideoComposition | None:
    return session.scalar(select(VideoComposition).where(VideoComposition.meeting_id == meeting_id))


def queue(session: Session, meeting_id: int, mode: str) -> bool:
    """Mark the composition queued (``mode`` full or finish); True when a job must be enqueued (False when
    one is queued already: it will read the newest transcript when it runs)."""
    row = get(session, meeting_id)
    if row is None:
        if mode != MODE_FULL:
            return False  # nothing composed yet: the full composition takes the transcript as it is then
        session.add(VideoComposition(meeting_id=meeting_id, status=JobStatus.QUEUED, mode=mode))
        session.flush()
        return True
    if row.status is JobStatus.QUEUED:
        row.mode = MODE_FULL if MODE_FULL in (row.mode, mode) else MODE_FINISH
        return False
    if row.status is JobStatus.RUNNING:
        return False  # the running job compares the subtitles it embedded with the newest when it ends
    if mode == MODE_FINISH and not row.file:
        mode = MODE_FULL  # the full composition failed before: subtitles alone cannot be added
    row.status, row.mode, row.progress, row.error, row.attempts = JobStatus.QUEUED, mode, 0.0, "", 0
    row.worker, row.heartbeat_at, row.queued_at = "", None, utcnow()
    return True


def _directory(session: Session, meeting_id: int) -> Path | None:
    rec = recordings.get(session, meeting_id)
    if rec is None or rec.status is RecordingStatus.PURGED:
        return None
    return Path(rec.directory)


PURGED_MESSAGE = "Bản ghi của cuộc họp đã được xóa theo thời hạn lưu trữ."


def video_file(session: Session, actor: Actor, meeting_id: int) -> RecordingFile:
    meeting = meetings.get_visible(session, actor, meeting_id)
    row = get(session, meeting_id)
    folder = _directory(session, meeting_id)
    if folder is not None and row is not None and row.file and (folder / row.file).is_file():
        return RecordingFile(folder / row.file, "video/mp4", f"cuoc-hop-{meeting_id}.mp4")
    rec = recordings.get(session, meeting_id)
    making = row is not None and row.status in (JobStatus.QUEUED, JobStatus.RUNNING)
    finishing = (
        row is None
        and meeting.record_video != "none"
        and rec is not None
        and rec.status is RecordingStatus.RECORDING
    )
    if making or finishing:
        raise Conflict(
            "Video đang được dựng, vui lòng thử lại sau.",
            code="video_processing",
            details={"meeting": meeting_id, "progress": row.progress if row is not None else 0.0},
        )
    if row is not None and row.status is JobStatus.FAILED:
        raise NotFound(f"Không dựng được video của cuộc họp: {row.error}", details={"meeting": meeting_id})
    if rec is not None and rec.purged_at is not None:
        raise NotFound(PURGED_MESSAGE, details={"meeting": meeting_id})
    if meeting.record_video == "none":
        raise NotFound("Cuộc họp không ghi hình nên không có video.", details={"meeting": meeting_id})
    raise NotFound("Cuộc họp chưa có video.", details={"meeting": meeting_id})


def status(session: Session, actor: Actor, meeting_id: int) -> VideoStatusView:
    meetings.get_visible(session, actor, meeting_id)
    row = get(session, meeting_id)
    folder = _directory(session, meeting_id)
    if row is None:
        return VideoStatusView(
            meeting_id=meeting_id,
            status="none",
            progress=0.0,
            error="",
            available=False,
            version="",
            length_s=0.0,
            size_bytes=0,
            picture_gaps=[],
        )
    available = bool(folder is not None and row.file and (folder / row.file).is_file())
    gaps = [
        PictureGapView(start=float(g[0]), end=float(g[1]), track_key=str(g[2]), reason=g[3])
        for g in row.picture_gaps or []
    ]
    return VideoStatusView(
        meeting_id=meeting_id,
        status=row.status.value,
        progress=row.progress,
        error=row.error,
        available=available,
        version=row.sha256[:16],
        length_s=row.length_s,
        size_bytes=row.bytes,
        picture_gaps=gaps,
    )


def integrity_expected(session: Session, meeting_id: int) -> dict[str, str]:
    """The composed files' SHA-256 for the integrity check (relative to the recording's directory)."""
    row = get(session, meeting_id)
    if row is None:
        return {}
    expected = {}
    if row.file and row.sha256:
        expected[row.file] = row.sha256
    if row.subtitles_file and row.subtitles_sha256:
        expected[row.subtitles_file] = row.subtitles_sha256
    return expected
