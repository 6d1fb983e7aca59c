"""A task's status as government reports count it (QĐ 42/2014/QĐ-TTg, amended by QĐ 23/2018/QĐ-TTg).

The status is never typed in: it is computed from the workflow state (typed in by people), the deadline, the
completion date and today's date (``app.state.clock.today()``, the date in Vietnam). Pure functions, no I/O.

Definitions (``deadline`` is the current deadline, after any approved extension; a task is due by the end of
its deadline day, :func:`server.domain.workdays.is_overdue`):

=====================  ===============================================================================
status                 when
=====================  ===============================================================================
``not_yet_due``        state ``assigned`` (the lead unit has not reported anything) and today <= deadline
``in_progress``        state ``in_progress`` or ``returned`` and today <= deadline; or state
                       ``reported_done`` with the report made on or before the deadline (whatever today)
``overdue``            not accepted and today > deadline, except a task reported done on or before the
                       deadline and still awaiting review; a task reported done after the deadline and not
                       yet accepted is overdue
``completed_on_time``  state ``accepted`` and completion date <= deadline
``completed_late``     state ``accepted`` and completion date > deadline
=====================  ===============================================================================

The completion date is the day the lead unit reported the task done (``Task.completed_on``), not the day the
chairing unit accepted it: a unit is not late because its report waited for review. Until accepted, a task
is *not completed* in the counts; a task reported done in time therefore stays "in progress (within the
deadline)" while it awaits review, even after the deadline has passed, and turns into "completed on time"
when accepted. A returned task loses its completion date (the work did not count) and goes back to in
progress; its next report of completion sets a new one.

The per-unit report's columns: *assigned* (all), *completed on time*, *completed late*, *in progress*
(``not_yet_due`` + ``in_progress``: not completed, within the deadline), *overdue* (not completed, overdue)
and *% overdue* = overdue / assigned × 100.
"""

from __future__ import annotations

import datetime as dt
import enum
from dataclasses import dataclass

from server.domain.workdays import is_overdue
from server.models import TaskState


class TaskStatus(enum.StrEnum):
    NOT_YET_DUE = "not_yet_due"
    IN_PROGRESS = "in_progress"
    OVERDUE = "overdue"
    COMPLETED_ON_TIME = "completed_on_time"
    COMPLETED_LATE = "completed_late"


#: Vietnamese labels, as printed in reports.
STATUS_LABELS: dict[TaskStatus, str] = {
    TaskStatus.NOT_YET_DUE: "Chưa đến hạn",
    TaskStatus.IN_PROGRESS: "Đang thực hiện trong hạn",
    TaskStatus.OVERDUE: "Quá hạn",
    TaskStatus.COMPLETED_ON_TIME: "Hoàn thành đúng hạn",
    TaskStatus.COMPLETED_LATE: "Hoàn thành quá hạn",
}

#: States in which the lead unit still has work to do (reminders go to these).
WORK_STATES = frozenset({TaskState.ASSIGNED, TaskState.IN_PROGRESS, TaskState.RETURNED})

#: States that are not completed in the counts.
OPEN_STATES = WORK_STATES | {TaskState.REPORTED_DONE}


def compute_status(
    state: TaskState, deadline: dt.date, completed_on: dt.date | None, today: dt.date
) -> TaskStatus:
    """The status of one task on ``today`` (see the module docstring for the rules)."""
    if state is TaskState.ACCEPTED:
        done = completed_on if completed_on is not None else today
        return TaskStatus.COMPLETED_LATE if is_overdue(deadline, done) else TaskStatus.COMPLETED_ON_TIME
    if state is TaskState.REPORTED_DONE and completed_on is not None:
        return TaskStatus.OVERDUE if is_overdue(deadline, completed_on) else TaskStatus.IN_PROGRESS
    if is_overdue(deadline, today):
        return TaskStatus.OVERDUE
    return TaskStatus.NOT_YET_DUE if state is TaskState.ASSIGNED else TaskStatus.IN_PROGRESS


@dataclass(frozen=True)
class StatusCounts:
    """One row of the per-unit report."""

    assigned: int = 0
    completed_on_time: int = 0
    completed_late: int = 0
    in_progress: int = 0
    overdue: int = 0

    @property
    def overdue_pct(self) -> float:
        return round(100.0 * self.overdue / self.assigned, 1) if self.assigned else 0.0

    def add(self, status: TaskStatus) -> StatusCounts:
        return StatusCounts(
            assigned=self.assigned + 1,
            completed_on_time=self.completed_on_time + (status is TaskStatus.COMPLETED_ON_TIME),
            completed_late=self.completed_late + (status is TaskStatus.COMPLETED_LATE),
            in_progress=self.in_progress + (status in (TaskStatus.NOT_YET_DUE, TaskStatus.IN_PROGRESS)),
            overdue=self.overdue + (status is TaskStatus.OVERDUE),
        )
