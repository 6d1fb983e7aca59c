"""The agenda item "Kiểm điểm kết luận kỳ trước": the open tasks of earlier meetings, on the next meeting.

It lists the tasks of earlier meetings of the same chairing unit that are not yet accepted (number, lead unit,
deadline) as the first item of the meeting's agenda. :func:`open_tasks_agenda` puts or refreshes the item
(used on every meeting creation); :func:`add_open_tasks_agenda` is the same on request of the chairing unit's
chair or clerk, audited. The tasks themselves and their rules are in :mod:`server.services.tasks`.
"""

from __future__ import annotations

from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.orm import Session

from server.errors import Conflict, NotFound
from server.models import AgendaItem, Meeting, MeetingStatus, Task, Unit
from server.services import audit, meetings, policy
from server.services.context import Actor
from server.services.task_status import OPEN_STATES
from server.services.tasks import MAX_TITLE_CHARS, vn_date

OPEN_TASKS_AGENDA_TITLE = "Kiểm điểm kết luận kỳ trước"


class OpenTasksAgenda(BaseModel):
    meeting_id: int
    agenda_item_id: int | None
    title: str
    task_ids: list[int]


def open_tasks_of_earlier_meetings(session: Session, meeting: Meeting) -> list[Task]:
    earlier = select(Meeting.id).where(
        Meeting.chair_unit_id == meeting.chair_unit_id,
        Meeting.starts_at < meeting.starts_at,
        Meeting.id != meeting.id,
    )
    return list(
        session.scalars(
            select(Task)
            .where(Task.meeting_id.in_(earlier), Task.state.in_(OPEN_STATES))
            .order_by(Task.deadline, Task.id)
        )
    )


def open_tasks_agenda(session: Session, meeting_id: int) -> OpenTasksAgenda:
    """Put (or refresh) the agenda item "Kiểm điểm kết luận kỳ trước" first on a meeting's agenda.

    It lists the tasks of earlier meetings of the same chairing unit that are not yet accepted (number, lead
    unit, deadline), within the 500 characters of an agenda title. No open task: no item (an old one is
    removed). Calling it again replaces the item, so it is safe on every meeting creation.
    """
    meeting = session.get(Meeting, meeting_id)
    if meeting is None:
        raise NotFound(f"Không tìm thấy cuộc họp {meeting_id}.", details={"meeting": meeting_id})
    tasks = open_tasks_of_earlier_meetings(session, meeting)
    items = list(
        session.scalars(
            select(AgendaItem).where(AgendaItem.meeting_id == meeting.id).order_by(AgendaItem.position)
        )
    )
    existing = next((a for a in items if a.title.startswith(f"{OPEN_TASKS_AGENDA_TITLE}:")), None)
    if not tasks:
        if existing is not None:
            session.delete(existing)
            session.flush()
            session.expire(meeting, ["agenda"])
        return OpenTasksAgenda(meeting_id=meeting.id, agenda_item_id=None, title="", task_ids=[])
    by_id = {u.id: u for u in session.scalars(select(Unit))}
    parts = [f"NV{t.id} {by_id[t.lead_unit_id].name} (hạn {vn_date(t.deadline)})" for t in tasks]
    title = f"{OPEN_TASKS_AGENDA_TITLE}: {len(tasks)} nhiệm vụ chưa hoàn thành — " + "; ".join(parts)
    if len(title) > MAX_TITLE_CHARS:
        title = title[: MAX_TITLE_CHARS - 1] + "…"
    if existing is None:
        for a in items:
            a.position += 1
        existing = AgendaItem(meeting_id=meeting.id, position=0, title=title, presenter_unit_id=None)
        session.add(existing)
    else:
        existing.title = title
    session.flush()
    session.expire(meeting, ["agenda"])  # a caller holding the meeting sees the new item
    return OpenTasksAgenda(
        meeting_id=meeting.id, agenda_item_id=existing.id, title=title, task_ids=[t.id for t in tasks]
    )


def add_open_tasks_agenda(session: Session, actor: Actor, meeting_id: int) -> OpenTasksAgenda:
    """``POST /api/meetings/{id}/agenda/open-tasks``: the chairing unit's chair or clerk (or admin)."""
    meeting = meetings.get_visible(session, actor, meeting_id)
    policy.require(
        policy.can_manage(actor, meeting.chair_unit_id), "Chỉ chủ trì hoặc thư ký được sửa chương trình họp."
    )
    if meeting.status in (MeetingStatus.ENDED, MeetingStatus.CANCELLED):
        raise Conflict("Cuộc họp đã kết thúc.")
    result = open_tasks_agenda(session, meeting_id)
    audit.record(
        session, actor, "meeting.agenda.open_tasks", "meeting", meeting_id, {"task_ids": result.task_ids}
    )
    return result
