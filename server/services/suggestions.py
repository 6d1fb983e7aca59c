"""Task suggestions from a meeting's transcript, for the clerk to confirm (a task is created) or dismiss.

Nothing is created silently: :func:`list_for_meeting` only proposes. Each transcript segment is read on its
own by :func:`server.domain.assignments.suggest_assignments`, with the meeting's chairing and invited units
as the units it may name and the meeting's date (in Vietnam) as the reference for relative deadlines; so
every suggestion links to exactly one segment and to its second on the recording (the segment's start).

Every suggestion has a deterministic key, ``"<meeting id>:<segment id>:<16 hex digits>"``: a SHA-256 over
the folded sentence and the proposed lead unit. The clerk's decision is stored as an audit event whose
``object_type`` is ``"task_suggestion"`` and whose ``object_id`` is that key (action
``task.suggestion.confirm`` or ``task.suggestion.dismiss``). No new table is needed, the decision is kept in
the append-only log with who decided and when, and a dismissed suggestion does not come back when the
suggestions are computed again, unless the clerk edits the sentence or its unit, which makes it a different
suggestion.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from server.clock import VIETNAM_TZ
from server.domain.assignments import suggest_assignments
from server.domain.units import UnitName
from server.domain.vntext import fold
from server.errors import Conflict, InvalidInput, NotFound
from server.models import AuditEvent, Meeting, TranscriptSegment, Unit
from server.services import audit, meetings, policy, tasks
from server.services.context import Actor
from server.services.inputs import Text

log = logging.getLogger(__name__)

OBJECT_TYPE = "task_suggestion"
CONFIRM, DISMISS = "task.suggestion.confirm", "task.suggestion.dismiss"


class Suggestion(BaseModel):
    key: str
    meeting_id: int
    segment_id: int
    at_s: float
    speaker: str
    lead_unit: str
    lead_unit_name: str
    co_units: list[str]
    description: str
    deadline: dt.date | None
    deadline_text: str
    sentence: str
    confidence: float


class SuggestionConfirm(BaseModel):
    """What the clerk may change before confirming (everything else comes from the suggestion)."""

    model_config = ConfigDict(extra="forbid")
    title: Annotated[str, Text(tasks.MAX_TITLE_CHARS)] | None = None
    description: Annotated[str, Text(tasks.MAX_NOTE_CHARS, multiline=True, required=False)] | None = None
    lead_unit: str | None = None
    co_units: list[str] | None = Field(None, max_length=tasks.MAX_CO_UNITS)
    deadline: dt.date | None = None


def suggestion_key(meeting_id: int, segment_id: int, sentence: str, lead_unit: str) -> str:
    digest = hashlib.sha256(f"{fold(sentence).strip()}|{lead_unit}".encode()).hexdigest()[:16]
    return f"{meeting_id}:{segment_id}:{digest}"


def meeting_units(session: Session, meeting: Meeting) -> list[UnitName]:
    ids = {meeting.chair_unit_id, *(inv.unit_id for inv in meeting.invitations)}
    rows = session.scalars(select(Unit).where(Unit.id.in_(ids)).order_by(Unit.position, Unit.id))
    return [UnitName(code=u.code, name=u.name) for u in rows]


def _all(session: Session, meeting: Meeting) -> list[Suggestion]:
    unit_names = meeting_units(session, meeting)
    names = {u.code: u.name for u in unit_names}
    day = meeting.starts_at.astimezone(VIETNAM_TZ).date()
    out: list[Suggestion] = []
    segments = session.scalars(
        select(TranscriptSegment)
        .where(TranscriptSegment.meeting_id == meeting.id)
        .order_by(TranscriptSegment.seq)
    )
    for seg in segments:
        for s in suggest_assignments(seg.text, unit_names, day):
            out.append(
                Suggestion(
                    key=suggestion_key(meeting.id, seg.id, s.sentence, s.lead_unit_code),
                    meeting_id=meeting.id,
                    segment_id=seg.id,
                    at_s=seg.start_s,
                    speaker=seg.speaker,
                    lead_unit=s.lead_unit_code,
                    lead_unit_name=names.get(s.lead_unit_code, s.lead_unit_code),
                    co_units=list(s.co_unit_codes),
                    description=s.description,
                    deadline=s.deadline.due if s.deadline else None,
                    deadline_text=s.deadline.text if s.deadline else "",
                    sentence=s.sentence,
                    confidence=s.confidence,
                )
            )
    return out


def _decided(session: Session, keys: list[str]) -> dict[str, str]:
    if not keys:
        return {}
    rows = session.execute(
        select(AuditEvent.object_id, AuditEvent.action).where(
            AuditEvent.object_type == OBJECT_TYPE, AuditEvent.object_id.in_(keys)
        )
    )
    return {key: action for key, action in rows}


def _managed_meeting(session: Session, actor: Actor, meeting_id: int) -> Meeting:
    meeting = meetings.get_visible(session, actor, meeting_id)
    policy.require(
        policy.can_manage(actor, meeting.chair_unit_id),
        "Chỉ chủ trì hoặc thư ký của đơn vị chủ trì được xem và xử lý gợi ý nhiệm vụ.",
    )
    return meeting


def list_for_meeting(session: Session, actor: Actor, meeting_id: int) -> list[Suggestion]:
    """The suggestions of a meeting that nobody has confirmed or dismissed yet."""
    meeting = _managed_meeting(session, actor, meeting_id)
    found = _all(session, meeting)
    decided = _decided(session, [s.key for s in found])
    return [s for s in found if s.key not in decided]


def _find(session: Session, actor: Actor, meeting_id: int, key: str) -> Suggestion:
    meeting = _managed_meeting(session, actor, meeting_id)
    match = next((s for s in _all(session, meeting) if s.key == key), None)
    if match is None:
        raise NotFound(f"Không tìm thấy gợi ý {key}.", details={"suggestion": key})
    decision = _decided(session, [key]).get(key)
    if decision is not None:
        raise Conflict("Gợi ý này đã được xử lý.", details={"suggestion": key, "decision": decision})
    return match


def confirm(
    session: Session, actor: Actor, meeting_id: int, key: str, data: SuggestionConfirm, today: dt.date
) -> tasks.TaskView:
    """Create the task the suggestion proposes (with the clerk's changes), linked to its segment, second."""
    s = _find(session, actor, meeting_id, key)
    deadline = data.deadline or s.deadline
    if deadline is None:
        raise InvalidInput("Gợi ý không có thời hạn: cần nhập thời hạn.", details={"field": "deadline"})
    task = tasks.create(
        session,
        actor,
        tasks.TaskCreate(
            title=data.title or (s.description or s.sentence)[: tasks.MAX_TITLE_CHARS],
            description=data.description if data.description is not None else s.sentence,
            lead_unit=data.lead_unit or s.lead_unit,
            co_units=data.co_units if data.co_units is not None else s.co_units,
            deadline=deadline,
            meeting_id=meeting_id,
            segment_id=s.segment_id,
            at_s=s.at_s,
        ),
        today,
    )
    audit.record(session, actor, CONFIRM, OBJECT_TYPE, key, {"task_id": task.id, "sentence": s.sentence})
    return tasks.view(session, task, today)


def dismiss(session: Session, actor: Actor, meeting_id: int, key: str) -> None:
    s = _find(session, actor, meeting_id, key)
    audit.record(
        session, actor, DISMISS, OBJECT_TYPE, key, {"sentence": s.sentence, "lead_unit": s.lead_unit}
    )
