"""What a meeting leaves behind: recordings, tracks, transcripts and segments, conclusions, minutes."""

from __future__ import annotations

import datetime as dt
import enum
from typing import Any

from sqlalchemy import JSON, BigInteger, Enum, ForeignKey, String, Text, UniqueConstraint, false
from sqlalchemy.orm import Mapped, mapped_column

from server.models.base import Base, utcnow


class RecordingStatus(enum.StrEnum):
    RECORDING = "recording"
    FINISHED = "finished"
    INTERRUPTED = "interrupted"
    FAILED = "failed"
    PURGED = "purged"


class Recording(Base):
    __tablename__ = "recordings"

    id: Mapped[int] = mapped_column(primary_key=True)
    meeting_id: Mapped[int] = mapped_column(ForeignKey("meetings.id", ondelete="CASCADE"), unique=True)
    status: Mapped[RecordingStatus] = mapped_column(Enum(RecordingStatus, native_enum=False, length=16))
    directory: Mapped[str] = mapped_column(String(500))
    started_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    ended_at: Mapped[dt.datetime | None]
    error: Mapped[str] = mapped_column(Text, default="")
    mix_file: Mapped[str] = mapped_column(String(500), default="")
    mix_sha256: Mapped[str] = mapped_column(String(64), default="")
    mix_bytes: Mapped[int] = mapped_column(default=0)
    purged_at: Mapped[dt.datetime | None]


