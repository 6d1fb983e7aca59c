"""The clock the services read 'now' and 'today' from, so tests can move time (deadlines, reminders)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

VIETNAM_TZ = ZoneInfo("Asia/Ho_Chi_Minh")


class Clock:
    """Wall-clock time; 'today' is the date in Vietnam (UTC+7), where deadlines fall."""

    def now(self) -> dt.datetime:
        return dt.datetime.now(dt.UTC)

    def today(self) -> dt.date:
        return self.now().astimezone(VIETNAM_TZ).date()


@dataclass
class FixedClock(Clock):
    """A clock that stands still until moved (tests)."""

    at: dt.datetime = field(default_factory=lambda: dt.datetime.now(dt.UTC))

    def now(self) -> dt.datetime:
        return self.at

    def advance(self, **delta: float) -> None:
        self.at = self.at + dt.timedelta(**delta)

    def set_today(self, day: dt.date) -> None:
        self.at = dt.datetime(day.year, day.month, day.day, 9, 0, tzinfo=VIETNAM_TZ).astimezone(dt.UTC)
