"""Recording rows: opened when a recorded meeting starts, finished with each file's SHA-256, purged by age."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from server.config import Settings
from server.errors import Conflict, NotFound
from server.models import MeetingStatus, Recording, RecordingStatus, RecordingTrack, Unit, User, utcnow
from server.models.meetings import Meeting
from server.services import audit, meetings
from server.services.context import Actor


@dataclass(frozen=True)
class FinishedTrack:
    track_key: str
    file: str
    username: str
    unit_code: str
    start_s: float
    end_s: float | None
    sha256: str
    size_bytes: int
    previous_track_key: str
    kind: str = "audio"  # "audio" (Ogg Opus), "camera" or "screen" (VP8 in IVF)


@dataclass(frozen=True)
class RecordingFile:
    path: Path
    media_type: str
    filename: str


def begin(session: Session, meeting_id: int, directory: Path) -> Recording:
    rec = session.scalar(select(Recording).where(Recording.meeting_id == meeting_id))
    if rec is None:
        rec = Recording(meeting_id=meeting_id, status=RecordingStatus.RECORDING, directory=str(directory))
        session.add(rec)
    else:
        rec.status = RecordingStatus.RECORDING
    session.flush()
    return rec


def fail(session: Session, meeting_id: int, error: str) -> None:
    rec = session.scalar(select(Recording).where(Recording.meeting_id == meeting_id))
    if rec is not None:
        rec.error = error
        audit.record(session, None, "recording.error", "meeting", meeting_id, {"error": error})


def finish(
    session: Session,
    meeting_id: int,
    tracks: list[FinishedTrack],
    mix_file: str,
    mix_sha256: str,
    mix_bytes: int,
    error: str = "",
) -> Recording:
    rec = session.scalar(select(Recording).where(Recording.meeting_id == meeting_id))
    if rec is None:
        raise NotFound(f"Cuộc họp {meeting_id} không có bản ghi.")
    users = {u.username: u.id for u in session.scalars(select(User))}
    units = {u.code: u.id for u in session.scalars(select(Unit))}
    known = {
        t.track_key: t
        for t in session.scalars(select(RecordingTrack).where(RecordingTrack.recording_id == rec.id))
    }
    for t in tracks:
        row = known.get(t.track_key) or RecordingTrack(
            recording_id=rec.id, track_key=t.track_key, file=t.file
        )
        row.user_id, row.unit_id = users.get(t.username), units.get(t.unit_code)
        row.start_s, row.end_s, row.sha256, row.bytes = t.start_s, t.end_s, t.sha256, t.size_bytes
        row.previous_track_key = t.previous_track_key
        row.kind = t.kind
        session.add(row)
    rec.status = RecordingStatus.FAILED if (error and not mix_file) else RecordingStatus.FINISHED
    rec.ended_at = utcnow()
    rec.mix_file, rec.mix_sha256, rec.mix_bytes = mix_file, mix_sha256, mix_bytes
    if error:
        rec.error = error
    audit.record(
        session,
        None,
        "recording.finish",
        "meeting",
        meeting_id,
        {"tracks": len(tracks), "mix_bytes": mix_bytes},
    )
    return rec


def mark_interrupted(session: Session, meeting_ids: list[int]) -> list[Recording]:
    out = []
    for rec in session.scalars(select(Recording).where(Recording.meeting_id.in_(meeting_ids))):
        if rec.status is RecordingStatus.RECORDING:
            rec.status = RecordingStatus.INTERRUPTED
            out.append(rec)
    return out


def video_mode(session: Session, meeting_id: int) -> str:
    """The meeting's video recording choice: "none", "all" or "hall_and_floor"."""
    meeting = session.get(Meeting, meeting_id)
    return meeting.record_video if meeting is not None else "none"


def get(session: Session, meeting_id: int) -> Recording | None:
    return session.scalar(select(Recording).where(Recording.meeting_id == meeting_id))


def playback_file(session: Session, actor: Actor, meeting_id: int) -> RecordingFile:
    meeting = meetings.get_visible(session, actor, meeting_id)
    rec = get(session, meeting_id)
    if rec is not None and rec.status is RecordingStatus.RECORDING and meeting.status is MeetingStatus.ENDED:
        # the meeting is over and the recorder is still closing the tracks and making the mixed file
        raise Conflict(
            "Bản ghi âm đang xử lý: tệp nghe lại đang được tạo, vui lòng thử lại sau ít phút.",
            code="recording_processing",
            details={"meeting": meeting_id},
        )
    if rec is None or not rec.mix_file or rec.status is RecordingStatus.PURGED:
        raise NotFound("Cuộc họp chưa có bản ghi âm để nghe lại.")
    path = Path(rec.directory) / rec.mix_file
    if not path.is_file():
        raise NotFound("Không tìm thấy tệp ghi âm.")
    return RecordingFile(path, "audio/ogg", f"cuoc-hop-{meeting_id}.ogg")


