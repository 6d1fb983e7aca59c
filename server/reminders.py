"""Deadline reminders: N days before a task's deadline and on the day it becomes overdue, each exactly once.

:class:`ReminderScheduler` reads 'today' from the app's clock. Each :meth:`~ReminderScheduler.tick` looks at
the tasks whose lead unit still has work to do (assigned, in progress, returned: a task reported done and
awaiting review is not reminded) and writes, to the lead unit, at most one notification per (task, kind,
deadline):

- ``task_due_soon`` when today is within ``settings.reminder_days_before`` calendar days before the deadline
  (deadline - N <= today <= deadline);
- ``task_overdue`` when today is after the deadline. A task already overdue gets no late "due soon".

Once-only comes from ``Notification.dedupe_key`` (``reminder:due_soon:<task>:<deadline>`` and
``reminder:overdue:<task>:<deadline>``), unique in the database: a restart, a second process or a second tick
on the same day writes nothing new. An approved extension changes the deadline and so allows new reminders
for the new deadline.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging

from sqlalchemy import select

from server.clock import Clock
from server.config import Settings
from server.db import Database
from server.models import Task
from server.services import notifications
from server.services.task_status import WORK_STATES
from server.services.tasks import vn_date

log = logging.getLogger(__name__)

DEFAULT_INTERVAL_S = 300.0


class ReminderScheduler:
    def __init__(self, db: Database, clock: Clock, settings: Settings) -> None:
        self.db = db
        self.clock = clock
        self.days_before = max(0, settings.reminder_days_before)

    def tick(self) -> int:
        """Send the reminders due today; returns how many were written now (0 when all were sent before)."""
        today = self.clock.today()
        horizon = today + dt.timedelta(days=self.days_before)
        sent = 0
        with self.db.session() as session:
            due = session.scalars(
                select(Task).where(Task.state.in_(WORK_STATES), Task.deadline <= horizon).order_by(Task.id)
            )
            for task in due:
                deadline = task.deadline
                data = {"task_id": task.id, "deadline": deadline.isoformat()}
                if today > deadline:
                    days = (today - deadline).days
                    written = notifications.notify(
                        session,
                        dedupe_key=f"reminder:overdue:{task.id}:{deadline.isoformat()}",
                        kind="task_overdue",
                        text=f"Nhiệm vụ quá hạn ({vn_date(deadline)}, trễ {days} ngày): {task.title}.",
                        data=data,
                        unit_id=task.lead_unit_id,
                    )
                else:
                    days = (deadline - today).days
                    when = "hôm nay" if days == 0 else f"còn {days} ngày"
                    written = notifications.notify(
                        session,
                        dedupe_key=f"reminder:due_soon:{task.id}:{deadline.isoformat()}",
                        kind="task_due_soon",
                        text=f"Nhiệm vụ sắp đến hạn {vn_date(deadline)} ({when}): {task.title}.",
                        data=data,
                        unit_id=task.lead_unit_id,
                    )
                sent += int(written)
        if sent:
            log.info("reminders: %d sent for %s", sent, today.isoformat())
        return sent

    async def run(self, stop: asyncio.Event, interval_s: float = DEFAULT_INTERVAL_S) -> None:
        """Tick now and every ``interval_s`` seconds until ``stop`` is set; a failed tick is logged."""
        while not stop.is_set():
            try:
                await asyncio.to_thread(self.tick)
            except Exception:
                log.exception("reminder tick failed; retrying in %.0f s", interval_s)
            try:
                await asyncio.wait_for(stop.wait(), timeout=interval_s)
            except TimeoutError:
                pass
