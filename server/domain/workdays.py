"""Working-day arithmetic for deadlines of the public sector (Saturday and Sunday off, public holidays off).

The default holiday list covers 2025–2027 for cán bộ, công chức, viên chức. It is data, not a rule engine:
deployments pass their own list (a new year's official notice, a province's extra day) wherever a function
takes ``holidays``.

Sources:

- Labour Code 2019 (Bộ luật Lao động 45/2019/QH14), Art. 112: Tết Dương lịch 1 day; Tết Âm lịch 5 days;
  Giỗ Tổ Hùng Vương (10/3 âm lịch) 1 day; 30/4 and 1/5; Quốc khánh 2/9 plus one adjacent day (before or
  after, chosen each year); a holiday that falls on a weekend is taken on the next working day (nghỉ bù).
- 2025: Thông báo 6150/TB-BLĐTBXH (2024): Tết Ất Tỵ Mon 27/1 – Fri 31/1/2025 (9 days with the weekends);
  30/4–4/5/2025 with Fri 2/5 taken off in exchange for working Sat 26/4/2025; Quốc khánh Mon 1/9 – Tue 2/9.
- 2026: the Prime Minister's approval of the Ministry of Home Affairs' plan: Tết Bính Ngọ Sat 14/2 – Sun
  22/2/2026 (working days off Mon 16/2 – Fri 20/2); Giỗ Tổ Sun 26/4 taken on Mon 27/4; Quốc khánh Tue 1/9 –
  Wed 2/9 with Mon 31/8 taken off in exchange for working Sat 22/8/2026. Resolution 80-NQ/TW made 24/11
  (Ngày Văn hóa Việt Nam) a paid day off from 2026.
- 2027: no official notice yet when this list was written: the statutory days with nghỉ bù are listed
  (Tết Đinh Mùi falls on Sat 6/2/2027). Replace them when the 2027 notice is published.

Cross-checked against python-holidays 0.108 (``holidays.country_holidays("VN")``).
"""

from __future__ import annotations

import logging
from collections.abc import Collection
from datetime import date, timedelta

logger = logging.getLogger(__name__)

#: Conclusion notice (Thông báo kết luận) is due this many working days after the meeting (QĐ 45/2018/QĐ-TTg).
CONCLUSION_NOTICE_WORKING_DAYS = 5

#: Saturday and Sunday, as ``date.weekday()`` values.
WEEKEND_WEEKDAYS = frozenset({5, 6})

#: Public holidays (working days off) for the public sector, 2025–2027, with their Vietnamese names.
VN_PUBLIC_HOLIDAYS: tuple[tuple[date, str], ...] = (
    # 2025
    (date(2025, 1, 1), "Tết Dương lịch"),
    (date(2025, 1, 27), "Tết Nguyên đán (28 tháng Chạp)"),
    (date(2025, 1, 28), "Tết Nguyên đán (29 tháng Chạp, giao thừa)"),
    (date(2025, 1, 29), "Tết Nguyên đán (mùng 1)"),
    (date(2025, 1, 30), "Tết Nguyên đán (mùng 2)"),
    (date(2025, 1, 31), "Tết Nguyên đán (mùng 3)"),
    (date(2025, 4, 7), "Giỗ Tổ Hùng Vương"),
    (date(2025, 4, 30), "Ngày Giải phóng miền Nam, thống nhất đất nước"),
    (date(2025, 5, 1), "Ngày Quốc tế Lao động"),
    (date(2025, 5, 2), "Nghỉ hoán đổi (làm bù thứ Bảy 26/4/2025)"),
    (date(2025, 9, 1), "Quốc khánh (ngày liền kề)"),
    (date(2025, 9, 2), "Quốc khánh"),
    # 2026
    (date(2026, 1, 1), "Tết Dương lịch"),
    (date(2026, 2, 16), "Tết Nguyên đán (29 tháng Chạp, giao thừa)"),
    (date(2026, 2, 17), "Tết Nguyên đán (mùng 1)"),
    (date(2026, 2, 18), "Tết Nguyên đán (mùng 2)"),
    (date(2026, 2, 19), "Tết Nguyên đán (mùng 3)"),
    (date(2026, 2, 20), "Tết Nguyên đán (mùng 4)"),
    (date(2026, 4, 27), "Giỗ Tổ Hùng Vương (nghỉ bù cho Chủ nhật 26/4)"),
    (date(2026, 4, 30), "Ngày Giải phóng miền Nam, thống nhất đất nước"),
    (date(2026, 5, 1), "Ngày Quốc tế Lao động"),
    (date(2026, 8, 31), "Nghỉ hoán đổi (làm bù thứ Bảy 22/8/2026)"),
    (date(2026, 9, 1), "Quốc khánh (ngày liền kề)"),
    (date(2026, 9, 2), "Quốc khánh"),
    (date(2026, 11, 24), "Ngày Văn hóa Việt Nam"),
    # 2027 (statutory days with nghỉ bù; to be confirmed by the 2027 notice)
    (date(2027, 1, 1), "Tết Dương lịch"),
    (date(2027, 2, 4), "Tết Nguyên đán (ngày trước giao thừa)"),
    (date(2027, 2, 5), "Tết Nguyên đán (giao thừa)"),
    (date(2027, 2, 8), "Tết Nguyên đán (nghỉ bù cho mùng 1)"),
    (date(2027, 2, 9), "Tết Nguyên đán (nghỉ bù cho mùng 2)"),
    (date(2027, 2, 10), "Tết Nguyên đán (mùng 5)"),
    (date(2027, 4, 16), "Giỗ Tổ Hùng Vương"),
    (date(2027, 4, 30), "Ngày Giải phóng miền Nam, thống nhất đất nước"),
    (date(2027, 5, 3), "Ngày Quốc tế Lao động (nghỉ bù cho thứ Bảy 1/5)"),
    (date(2027, 9, 2), "Quốc khánh"),
    (date(2027, 9, 3), "Quốc khánh (ngày liền kề)"),
    (date(2027, 11, 24), "Ngày Văn hóa Việt Nam"),
)

