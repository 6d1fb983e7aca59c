"""Transcripts and what the chair concluded from them: storing segments, the clerk's edits with their history,
and the numbered conclusions linked to the segments (and second) where they were said.

==========================  ==================================================================================
ability                     who
==========================  ==================================================================================
read transcript, history,   whoever may see the meeting (policy.can_see)
conclusions
edit a segment; write,      admin; chair or clerk of the chairing unit (policy.can_manage)
change, delete conclusions
==========================  ==================================================================================

``GET /api/meetings/{id}/transcript`` of a meeting that has no transcript row yet answers ``status: "none"``
(progress 0, no segments) rather than 404: the meeting exists, its transcript does not yet.

Segments the engine doubts are kept and marked, never dropped: ``uncertain`` with ``uncertain_reason``
("loss": audio lost in transit under a word; "no_speech": the model rates it as probably not speech;
"low_confidence": the model barely believes its words) and ``confidence`` (0..1, the mean probability of the
engine's words). The clerk's edit of the text, or a patch ``{"uncertain": false}`` (heard, it is right),
clears the mark; the engine's confidence stays, describing ``asr_text``.
"""

from __future__ import annotations

import datetime as dt
import logging
import math
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Annotated, Any, Literal, Protocol, get_args

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from server.errors import InvalidInput, NotFound
from server.models import (
    Conclusion,
    JobStatus,
    Meeting,
    SegmentEdit,
    Transcript,
    TranscriptSegment,
    Unit,
    User,
    utcnow,
)
from server.services import audit, meetings, policy, search, units
from server.services.context import Actor
from server.services.inputs import DbId, Text
from transcription.segment import UncertainReason

log = logging.getLogger(__name__)

MAX_SEGMENT_CHARS = 10_000
MAX_SPEAKER_CHARS = 200
MAX_CONCLUSION_CHARS = 5_000
MAX_LINKED_SEGMENTS = 50


def _nfc(value: str) -> str:
    return unicodedata.normalize("NFC", value).strip()


# ---- storing (the transcription worker) -------------------------------------------------------------------


class SegmentLike(Protocol):
    """What :func:`store_segments` reads from each piece (``SegmentInput`` or the worker's own type)."""

    @property
    def start_s(self) -> float: ...
    @property
    def end_s(self) -> float: ...
    @property
    def text(self) -> str: ...
    @property
    def speaker(self) -> str: ...
    @property
    def unit_code(self) -> str | None: ...
    @property
    def uncertain(self) -> bool: ...
    @property
    def uncertain_reason(self) -> str | None: ...
    @property
    def confidence(self) -> float | None: ...


@dataclass(frozen=True)
class SegmentInput:
    """One transcript piece to store: times in seconds on the meeting clock, the connection point's unit code
    and the speaker's name when known."""

    start_s: float
    end_s: float
    text: str
    unit_code: str | None = None
    speaker: str = ""
    uncertain: bool = False
    uncertain_reason: str | None = None  # "loss", "no_speech" or "low_confidence" when uncertain
    confidence: float | None = None  # 0..1


UNCERTAIN_REASONS: tuple[str, ...] = get_args(UncertainReason)  # as the transcription pipeline gives them