def track_file(session: Session, actor: Actor, meeting_id: int, track_key: str) -> RecordingFile:
    meeting = meetings.get_visible(session, actor, meeting_id)
    rec = get(session, meeting_id)
    if rec is None:
        raise NotFound("Cuộc họp chưa có bản ghi âm.")
    row = session.scalar(
        select(RecordingTrack).where(
            RecordingTrack.recording_id == rec.id, RecordingTrack.track_key == track_key
        )
    )
    if row is None:
        raise NotFound("Không có rãnh ghi âm này.")
    # a connection point may download its own track; the chairing unit's chair/clerk/admin any track
    own = row.unit_id == actor.unit_id
    from server.services import policy

    policy.require(
        own or policy.can_manage(actor, meeting.chair_unit_id),
        "Chỉ chủ trì, thư ký hoặc chính điểm cầu được tải rãnh ghi âm này.",
    )
    path = Path(rec.directory) / row.file
    if not path.is_file():
        raise NotFound("Không tìm thấy tệp ghi âm.")
    if row.kind != "audio":
        return RecordingFile(path, "video/x-ivf", f"cuoc-hop-{meeting_id}-{track_key}.ivf")
    return RecordingFile(path, "audio/ogg", f"cuoc-hop-{meeting_id}-{track_key}.ogg")


def list_tracks(session: Session, actor: Actor, meeting_id: int) -> list[FinishedTrack]:
    meetings.get_visible(session, actor, meeting_id)
    rec = get(session, meeting_id)
    if rec is None:
        return []
    users = {u.id: u.username for u in session.scalars(select(User))}
    units = {u.id: u.code for u in session.scalars(select(Unit))}
    return [
        FinishedTrack(
            t.track_key,
            t.file,
            users.get(t.user_id or 0, ""),
            units.get(t.unit_id or 0, ""),
            t.start_s,
            t.end_s,
            t.sha256,
            t.bytes,
            t.previous_track_key,
            t.kind,
        )
        for t in session.scalars(
            select(RecordingTrack)
            .where(RecordingTrack.recording_id == rec.id)
            .order_by(RecordingTrack.start_s)
        )
    ]


def expired(session: Session, now: dt.datetime, retention_days: int) -> list[Recording]:
    if retention_days <= 0:
        return []
    cutoff = now - dt.timedelta(days=retention_days)
    return list(
        session.scalars(
            select(Recording).where(
                Recording.status.in_(
                    [RecordingStatus.FINISHED, RecordingStatus.FAILED, RecordingStatus.INTERRUPTED]
                ),
                Recording.started_at < cutoff,
            )
        )
    )


def mark_purged(session: Session, rec: Recording, files: int, bytes_freed: int) -> None:
    rec.status = RecordingStatus.PURGED
    rec.purged_at = utcnow()
    audit.record(
        session, None, "recording.purge", "meeting", rec.meeting_id, {"files": files, "bytes": bytes_freed}
    )


def verify_all(session: Session, meeting_id: int | None = None) -> tuple[list[str], int]:
    """Every stored file of finished recordings checked against its SHA-256 → (problems, files checked)."""
    from recordings.integrity import verify
    from server.services import videos

    stmt = select(Recording).where(
        Recording.status.in_([RecordingStatus.FINISHED, RecordingStatus.INTERRUPTED])
    )
    if meeting_id is not None:
        stmt = stmt.where(Recording.meeting_id == meeting_id)
    problems: list[str] = []
    checked = 0
    for rec in session.scalars(stmt):
        expected = {
            t.file: t.sha256
            for t in session.scalars(select(RecordingTrack).where(RecordingTrack.recording_id == rec.id))
            if t.sha256
        }
        if rec.mix_file and rec.mix_sha256:
            expected[rec.mix_file] = rec.mix_sha256
        expected.update(videos.integrity_expected(session, rec.meeting_id))  # the composed MP4 and WebVTT
        checked += len(expected)
        for mismatch in verify(Path(rec.directory), expected):
            state = "mất tệp" if mismatch.missing else "sai mã băm"
            problems.append(f"cuộc họp {rec.meeting_id}: {mismatch.path}: {state}")
    return problems, checked


def purge_expired(session: Session, settings: Settings) -> list[int]:
    """Delete the files of recordings older than the retention setting; rows are kept, marked purged."""
    from recordings.retention import purge

    purged = []
    for rec in expired(session, utcnow(), settings.recording_retention_days):
        report = purge(Path(rec.directory))
        mark_purged(session, rec, report.files_deleted, report.bytes_freed)
        purged.append(rec.meeting_id)
    return purged
