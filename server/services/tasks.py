"""Follow-up tasks: creation from a conclusion or a transcript segment, who may see and act on them, the
lifecycle with its reports. Extensions of the deadline are :mod:`server.services.task_extensions`; the
per-unit report is :mod:`server.services.task_unit_report`.

Lifecycle (``TaskState``, typed in by people; the reported status is computed, see ``task_status``)::

    assigned ──progress──► in_progress ──done (note + evidence)──► reported_done ──accept──► accepted
        └──────────done────────────────────────────────────────────┘     │
                                 in_progress ◄──progress── returned ◄──return──┘

Who may do what (admin may do everything):

=============================================  ======================================================
action                                         who
=============================================  ======================================================
read a task, its reports and evidence          members of its assigning, lead or co-ordinating units
create; accept / return; decide an extension   chair or clerk of the assigning unit
report progress, report done, ask extension    chair, clerk or member of the lead unit
add a progress note                            chair, clerk or member of a co-ordinating unit
=============================================  ======================================================

A viewer reads only. A unit with no part in a task does not see it in lists and gets 403 on it.

To whom (issue 19): the lead and co-ordinating units of a new task must be the assigning unit itself or units
below it in the unit tree (:func:`may_assign_to`); for a task of a meeting the assigning unit is the chairing
unit, and being invited to the meeting grants nothing (a commune chairing a meeting with the district or
another commune invited still tasks only itself and its villages). Admins may assign any unit to any unit.

Evidence files attached to reports are checked, stored and found again by
:mod:`server.services.task_evidence`; the agenda item listing the open tasks of earlier meetings is made by
:mod:`server.services.task_agenda`.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import ColumnElement, or_, select
from sqlalchemy.orm import Session, selectinload

from server.db import Database
from server.errors import Conflict, Forbidden, InvalidInput, NotFound
from server.models import (
    Conclusion,
    ExtensionRequest,
    Role,
    Task,
    TaskReport,
    TaskState,
    TaskUnit,
    TranscriptSegment,
    Unit,
    User,
)
from server.services import audit, meetings, notifications, policy, search, units
from server.services.context import Actor
from server.services.inputs import DbId, Text
from server.services.task_evidence import (
    EvidenceFile,
    EvidenceUpload,
    EvidenceView,
    check_uploads,
    find_evidence_file,
    removed_unless_committed,
    report_evidence,
    store_evidence,
)
from server.services.task_status import (
    STATUS_LABELS,
    TaskStatus,
    compute_status,
)

log = logging.getLogger(__name__)

MAX_TITLE_CHARS = 500
MAX_CO_UNITS = 50
MAX_NOTE_CHARS = 5000
REPORTING_ROLES = frozenset({Role.CHAIR, Role.CLERK, Role.MEMBER})


def vn_date(day: dt.date) -> str:
    return day.strftime("%d/%m/%Y")


# ---- values at the boundary ----------------------------------------------------------------------------


class TaskCreate(BaseModel):
    """``POST /api/tasks`` (contract). Fields left out are taken from the conclusion or segment when given."""

    model_config = ConfigDict(extra="forbid")
    title: Annotated[str, Text(MAX_TITLE_CHARS)] | None = None
    description: Annotated[str, Text(MAX_NOTE_CHARS, multiline=True, required=False)] = ""
    lead_unit: str | None = None
    co_units: list[str] = Field(default_factory=list, max_length=MAX_CO_UNITS)
    deadline: dt.date | None = None
    assigned_on: dt.date | None = None
    meeting_id: DbId | None = None
    conclusion_id: DbId | None = None
    segment_id: DbId | None = None
    at_s: float | None = Field(None, ge=0)
    assigning_unit: str | None = None


class ReportInput(BaseModel):
    model_config = ConfigDict(extra="forbid")
    kind: Literal["progress", "done"]
    note: Annotated[str, Text(MAX_NOTE_CHARS, multiline=True, required=False)] = ""
    progress_pct: int | None = Field(None, ge=0, le=100)


class ReviewInput(BaseModel):
    model_config = ConfigDict(extra="forbid")
    decision: Literal["accept", "return"]
    note: Annotated[str, Text(MAX_NOTE_CHARS, multiline=True, required=False)] = ""


class ReportView(BaseModel):
    id: int
    kind: str
    unit: str
    username: str | None
    note: str
    progress_pct: int | None
    created_at: dt.datetime
    evidence: list[EvidenceView]


class ExtensionView(BaseModel):
    id: int
    task_id: int
    new_deadline: dt.date
    reason: str
    decision: str
    created_at: dt.datetime
    decided_at: dt.datetime | None


class TaskView(BaseModel):
    id: int
    title: str
    description: str
    meeting_id: int | None
    conclusion_id: int | None
    segment_id: int | None
    at_s: float | None
    assigning_unit: str
    lead_unit: str
    lead_unit_name: str
    co_units: list[str]
    assigned_on: dt.date
    deadline: dt.date
    state: TaskState
    status: TaskStatus
    status_label: str
    completed_on: dt.date | None
    days_left: int


class TaskDetail(TaskView):
    reports: list[ReportView]
    extensions: list[ExtensionView]


# ---- permissions ---------------------------------------------------------------------------------------


def _co_unit_ids(task: Task) -> set[int]:
    return {c.unit_id for c in task.co_units}


def involved_unit_ids(task: Task) -> set[int]:
    return {task.assigning_unit_id, task.lead_unit_id, *_co_unit_ids(task)}


def can_see(actor: Actor, task: Task) -> bool:
    return actor.is_admin or actor.unit_id in involved_unit_ids(task)


def can_assign(actor: Actor, assigning_unit_id: int) -> bool:
    return policy.can_manage(actor, assigning_unit_id)


def may_assign_to(session: Session, actor: Actor, assigning_unit_id: int, target_unit_id: int) -> bool:
    """Whether ``actor`` (already allowed to assign for ``assigning_unit_id``) may make ``target_unit_id`` a
    task's lead or co-ordinating unit: admins any unit, others their assigning unit's own subtree."""
    return actor.is_admin or target_unit_id in units.descendant_ids(session, assigning_unit_id)


def _require_assignable(
    session: Session, actor: Actor, assigning_unit_id: int, target_unit_id: int, field: str
) -> None:
    if may_assign_to(session, actor, assigning_unit_id, target_unit_id):
        return
    assigning, target = session.get(Unit, assigning_unit_id), session.get(Unit, target_unit_id)
    assert assigning is not None and target is not None
    raise Forbidden(
        f"{target.name} không thuộc {assigning.name}: chỉ giao nhiệm vụ cho chính đơn vị giao việc"
        " hoặc đơn vị cấp dưới của đơn vị đó.",
        details={"field": field, "unit": target.code, "assigning_unit": assigning.code},
    )


def can_report(actor: Actor, task: Task) -> bool:
    return actor.is_admin or (actor.role in REPORTING_ROLES and actor.unit_id == task.lead_unit_id)


def can_note(actor: Actor, task: Task) -> bool:
    return can_report(actor, task) or (actor.role in REPORTING_ROLES and actor.unit_id in _co_unit_ids(task))


# ---- reading -------------------------------------------------------------------------------------------


def _load(session: Session, task_id: int) -> Task:
    task = session.scalar(select(Task).where(Task.id == task_id).options(selectinload(Task.co_units)))
    if task is None:
        raise NotFound(f"Không tìm thấy nhiệm vụ {task_id}.", details={"task": task_id})
    return task


def get_visible(session: Session, actor: Actor, task_id: int) -> Task:
    task = _load(session, task_id)
    policy.require(can_see(actor, task), "Đơn vị của bạn không liên quan đến nhiệm vụ này.")
    return task


def units_by_id(session: Session) -> dict[int, Unit]:
    return {u.id: u for u in session.scalars(select(Unit))}


def view(session: Session, task: Task, today: dt.date, unit_by_id: dict[int, Unit] | None = None) -> TaskView:
    by_id = unit_by_id if unit_by_id is not None else units_by_id(session)
    status = compute_status(task.state, task.deadline, task.completed_on, today)
    return TaskView(
        id=task.id,
        title=task.title,
        description=task.description,
        meeting_id=task.meeting_id,
        conclusion_id=task.conclusion_id,
        segment_id=task.segment_id,
        at_s=task.at_s,
        assigning_unit=by_id[task.assigning_unit_id].code,
        lead_unit=by_id[task.lead_unit_id].code,
        lead_unit_name=by_id[task.lead_unit_id].name,
        co_units=sorted(by_id[c.unit_id].code for c in task.co_units),
        assigned_on=task.assigned_on,
        deadline=task.deadline,
        state=task.state,
        status=status,
        status_label=STATUS_LABELS[status],
        completed_on=task.completed_on,
        days_left=(task.deadline - today).days,
    )


def _report_view(session: Session, report: TaskReport, by_id: dict[int, Unit]) -> ReportView:
    user = session.get(User, report.user_id) if report.user_id else None
    return ReportView(
        id=report.id,
        kind=report.kind,
        unit=by_id[report.unit_id].code,
        username=user.username if user else None,
        note=report.note,
        progress_pct=report.progress_pct,
        created_at=report.created_at,
        evidence=report_evidence(session, report),
    )


def extension_view(x: ExtensionRequest) -> ExtensionView:
    return ExtensionView(
        id=x.id,
        task_id=x.task_id,
        new_deadline=x.new_deadline,
        reason=x.reason,
        decision=x.decision,
        created_at=x.created_at,
        decided_at=x.decided_at,
    )


def detail(session: Session, task: Task, today: dt.date) -> TaskDetail:
    by_id = units_by_id(session)
    reports = session.scalars(select(TaskReport).where(TaskReport.task_id == task.id).order_by(TaskReport.id))
    extensions = session.scalars(
        select(ExtensionRequest).where(ExtensionRequest.task_id == task.id).order_by(ExtensionRequest.id)
    )
    return TaskDetail(
        **view(session, task, today, by_id).model_dump(),
        reports=[_report_view(session, r, by_id) for r in reports],
        extensions=[extension_view(x) for x in extensions],
    )


def visible_clause(actor: Actor) -> ColumnElement[bool]:
    co = select(TaskUnit.task_id).where(TaskUnit.unit_id == actor.unit_id)
    return or_(Task.assigning_unit_id == actor.unit_id, Task.lead_unit_id == actor.unit_id, Task.id.in_(co))


def list_visible(
    session: Session,
    actor: Actor,
    today: dt.date,
    *,
    unit: str | None = None,
    status: TaskStatus | None = None,
    meeting_id: int | None = None,
) -> list[TaskView]:
    """Tasks the actor may see, optionally of one unit (as lead or co-ordinating unit) and one status."""
    stmt = select(Task).options(selectinload(Task.co_units)).order_by(Task.deadline, Task.id)
    if not actor.is_admin:
        stmt = stmt.where(visible_clause(actor))
    if unit is not None:
        unit_id = units.get_by_code(session, unit).id
        co = select(TaskUnit.task_id).where(TaskUnit.unit_id == unit_id)
        stmt = stmt.where(or_(Task.lead_unit_id == unit_id, Task.id.in_(co)))
    if meeting_id is not None:
        stmt = stmt.where(Task.meeting_id == meeting_id)
    by_id = units_by_id(session)
    views = [view(session, t, today, by_id) for t in session.scalars(stmt)]
    return [v for v in views if status is None or v.status is status]


# ---- creating ------------------------------------------------------------------------------------------


def create(session: Session, actor: Actor, data: TaskCreate, today: dt.date) -> Task:
    """A new task, from a conclusion, a transcript segment or by hand; the lead unit is notified."""
    meeting_id, title = data.meeting_id, data.title
    lead_code, deadline = data.lead_unit, data.deadline
    segment_id, at_s = data.segment_id, data.at_s
    lead_unit_id: int | None = None
    if data.conclusion_id is not None:
        conclusion = session.get(Conclusion, data.conclusion_id)
        if conclusion is None:
            raise NotFound(
                f"Không tìm thấy kết luận {data.conclusion_id}.", details={"conclusion": data.conclusion_id}
            )
        if meeting_id is not None and meeting_id != conclusion.meeting_id:
            raise InvalidInput("Kết luận không thuộc cuộc họp đã chọn.", details={"field": "conclusion_id"})
        meeting_id = conclusion.meeting_id
        title = title or conclusion.text.strip()[:MAX_TITLE_CHARS]
        segment_id = segment_id if segment_id is not None else conclusion.segment_id
        at_s = at_s if at_s is not None else conclusion.at_s
        deadline = deadline or conclusion.deadline
        if lead_code is None:
            lead_unit_id = conclusion.assignee_unit_id
    if segment_id is not None:
        segment = session.get(TranscriptSegment, segment_id)
        if segment is None:
            raise NotFound(f"Không tìm thấy đoạn ghi {segment_id}.", details={"segment": segment_id})
        if meeting_id is not None and meeting_id != segment.meeting_id:
            raise InvalidInput("Đoạn ghi không thuộc cuộc họp đã chọn.", details={"field": "segment_id"})
        meeting_id = segment.meeting_id
        title = title or segment.text.strip()[:MAX_TITLE_CHARS]
        at_s = at_s if at_s is not None else segment.start_s
    if meeting_id is not None:
        meeting = meetings.get_visible(session, actor, meeting_id)
        assigning_unit_id = meeting.chair_unit_id
        if data.assigning_unit is not None and units.get_by_code(session, data.assigning_unit).id != (
            assigning_unit_id
        ):
            raise InvalidInput(
                "Đơn vị giao nhiệm vụ phải là đơn vị chủ trì cuộc họp.", details={"field": "assigning_unit"}
            )
    elif data.assigning_unit is not None:
        assigning_unit_id = units.get_by_code(session, data.assigning_unit).id
    else:
        assigning_unit_id = actor.unit_id
    policy.require(
        can_assign(actor, assigning_unit_id),
        "Chỉ chủ trì hoặc thư ký của đơn vị giao việc được giao nhiệm vụ.",
    )
    if not title or not title.strip():
        raise InvalidInput("Nhiệm vụ cần có nội dung.", details={"field": "title"})
    if lead_code is not None:
        lead_unit_id = units.get_by_code(session, lead_code).id
    if lead_unit_id is None:
        raise InvalidInput("Cần chọn đơn vị chủ trì thực hiện.", details={"field": "lead_unit"})
    _require_assignable(session, actor, assigning_unit_id, lead_unit_id, "lead_unit")
    if deadline is None:
        raise InvalidInput("Cần có thời hạn hoàn thành.", details={"field": "deadline"})
    assigned_on = data.assigned_on or today
    if assigned_on > today:
        raise InvalidInput("Ngày giao không được sau hôm nay.", details={"field": "assigned_on"})
    if deadline < assigned_on:
        raise InvalidInput(
            f"Thời hạn {vn_date(deadline)} trước ngày giao {vn_date(assigned_on)}.",
            details={
                "field": "deadline",
                "deadline": deadline.isoformat(),
                "assigned_on": assigned_on.isoformat(),
            },
        )
    co_ids: list[int] = []
    for code in dict.fromkeys(data.co_units):
        uid = units.get_by_code(session, code).id
        if uid == lead_unit_id:
            raise InvalidInput(
                "Đơn vị chủ trì thực hiện không đồng thời là đơn vị phối hợp.", details={"field": "co_units"}
            )
        _require_assignable(session, actor, assigning_unit_id, uid, "co_units")
        co_ids.append(uid)
    task = Task(
        meeting_id=meeting_id,
        conclusion_id=data.conclusion_id,
        segment_id=segment_id,
        at_s=at_s,
        assigning_unit_id=assigning_unit_id,
        lead_unit_id=lead_unit_id,
        title=title.strip(),
        description=data.description.strip(),
        assigned_on=assigned_on,
        deadline=deadline,
        state=TaskState.ASSIGNED,
        created_by_id=actor.id,
        co_units=[TaskUnit(unit_id=uid) for uid in co_ids],
    )
    session.add(task)
    session.flush()
    audit.record(
        session,
        actor,
        "task.create",
        "task",
        task.id,
        {"lead_unit_id": lead_unit_id, "co_unit_ids": co_ids, "deadline": deadline.isoformat(),
         "meeting_id": meeting_id, "conclusion_id": data.conclusion_id, "segment_id": segment_id},
    )  # fmt: skip
    data_out = {"task_id": task.id, "deadline": deadline.isoformat()}
    notifications.notify(
        session,
        dedupe_key=f"task:{task.id}:assigned:{lead_unit_id}",
        kind="task_assigned",
        text=f"Nhiệm vụ mới: {task.title} — hạn {vn_date(deadline)}.",
        data=data_out,
        unit_id=lead_unit_id,
    )
    for uid in co_ids:
        notifications.notify(
            session,
            dedupe_key=f"task:{task.id}:coordinate:{uid}",
            kind="task_coordinate",
            text=f"Phối hợp thực hiện nhiệm vụ: {task.title} — hạn {vn_date(deadline)}.",
            data=data_out,
            unit_id=uid,
        )
    search.index_task(session, task.id)
    return _load(session, task.id)


# ---- the lifecycle -------------------------------------------------------------------------------------


def add_report(
    db: Database,
    actor: Actor,
    task_id: int,
    data: ReportInput,
    uploads: Sequence[EvidenceUpload],
    evidence_dir: Path,
    max_bytes: int,
    today: dt.date,
) -> ReportView:
    """A progress note or a report of completion, with evidence files, in its own transaction."""
    checked = check_uploads(uploads, max_bytes)
    with removed_unless_committed() as written, db.session() as session:
        task = get_visible(session, actor, task_id)
        if data.kind == "done":
            policy.require(can_report(actor, task), "Chỉ đơn vị chủ trì thực hiện được báo cáo hoàn thành.")
            if task.state not in (TaskState.ASSIGNED, TaskState.IN_PROGRESS, TaskState.RETURNED):
                raise Conflict(
                    f"Nhiệm vụ đang ở trạng thái {task.state.value}, không báo cáo hoàn thành được."
                )
            if not data.note.strip():
                raise InvalidInput("Báo cáo hoàn thành cần có nội dung.", details={"field": "note"})
        else:
            policy.require(can_note(actor, task), "Đơn vị của bạn không được báo cáo tiến độ nhiệm vụ này.")
            if task.state is TaskState.ACCEPTED:
                raise Conflict("Nhiệm vụ đã được nghiệm thu.")
            if not data.note.strip() and data.progress_pct is None and not checked:
                raise InvalidInput("Báo cáo tiến độ cần có nội dung.", details={"field": "note"})
        report = TaskReport(
            task_id=task.id,
            unit_id=actor.unit_id,
            user_id=actor.id,
            kind=data.kind,
            note=data.note.strip(),
            progress_pct=100 if data.kind == "done" else data.progress_pct,
        )
        session.add(report)
        before = task.state
        if data.kind == "done":
            task.state, task.completed_on = TaskState.REPORTED_DONE, today
        elif can_report(actor, task) and task.state in (TaskState.ASSIGNED, TaskState.RETURNED):
            task.state = TaskState.IN_PROGRESS
        session.flush()
        store_evidence(session, report.id, checked, evidence_dir, written)
        session.flush()
        audit.record(
            session,
            actor,
            f"task.report.{data.kind}",
            "task",
            task.id,
            {"report_id": report.id, "state": [before.value, task.state.value], "files": len(checked)},
        )
        if data.kind == "done":
            notifications.notify(
                session,
                dedupe_key=f"report:{report.id}:done",
                kind="task_reported_done",
                text=f"{actor.unit_name} báo cáo hoàn thành nhiệm vụ: {task.title}.",
                data={"task_id": task.id, "report_id": report.id},
                unit_id=task.assigning_unit_id,
            )
        search.index_task(session, task.id)
        return _report_view(session, report, units_by_id(session))


def review(session: Session, actor: Actor, task_id: int, data: ReviewInput) -> Task:
    """The assigning unit accepts a task reported done, or returns it (with a reason) to in progress."""
    task = get_visible(session, actor, task_id)
    policy.require(
        can_assign(actor, task.assigning_unit_id), "Chỉ đơn vị giao việc được nghiệm thu nhiệm vụ."
    )
    if task.state is not TaskState.REPORTED_DONE:
        raise Conflict("Nhiệm vụ chưa được báo cáo hoàn thành.", details={"state": task.state.value})
    if data.decision == "return" and not data.note.strip():
        raise InvalidInput("Trả lại nhiệm vụ cần ghi rõ lý do.", details={"field": "note"})
    report = TaskReport(
        task_id=task.id, unit_id=actor.unit_id, user_id=actor.id, kind=data.decision, note=data.note.strip()
    )
    session.add(report)
    if data.decision == "accept":
        task.state = TaskState.ACCEPTED
        text = f"Nhiệm vụ đã được nghiệm thu: {task.title}."
    else:
        task.state, task.completed_on = TaskState.RETURNED, None
        text = f"Nhiệm vụ bị trả lại: {task.title}. Lý do: {data.note.strip()}"
    session.flush()
    audit.record(
        session, actor, f"task.{data.decision}", "task", task.id, {"report_id": report.id, "note": data.note}
    )
    notifications.notify(
        session,
        dedupe_key=f"report:{report.id}:{data.decision}",
        kind=f"task_{'accepted' if data.decision == 'accept' else 'returned'}",
        text=text,
        data={"task_id": task.id, "report_id": report.id},
        unit_id=task.lead_unit_id,
    )
    search.index_task(session, task.id)
    return task


def evidence_file(
    session: Session, actor: Actor, task_id: int, evidence_id: int, evidence_dir: Path
) -> EvidenceFile:
    """The stored file of one evidence item, for whoever may see the task."""
    task = get_visible(session, actor, task_id)
    return find_evidence_file(session, task.id, evidence_id, evidence_dir)