def store_segments(
    session: Session, meeting_id: int, segments: Sequence[SegmentLike], *, keep_edited: bool = False
) -> list[int]:
    """Replace the meeting's segments with ``segments`` (ordered by start) and index them for search.

    Idempotent per meeting: a re-run of the transcription replaces what the previous run stored (clerk's edit
    history of the replaced segments goes with them; conclusions keep their second but lose segment links).
    ``keep_edited`` (the offline pass replacing the live captions' segments): the segments the clerk edited
    stay, with their history and conclusion links, and a new segment of the same unit overlapping one of them
    in time is not stored. Creates the transcript row (status done) when there is none; an existing row's
    status is left to the worker. Returns the new segment ids in order.
    """
    if session.get(Meeting, meeting_id) is None:
        raise NotFound(f"Không tìm thấy cuộc họp {meeting_id}.", details={"meeting": meeting_id})
    codes = {code: uid for uid, code in session.execute(select(Unit.id, Unit.code)).tuples()}
    kept = (
        list(
            session.scalars(
                select(TranscriptSegment).where(
                    TranscriptSegment.meeting_id == meeting_id, TranscriptSegment.edited_at.is_not(None)
                )
            )
        )
        if keep_edited
        else []
    )
    kept_ids = {k.id for k in kept}
    ids = session.scalars(select(TranscriptSegment.id).where(TranscriptSegment.meeting_id == meeting_id))
    old_ids = [i for i in ids if i not in kept_ids]
    if old_ids:
        search.unindex_segments(session, old_ids)
        for conclusion in session.scalars(select(Conclusion).where(Conclusion.meeting_id == meeting_id)):
            conclusion.segment_ids = [i for i in conclusion.segment_ids or [] if i in kept_ids]
            if conclusion.segment_id not in kept_ids:
                conclusion.segment_id = None
        session.flush()
        session.execute(delete(TranscriptSegment).where(TranscriptSegment.id.in_(old_ids)))

    def covered(seg: SegmentLike) -> bool:
        unit_id = codes.get(seg.unit_code or "")
        return any(
            k.unit_id == unit_id and seg.start_s < k.end_s and k.start_s < seg.end_s for k in kept
        )

    rows: list[TranscriptSegment] = []
    fresh = sorted((s for s in segments if not covered(s)), key=lambda s: (s.start_s, s.end_s))
    for seq, seg in enumerate(fresh):
        text = _nfc(seg.text)
        if not text:
            continue
        if seg.start_s < 0 or seg.end_s < seg.start_s:
            raise InvalidInput(
                "Thời điểm của đoạn bản ghi không hợp lệ.", details={"start": seg.start_s, "end": seg.end_s}
            )
        unit_id = codes.get(seg.unit_code or "")
        reason = (seg.uncertain_reason or "low_confidence") if seg.uncertain else ""
        if reason and reason not in UNCERTAIN_REASONS:
            raise InvalidInput("Lý do không chắc chắn không hợp lệ.", details={"uncertain_reason": reason})
        confidence = None if seg.confidence is None else min(1.0, max(0.0, float(seg.confidence)))
        rows.append(
            TranscriptSegment(
                meeting_id=meeting_id,
                seq=seq,
                start_s=float(seg.start_s),
                end_s=float(seg.end_s),
                unit_id=unit_id,
                speaker=_nfc(seg.speaker)[:MAX_SPEAKER_CHARS],
                text=text,
                asr_text=text,
                uncertain=bool(seg.uncertain),
                uncertain_reason=reason,
                confidence=confidence,
            )
        )
    session.add_all(rows)
    _ensure_transcript_row(session, meeting_id)
    session.flush()
    if kept:  # one order by time again, the clerk's segments among the new ones
        ordered = sorted([*kept, *rows], key=lambda r: (r.start_s, r.end_s))
        for seq, row in enumerate(ordered):
            row.seq = seq
        session.flush()
    search.index_segments(session, meeting_id)
    audit.record(
        session,
        None,
        "transcript.store",
        "meeting",
        meeting_id,
        {"segments": len(rows), "replaced": len(old_ids)},
    )
    log.info("meeting %s: stored %d transcript segments (replaced %d)", meeting_id, len(rows), len(old_ids))
    return [r.id for r in rows]


def _ensure_transcript_row(session: Session, meeting_id: int, engine: str = "") -> None:
    transcript = session.scalar(select(Transcript).where(Transcript.meeting_id == meeting_id))
    if transcript is None:
        now = utcnow()
        session.add(
            Transcript(
                meeting_id=meeting_id,
                status=JobStatus.DONE,
                progress=1.0,
                queued_at=now,
                started_at=now,
                finished_at=now,
                engine=engine,
            )
        )