class RecordingTrack(Base):
    __tablename__ = "recording_tracks"
    __table_args__ = (UniqueConstraint("recording_id", "track_key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    recording_id: Mapped[int] = mapped_column(ForeignKey("recordings.id", ondelete="CASCADE"), index=True)
    track_key: Mapped[str] = mapped_column(String(100))
    file: Mapped[str] = mapped_column(String(500))
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    unit_id: Mapped[int | None] = mapped_column(ForeignKey("units.id", ondelete="SET NULL"))
    start_s: Mapped[float] = mapped_column(default=0.0)
    end_s: Mapped[float | None]
    sha256: Mapped[str] = mapped_column(String(64), default="")
    bytes: Mapped[int] = mapped_column(default=0)
    previous_track_key: Mapped[str] = mapped_column(String(100), default="")
    kind: Mapped[str] = mapped_column(String(16), default="audio", server_default="audio")  # camera, screen


class JobStatus(enum.StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"


class Transcript(Base):
    __tablename__ = "transcripts"

    id: Mapped[int] = mapped_column(primary_key=True)
    meeting_id: Mapped[int] = mapped_column(ForeignKey("meetings.id", ondelete="CASCADE"), unique=True)
    status: Mapped[JobStatus] = mapped_column(Enum(JobStatus, native_enum=False, length=16))
    progress: Mapped[float] = mapped_column(default=0.0)
    attempts: Mapped[int] = mapped_column(default=0)
    error: Mapped[str] = mapped_column(Text, default="")
    engine: Mapped[str] = mapped_column(String(64), default="")
    model: Mapped[str] = mapped_column(String(200), default="")
    queued_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    started_at: Mapped[dt.datetime | None]
    finished_at: Mapped[dt.datetime | None]
    worker: Mapped[str] = mapped_column(String(200), default="")  # the worker holding the job
    heartbeat_at: Mapped[dt.datetime | None]  # the lease: renewed as the worker reports progress


class TranscriptSegment(Base):
    __tablename__ = "transcript_segments"
    __table_args__ = (UniqueConstraint("meeting_id", "seq"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    meeting_id: Mapped[int] = mapped_column(ForeignKey("meetings.id", ondelete="CASCADE"), index=True)
    seq: Mapped[int]
    start_s: Mapped[float]
    end_s: Mapped[float]
    unit_id: Mapped[int | None] = mapped_column(ForeignKey("units.id", ondelete="SET NULL"), index=True)
    speaker: Mapped[str] = mapped_column(String(200), default="")
    text: Mapped[str] = mapped_column(Text)
    asr_text: Mapped[str] = mapped_column(Text, default="")  # what the engine said, before any edit
    edited_at: Mapped[dt.datetime | None]
    edited_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    # Added in 0008: the engine's doubt, for the clerk. uncertain until the clerk edits or confirms the line;
    # uncertain_reason "loss" (audio lost in transit under a word), "no_speech" or "low_confidence" ("" when
    # certain); confidence 0..1, the mean probability of the words the engine gave (asr_text's, kept after
    # an edit), None when unknown.
    uncertain: Mapped[bool] = mapped_column(default=False, server_default=false())
    uncertain_reason: Mapped[str] = mapped_column(String(16), default="", server_default="")
    confidence: Mapped[float | None]


class VideoComposition(Base):
    """The composed video of a meeting (issue 20): a background job's state, like the transcript's, and the
    file it made. ``mode`` is what the pending job does: "full" (the picture from the tracks) or "finish"
    (subtitles and chapters again on the existing picture, after a transcript correction)."""

    __tablename__ = "video_compositions"

    id: Mapped[int] = mapped_column(primary_key=True)
    meeting_id: Mapped[int] = mapped_column(ForeignKey("meetings.id", ondelete="CASCADE"), unique=True)
    status: Mapped[JobStatus] = mapped_column(Enum(JobStatus, native_enum=False, length=16))
    mode: Mapped[str] = mapped_column(String(16), default="full")
    progress: Mapped[float] = mapped_column(default=0.0)
    attempts: Mapped[int] = mapped_column(default=0)
    error: Mapped[str] = mapped_column(Text, default="")
    queued_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    started_at: Mapped[dt.datetime | None]
    finished_at: Mapped[dt.datetime | None]
    worker: Mapped[str] = mapped_column(String(200), default="")
    heartbeat_at: Mapped[dt.datetime | None]
    file: Mapped[str] = mapped_column(String(500), default="")  # relative to the recording's directory
    sha256: Mapped[str] = mapped_column(String(64), default="")
    bytes: Mapped[int] = mapped_column(BigInteger, default=0)  # an hour of 720p passes 2 GiB on long meetings
    length_s: Mapped[float] = mapped_column(default=0.0)
    subtitles_file: Mapped[str] = mapped_column(String(500), default="")
    subtitles_sha256: Mapped[str] = mapped_column(String(64), default="")
    picture_gaps: Mapped[list[Any]] = mapped_column(JSON, default=list)  # [start_s, end_s, track, reason]


class SegmentEdit(Base):
    """History of the clerk's corrections: who, when, before and after."""

    __tablename__ = "segment_edits"

    id: Mapped[int] = mapped_column(primary_key=True)
    segment_id: Mapped[int] = mapped_column(
        ForeignKey("transcript_segments.id", ondelete="CASCADE"), index=True
    )
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    before: Mapped[dict[str, Any]]
    after: Mapped[dict[str, Any]]


class Conclusion(Base):
    __tablename__ = "conclusions"
    __table_args__ = (UniqueConstraint("meeting_id", "number"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    meeting_id: Mapped[int] = mapped_column(ForeignKey("meetings.id", ondelete="CASCADE"), index=True)
    number: Mapped[int]
    text: Mapped[str] = mapped_column(Text)
    segment_id: Mapped[int | None] = mapped_column(ForeignKey("transcript_segments.id", ondelete="SET NULL"))
    at_s: Mapped[float | None]
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    # Added in 0002: every segment the conclusion was said in (segment_id is the first), the unit that must
    # carry it out and its deadline (printed in the minutes and the notice, turned into a task by issue 7).
    segment_ids: Mapped[list[int]] = mapped_column(JSON, default=list)
    assignee_unit_id: Mapped[int | None] = mapped_column(ForeignKey("units.id", ondelete="SET NULL"))
    deadline: Mapped[dt.date | None]
    updated_at: Mapped[dt.datetime | None]


class DocumentRegister(Base):
    """Per-unit, per-year, per-kind numbering of documents (BB = minutes, TB = notices)."""

    __tablename__ = "document_registers"
    __table_args__ = (UniqueConstraint("unit_id", "year", "kind"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id", ondelete="CASCADE"))
    year: Mapped[int]
    kind: Mapped[str] = mapped_column(String(8))
    last_number: Mapped[int] = mapped_column(default=0)


class MinutesStatus(enum.StrEnum):
    DRAFT = "draft"
    SEALED = "sealed"


class MinutesVersion(Base):
    __tablename__ = "minutes_versions"
    __table_args__ = (UniqueConstraint("meeting_id", "kind", "version"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    meeting_id: Mapped[int] = mapped_column(ForeignKey("meetings.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(16), default="minutes")  # minutes (1.9) or notice (1.4)
    version: Mapped[int]
    number: Mapped[str] = mapped_column(String(64), default="")
    status: Mapped[MinutesStatus] = mapped_column(Enum(MinutesStatus, native_enum=False, length=16))
    content: Mapped[dict[str, Any]]
    sha256: Mapped[str] = mapped_column(String(64), default="")
    signature_b64: Mapped[str] = mapped_column(Text, default="")
    public_key_b64: Mapped[str] = mapped_column(String(100), default="")
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    sealed_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    sealed_at: Mapped[dt.datetime | None]
    # Added in 0011: the SHA-256 of the transcript and conclusions a draft was prefilled from (a clerk's edit
    # keeps its parent's basis): a draft whose basis differs from the current data is stale.
    basis_sha256: Mapped[str] = mapped_column(String(64), default="", server_default="")
