"""The per-unit report of follow-up tasks: for each lead unit, the tasks assigned in a period counted by
status (completed on time or late, in progress, overdue) as of a day, with a total row.

Every unit under the reader's own unit is listed, with zeros when it was given no task in the period (a
commune with nothing assigned is a fact the report shows, not a missing line); the reader's unit itself is
listed when it leads a task or has no unit below it.
"""

from __future__ import annotations

import datetime as dt

from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.orm import Session

from server.errors import InvalidInput
from server.models import Task
from server.services import tasks, units
from server.services.context import Actor
from server.services.task_status import StatusCounts, compute_status


class UnitReportRow(BaseModel):
    unit: str
    unit_name: str
    assigned: int
    completed_on_time: int
    completed_late: int
    in_progress: int
    overdue: int
    overdue_pct: float


class UnitReport(BaseModel):
    from_date: dt.date
    to_date: dt.date
    as_of: dt.date
    rows: list[UnitReportRow]
    total: UnitReportRow


def _row(code: str, name: str, c: StatusCounts) -> UnitReportRow:
    return UnitReportRow(
        unit=code,
        unit_name=name,
        assigned=c.assigned,
        completed_on_time=c.completed_on_time,
        completed_late=c.completed_late,
        in_progress=c.in_progress,
        overdue=c.overdue,
        overdue_pct=c.overdue_pct,
    )


def unit_report(
    session: Session, actor: Actor, today: dt.date, from_date: dt.date | None, to_date: dt.date | None
) -> UnitReport:
    """Counts per lead unit of the tasks the actor may see that were assigned in [from, to], as of today.

    Defaults: from 1 January of this year, to today. The statuses are those of :mod:`task_status`.
    """
    start = from_date or dt.date(today.year, 1, 1)
    end = to_date or today
    if start > end:
        raise InvalidInput("Ngày bắt đầu kỳ báo cáo sau ngày kết thúc.", details={"field": "from"})
    stmt = select(Task).where(Task.assigned_on >= start, Task.assigned_on <= end)
    if not actor.is_admin:
        stmt = stmt.where(tasks.visible_clause(actor))
    counts: dict[int, StatusCounts] = {}
    total = StatusCounts()
    for task in session.scalars(stmt):
        status = compute_status(task.state, task.deadline, task.completed_on, today)
        counts[task.lead_unit_id] = counts.get(task.lead_unit_id, StatusCounts()).add(status)
        total = total.add(status)
    by_id = tasks.units_by_id(session)
    below = units.descendant_ids(session, actor.unit_id)
    listed = set(counts) | (below - {actor.unit_id} if len(below) > 1 else below)
    order = sorted(
        listed, key=lambda uid: (by_id[uid].parent_id is not None, by_id[uid].position, by_id[uid].code)
    )
    return UnitReport(
        from_date=start,
        to_date=end,
        as_of=today,
        rows=[_row(by_id[uid].code, by_id[uid].name, counts.get(uid, StatusCounts())) for uid in order],
        total=_row("", "Tổng cộng", total),
    )