LIVE_ENGINE = "live-captions"


def append_live_segments(session: Session, meeting_id: int, segments: Sequence[SegmentLike]) -> list[int]:
    """Add the live captions' final segments to the meeting's transcript while it runs, indexed for search at
    once (found by whoever may see the meeting). The transcript row is created (status done, engine
    ``live-captions``) when there is none. Returns the new ids."""
    codes = {code: uid for uid, code in session.execute(select(Unit.id, Unit.code)).tuples()}
    last = session.scalar(
        select(func.max(TranscriptSegment.seq)).where(TranscriptSegment.meeting_id == meeting_id)
    )
    seq = 0 if last is None else last + 1
    rows: list[TranscriptSegment] = []
    for seg in segments:
        text = _nfc(seg.text)[:MAX_SEGMENT_CHARS]
        if not text or seg.end_s < seg.start_s:
            continue
        rows.append(
            TranscriptSegment(
                meeting_id=meeting_id,
                seq=seq,
                start_s=max(0.0, float(seg.start_s)),
                end_s=max(0.0, float(seg.end_s)),
                unit_id=codes.get(seg.unit_code or ""),
                speaker=_nfc(seg.speaker)[:MAX_SPEAKER_CHARS],
                text=text,
                asr_text=text,
            )
        )
        seq += 1
    session.add_all(rows)
    _ensure_transcript_row(session, meeting_id, LIVE_ENGINE)
    session.flush()
    ids = [r.id for r in rows]
    if ids:
        search.index_segments(session, meeting_id, ids)
    return ids


def has_live_segments(session: Session, meeting_id: int) -> bool:
    """Whether the meeting's transcript holds segments written by the live captions (and no offline pass
    replaced them since)."""
    row = session.scalar(select(Transcript).where(Transcript.meeting_id == meeting_id))
    if row is None or row.engine != LIVE_ENGINE:
        return False
    count = session.scalar(
        select(func.count(TranscriptSegment.id)).where(TranscriptSegment.meeting_id == meeting_id)
    )
    return bool(count)


# ---- reading and editing ----------------------------------------------------------------------------------


class SegmentView(BaseModel):
    id: int
    start: float
    end: float
    unit: str | None
    speaker: str
    text: str
    edited: bool
    uncertain: bool = False  # the engine doubts it and the clerk has not edited or confirmed it yet
    uncertain_reason: str | None = None  # "loss" | "no_speech" | "low_confidence" when uncertain
    confidence: float | None = None  # 0..1, the mean probability of the engine's words; None when unknown


class TranscriptView(BaseModel):
    """``GET /api/meetings/{id}/transcript`` (contract); ``status`` is "none" when nothing was queued yet."""

    meeting_id: int
    status: str
    progress: float
    error: str = ""  # why a failed transcription failed (readable, Vietnamese or the engine's words)
    attempts: int = 0
    eta_s: int | None = None  # seconds left while running (TranscriptProgress.eta_s)
    segments: list[SegmentView]


class TranscriptProgress(BaseModel):
    """Where a meeting's transcription stands, without its segments (the progress stream's events)."""

    meeting_id: int
    status: str
    progress: float
    error: str = ""
    attempts: int = 0
    # seconds left while running: the time taken so far scaled by the share left (None until it means
    # something), rounded to ETA_STEP_S so the progress stream does not send a change every second
    eta_s: int | None = None

    @property
    def finished(self) -> bool:
        return self.status in (JobStatus.DONE.value, JobStatus.FAILED.value)


class SegmentPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")
    text: Annotated[str, Text(MAX_SEGMENT_CHARS, multiline=True)] | None = None
    speaker: Annotated[str, Text(MAX_SPEAKER_CHARS, required=False)] | None = None
    # false: the clerk heard the line and it is right as it stands (an edit of the text clears it as well)
    uncertain: Literal[False] | None = None