#: The default holiday dates, for the ``holidays`` parameters below.
DEFAULT_HOLIDAYS: frozenset[date] = frozenset(d for d, _ in VN_PUBLIC_HOLIDAYS)

#: Saturdays worked in exchange for a weekday off (hoán đổi ngày làm việc).
DEFAULT_SWAPPED_WORKING_DAYS: frozenset[date] = frozenset({date(2025, 4, 26), date(2026, 8, 22)})

#: Lunar New Year's day (mùng 1 Tết Nguyên đán), for "trước Tết" deadlines.
LUNAR_NEW_YEAR: tuple[date, ...] = (
    date(2025, 1, 29),
    date(2026, 2, 17),
    date(2027, 2, 6),
    date(2028, 1, 26),
)


def is_working_day(
    day: date, holidays: Collection[date] = DEFAULT_HOLIDAYS, working_weekend_days: Collection[date] = ()
) -> bool:
    """True for Monday–Friday that is not a holiday, and for a weekend day listed as worked."""
    if day in working_weekend_days:
        return True
    return day.weekday() not in WEEKEND_WEEKDAYS and day not in holidays


def add_working_days(
    start: date,
    n: int,
    holidays: Collection[date] = DEFAULT_HOLIDAYS,
    working_weekend_days: Collection[date] = (),
) -> date:
    """The date ``n`` working days after ``start`` (before it when ``n`` is negative).

    ``start`` itself is not counted: Friday + 1 is the next Monday (if that is not a holiday). ``n == 0``
    returns ``start`` unchanged even when it is not a working day.
    """
    step = 1 if n >= 0 else -1
    remaining = abs(n)
    day = start
    while remaining:
        day += timedelta(days=step)
        if is_working_day(day, holidays, working_weekend_days):
            remaining -= 1
    return day


def last_working_day_on_or_before(
    day: date, holidays: Collection[date] = DEFAULT_HOLIDAYS, working_weekend_days: Collection[date] = ()
) -> date:
    """``day`` if it is a working day, else the closest working day before it."""
    while not is_working_day(day, holidays, working_weekend_days):
        day -= timedelta(days=1)
    return day


def conclusion_notice_due(
    meeting_day: date,
    holidays: Collection[date] = DEFAULT_HOLIDAYS,
    working_weekend_days: Collection[date] = DEFAULT_SWAPPED_WORKING_DAYS,
) -> date:
    """Due date of the conclusion notice: 5 working days after the meeting (QĐ 45/2018/QĐ-TTg)."""
    return add_working_days(meeting_day, CONCLUSION_NOTICE_WORKING_DAYS, holidays, working_weekend_days)


def is_overdue(due: date, today: date) -> bool:
    """A task due on ``due`` is overdue from the day after it (work done on the due day is on time)."""
    return today > due


def next_lunar_new_year(after: date) -> date | None:
    """The first mùng 1 Tết strictly after ``after``, if the table covers it."""
    for day in LUNAR_NEW_YEAR:
        if day > after:
            return day
    return None
