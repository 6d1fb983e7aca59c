"""Extensions of a task's deadline: the lead unit asks (one pending request at a time, a later date, a
reason), the assigning unit approves (the deadline moves, audited with the old and new dates) or refuses; both
sides are notified and the search index follows."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict
from sqlalchemy import select
from sqlalchemy.orm import Session

from server.errors import Conflict, InvalidInput, NotFound
from server.models import ExtensionRequest, TaskState, utcnow
from server.services import audit, notifications, policy, search, tasks
from server.services.context import Actor
from server.services.inputs import Text


class ExtensionCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    new_deadline: dt.date
    reason: Annotated[str, Text(tasks.MAX_NOTE_CHARS, multiline=True)]


class ExtensionDecision(BaseModel):
    model_config = ConfigDict(extra="forbid")
    decision: Literal["approve", "refuse"]
    note: Annotated[str, Text(tasks.MAX_NOTE_CHARS, multiline=True, required=False)] = ""


def request_extension(
    session: Session, actor: Actor, task_id: int, data: ExtensionCreate
) -> ExtensionRequest:
    task = tasks.get_visible(session, actor, task_id)
    policy.require(tasks.can_report(actor, task), "Chỉ đơn vị chủ trì thực hiện được xin gia hạn.")
    if task.state is TaskState.ACCEPTED:
        raise Conflict("Nhiệm vụ đã được nghiệm thu.")
    if data.new_deadline <= task.deadline:
        raise InvalidInput(
            f"Thời hạn mới phải sau thời hạn hiện tại {tasks.vn_date(task.deadline)}.",
            details={"field": "new_deadline"},
        )
    pending = session.scalar(
        select(ExtensionRequest.id).where(
            ExtensionRequest.task_id == task.id, ExtensionRequest.decision == "pending"
        )
    )
    if pending is not None:
        raise Conflict("Đã có một đề nghị gia hạn đang chờ quyết định.", details={"extension": pending})
    ext = ExtensionRequest(
        task_id=task.id, requested_by_id=actor.id, new_deadline=data.new_deadline, reason=data.reason.strip()
    )
    session.add(ext)
    session.flush()
    audit.record(
        session, actor, "task.extension.request", "task", task.id,
        {"extension_id": ext.id, "new_deadline": data.new_deadline.isoformat(), "reason": data.reason},
    )  # fmt: skip
    notifications.notify(
        session,
        dedupe_key=f"extension:{ext.id}:requested",
        kind="extension_requested",
        text=f"{actor.unit_name} xin gia hạn nhiệm vụ {task.title} đến {tasks.vn_date(data.new_deadline)}.",
        data={"task_id": task.id, "extension_id": ext.id},
        unit_id=task.assigning_unit_id,
    )
    return ext


def decide_extension(
    session: Session, actor: Actor, task_id: int, extension_id: int, data: ExtensionDecision
) -> ExtensionRequest:
    """Approve (the deadline moves, audited with the old and new dates) or refuse an extension request."""
    task = tasks.get_visible(session, actor, task_id)
    ext = session.get(ExtensionRequest, extension_id)
    if ext is None or ext.task_id != task.id:
        raise NotFound(f"Không tìm thấy đề nghị gia hạn {extension_id}.", details={"extension": extension_id})
    policy.require(
        tasks.can_assign(actor, task.assigning_unit_id), "Chỉ đơn vị giao việc được quyết định gia hạn."
    )
    if ext.decision != "pending":
        raise Conflict("Đề nghị gia hạn đã được quyết định.", details={"decision": ext.decision})
    old_deadline = task.deadline
    ext.decision = "approved" if data.decision == "approve" else "refused"
    ext.decided_by_id, ext.decided_at = actor.id, utcnow()
    if ext.decision == "approved":
        task.deadline = ext.new_deadline
        text = f"Nhiệm vụ {task.title} được gia hạn đến {tasks.vn_date(ext.new_deadline)}."
    else:
        text = f"Đề nghị gia hạn nhiệm vụ {task.title} không được chấp thuận. {data.note.strip()}".strip()
    audit.record(
        session, actor, f"task.extension.{data.decision}", "task", task.id,
        {"extension_id": ext.id, "old_deadline": old_deadline.isoformat(),
         "new_deadline": task.deadline.isoformat(), "note": data.note},
    )  # fmt: skip
    notifications.notify(
        session,
        dedupe_key=f"extension:{ext.id}:{ext.decision}",
        kind=f"extension_{ext.decision}",
        text=text,
        data={"task_id": task.id, "extension_id": ext.id, "deadline": task.deadline.isoformat()},
        unit_id=task.lead_unit_id,
    )
    session.flush()
    search.index_task(session, task.id)
    return ext