class SegmentEditView(BaseModel):
    id: int
    segment_id: int
    at: dt.datetime
    user: str | None
    before: dict[str, Any]
    after: dict[str, Any]


def _unit_codes(session: Session) -> dict[int, str]:
    return dict(session.execute(select(Unit.id, Unit.code)).tuples().all())


def _segment_view(seg: TranscriptSegment, codes: dict[int, str]) -> SegmentView:
    return SegmentView(
        id=seg.id,
        start=seg.start_s,
        end=seg.end_s,
        unit=codes.get(seg.unit_id) if seg.unit_id is not None else None,
        speaker=seg.speaker,
        text=seg.text,
        edited=seg.edited_at is not None,
        uncertain=seg.uncertain,
        uncertain_reason=(seg.uncertain_reason or None) if seg.uncertain else None,
        confidence=seg.confidence,
    )


def transcript_progress(session: Session, actor: Actor, meeting_id: int) -> TranscriptProgress:
    meetings.get_visible(session, actor, meeting_id)
    transcript = session.scalar(select(Transcript).where(Transcript.meeting_id == meeting_id))
    if transcript is None:
        return TranscriptProgress(meeting_id=meeting_id, status="none", progress=0.0)
    return TranscriptProgress(
        meeting_id=meeting_id,
        status=transcript.status.value,
        progress=transcript.progress,
        error=transcript.error,
        attempts=transcript.attempts,
        eta_s=_eta_s(transcript),
    )


ETA_STEP_S = 5
ETA_MIN_PROGRESS = 0.02  # below this share done, the pace is not known well enough to say


def _eta_s(transcript: Transcript) -> int | None:
    if transcript.status is not JobStatus.RUNNING or transcript.started_at is None:
        return None
    done = transcript.progress
    if not ETA_MIN_PROGRESS <= done < 1.0:
        return None
    started = transcript.started_at
    if started.tzinfo is None:
        started = started.replace(tzinfo=dt.UTC)
    elapsed = max(0.0, (utcnow() - started).total_seconds())
    left = elapsed * (1.0 - done) / done
    return int(math.ceil(left / ETA_STEP_S) * ETA_STEP_S)


def get_transcript(session: Session, actor: Actor, meeting_id: int) -> TranscriptView:
    state = transcript_progress(session, actor, meeting_id)
    codes = _unit_codes(session)
    segs = session.scalars(
        select(TranscriptSegment)
        .where(TranscriptSegment.meeting_id == meeting_id)
        .order_by(TranscriptSegment.seq)
    )
    return TranscriptView(**state.model_dump(), segments=[_segment_view(s, codes) for s in segs])


def _segment(session: Session, segment_id: int) -> TranscriptSegment:
    seg = session.get(TranscriptSegment, segment_id)
    if seg is None:
        raise NotFound(f"Không tìm thấy đoạn bản ghi {segment_id}.", details={"segment": segment_id})
    return seg


def segment_meeting_id(session: Session, segment_id: int) -> int:
    return _segment(session, segment_id).meeting_id


def _managed_meeting(session: Session, actor: Actor, meeting_id: int) -> Meeting:
    meeting = meetings.get_visible(session, actor, meeting_id)
    policy.require(
        policy.can_manage(actor, meeting.chair_unit_id),
        "Chỉ chủ trì hoặc thư ký của đơn vị chủ trì được sửa bản ghi và kết luận.",
    )
    return meeting


