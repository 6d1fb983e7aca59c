"""When the conclusion notice (Thông báo kết luận) of a meeting is due, with the holidays configured here.

The notice is due 5 working days after the meeting day (QĐ 45/2018): weekends and public holidays are skipped
and swapped working days count (:func:`notice_due`, on top of :mod:`server.domain.workdays`). The holidays are
the built-in ones plus the ISO dates in ``GIAOBAN_HOLIDAYS`` (:func:`holidays_of`).
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Collection

from server.config import Settings
from server.domain.workdays import DEFAULT_HOLIDAYS, DEFAULT_SWAPPED_WORKING_DAYS, conclusion_notice_due
from server.models import Meeting
from server.services.search import local_day

log = logging.getLogger(__name__)


def holidays_of(settings: Settings) -> frozenset[dt.date]:
    """The built-in public holidays plus ``GIAOBAN_HOLIDAYS``."""
    extra: set[dt.date] = set()
    for value in settings.holidays:
        try:
            extra.add(dt.date.fromisoformat(value))
        except ValueError:
            log.warning("ignoring GIAOBAN_HOLIDAYS entry %r (not an ISO date)", value)
    return DEFAULT_HOLIDAYS | extra


def notice_due(meeting: Meeting, holidays: Collection[dt.date]) -> dt.date:
    """5 working days after the meeting day (QĐ 45/2018), weekends and ``holidays`` skipped."""
    return conclusion_notice_due(
        local_day(meeting.started_at or meeting.starts_at), holidays, DEFAULT_SWAPPED_WORKING_DAYS
    )