def edit_segment(session: Session, actor: Actor, segment_id: int, patch: SegmentPatch) -> SegmentView:
    """The clerk corrects a segment's text and/or speaker; before/after go to its history, search follows.

    A corrected text, or ``uncertain: false``, settles an uncertain segment (the history keeps the mark)."""
    seg = _segment(session, segment_id)
    _managed_meeting(session, actor, seg.meeting_id)
    before: dict[str, Any] = {}
    after: dict[str, Any] = {}
    if patch.text is not None and _nfc(patch.text) != seg.text:
        before["text"], after["text"] = seg.text, _nfc(patch.text)
    if patch.speaker is not None and _nfc(patch.speaker) != seg.speaker:
        before["speaker"], after["speaker"] = seg.speaker, _nfc(patch.speaker)
    if seg.uncertain and ("text" in after or patch.uncertain is False):
        before["uncertain"], after["uncertain"] = True, False
    if after:
        seg.text = after.get("text", seg.text)
        seg.speaker = after.get("speaker", seg.speaker)
        if "uncertain" in after:
            seg.uncertain, seg.uncertain_reason = False, ""
        seg.edited_at, seg.edited_by_id = utcnow(), actor.id
        session.add(SegmentEdit(segment_id=seg.id, user_id=actor.id, before=before, after=after))
        session.flush()
        search.index_segments(session, seg.meeting_id, [seg.id])
        audit.record(
            session, actor, "segment.edit", "segment", seg.id, {"before": before, "after": after}, actor.ip
        )
    return _segment_view(seg, _unit_codes(session))


def segment_history(session: Session, actor: Actor, segment_id: int) -> list[SegmentEditView]:
    seg = _segment(session, segment_id)
    meetings.get_visible(session, actor, seg.meeting_id)
    rows = session.execute(
        select(SegmentEdit, User.username)
        .outerjoin(User, User.id == SegmentEdit.user_id)
        .where(SegmentEdit.segment_id == segment_id)
        .order_by(SegmentEdit.id)
    ).all()
    return [
        SegmentEditView(id=e.id, segment_id=e.segment_id, at=e.at, user=name, before=e.before, after=e.after)
        for e, name in rows
    ]


# ---- conclusions ------------------------------------------------------------------------------------------


class ConclusionCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    text: Annotated[str, Text(MAX_CONCLUSION_CHARS, multiline=True)]
    segment_ids: list[DbId] = Field(default_factory=list, max_length=MAX_LINKED_SEGMENTS)
    at_s: float | None = Field(None, ge=0)
    assignee_unit: str | None = None
    deadline: dt.date | None = None


class ConclusionUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    text: Annotated[str, Text(MAX_CONCLUSION_CHARS, multiline=True)] | None = None
    segment_ids: list[DbId] | None = Field(None, max_length=MAX_LINKED_SEGMENTS)
    at_s: float | None = Field(None, ge=0)
    assignee_unit: str | None = None
    deadline: dt.date | None = None


class ConclusionView(BaseModel):
    id: int
    meeting_id: int
    number: int
    text: str
    segment_ids: list[int]
    at_s: float | None
    assignee_unit: str | None
    deadline: dt.date | None
    created_at: dt.datetime
    updated_at: dt.datetime | None


def conclusion_view(c: Conclusion, codes: dict[int, str]) -> ConclusionView:
    return ConclusionView(
        id=c.id,
        meeting_id=c.meeting_id,
        number=c.number,
        text=c.text,
        segment_ids=list(c.segment_ids or []),
        at_s=c.at_s,
        assignee_unit=codes.get(c.assignee_unit_id) if c.assignee_unit_id is not None else None,
        deadline=c.deadline,
        created_at=c.created_at,
        updated_at=c.updated_at,
    )


def _linked_segments(session: Session, meeting_id: int, segment_ids: list[int]) -> list[TranscriptSegment]:
    ids = list(dict.fromkeys(segment_ids))
    if not ids:
        return []
    found = {
        s.id: s
        for s in session.scalars(
            select(TranscriptSegment).where(
                TranscriptSegment.id.in_(ids), TranscriptSegment.meeting_id == meeting_id
            )
        )
    }
    missing = [i for i in ids if i not in found]
    if missing:
        raise InvalidInput(
            "Đoạn bản ghi không thuộc cuộc họp này.", details={"field": "segment_ids", "unknown": missing}
        )
    return sorted(found.values(), key=lambda s: s.seq)


def list_conclusions(session: Session, actor: Actor, meeting_id: int) -> list[ConclusionView]:
    meetings.get_visible(session, actor, meeting_id)
    codes = _unit_codes(session)
    rows = session.scalars(
        select(Conclusion).where(Conclusion.meeting_id == meeting_id).order_by(Conclusion.number)
    )
    return [conclusion_view(c, codes) for c in rows]


def create_conclusion(
    session: Session, actor: Actor, meeting_id: int, data: ConclusionCreate
) -> ConclusionView:
    _managed_meeting(session, actor, meeting_id)
    linked = _linked_segments(session, meeting_id, data.segment_ids)
    number = (
        session.scalar(select(func.max(Conclusion.number)).where(Conclusion.meeting_id == meeting_id)) or 0
    ) + 1
    conclusion = Conclusion(
        meeting_id=meeting_id,
        number=number,
        text=_nfc(data.text),
        segment_id=linked[0].id if linked else None,
        segment_ids=[s.id for s in linked],
        at_s=data.at_s if data.at_s is not None else (linked[0].start_s if linked else None),
        assignee_unit_id=units.get_by_code(session, data.assignee_unit).id if data.assignee_unit else None,
        deadline=data.deadline,
        created_by_id=actor.id,
    )
    if not conclusion.text:
        raise InvalidInput("Nội dung kết luận không được để trống.", details={"field": "text"})
    session.add(conclusion)
    session.flush()
    audit.record(
        session, actor, "conclusion.create", "meeting", meeting_id, {"number": number, "id": conclusion.id}
    )
    return conclusion_view(conclusion, _unit_codes(session))


def _conclusion(session: Session, meeting_id: int, conclusion_id: int) -> Conclusion:
    c = session.get(Conclusion, conclusion_id)
    if c is None or c.meeting_id != meeting_id:
        raise NotFound(f"Không tìm thấy kết luận {conclusion_id}.", details={"conclusion": conclusion_id})
    return c


def update_conclusion(
    session: Session, actor: Actor, meeting_id: int, conclusion_id: int, data: ConclusionUpdate
) -> ConclusionView:
    _managed_meeting(session, actor, meeting_id)
    c = _conclusion(session, meeting_id, conclusion_id)
    changes = data.model_dump(exclude_unset=True, mode="json")
    if data.text is not None:
        if not _nfc(data.text):
            raise InvalidInput("Nội dung kết luận không được để trống.", details={"field": "text"})
        c.text = _nfc(data.text)
    if data.segment_ids is not None:
        linked = _linked_segments(session, meeting_id, data.segment_ids)
        c.segment_ids = [s.id for s in linked]
        c.segment_id = linked[0].id if linked else None
        if "at_s" not in changes and linked:
            c.at_s = linked[0].start_s
    if "at_s" in changes:
        c.at_s = data.at_s
    if "assignee_unit" in changes:
        c.assignee_unit_id = units.get_by_code(session, data.assignee_unit).id if data.assignee_unit else None
    if "deadline" in changes:
        c.deadline = data.deadline
    c.updated_at = utcnow()
    session.flush()
    audit.record(session, actor, "conclusion.update", "meeting", meeting_id, {"id": c.id, "changes": changes})
    return conclusion_view(c, _unit_codes(session))


def delete_conclusion(session: Session, actor: Actor, meeting_id: int, conclusion_id: int) -> None:
    """Delete a conclusion; the following ones move up one number (1, 2, 3 … stays contiguous)."""
    _managed_meeting(session, actor, meeting_id)
    c = _conclusion(session, meeting_id, conclusion_id)
    number = c.number
    session.delete(c)
    session.flush()
    later = session.scalars(
        select(Conclusion)
        .where(Conclusion.meeting_id == meeting_id, Conclusion.number > number)
        .order_by(Conclusion.number)
    )
    for following in later:
        following.number -= 1
        session.flush()
    audit.record(
        session, actor, "conclusion.delete", "meeting", meeting_id, {"id": conclusion_id, "number": number}
    )
