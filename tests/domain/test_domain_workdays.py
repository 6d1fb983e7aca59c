"""Working-day arithmetic and the holiday table (server.domain.workdays)."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from server.domain.workdays import (
    DEFAULT_HOLIDAYS,
    DEFAULT_SWAPPED_WORKING_DAYS,
    LUNAR_NEW_YEAR,
    VN_PUBLIC_HOLIDAYS,
    add_working_days,
    conclusion_notice_due,
    is_overdue,
    is_working_day,
)


def test_across_a_weekend() -> None:
    friday = date(2026, 3, 6)
    assert add_working_days(friday, 1, holidays=()) == date(2026, 3, 9)  # Monday
    assert add_working_days(friday, 5, holidays=()) == date(2026, 3, 13)
    assert add_working_days(date(2026, 3, 7), 1, holidays=()) == date(2026, 3, 9)  # from a Saturday


def test_across_a_holiday() -> None:
    # Wed 29/4/2026 + 3: Thu 30/4 and Fri 1/5 are holidays, Sat/Sun off -> Mon 4/5, Tue 5/5, Wed 6/5.
    assert add_working_days(date(2026, 4, 29), 3) == date(2026, 5, 6)
    # The same without holidays counts Thu, Fri, Mon.
    assert add_working_days(date(2026, 4, 29), 3, holidays=()) == date(2026, 5, 4)


def test_custom_holidays_are_used() -> None:
    extra = {date(2026, 3, 10)}
    assert add_working_days(date(2026, 3, 9), 1, holidays=extra) == date(2026, 3, 11)


def test_swapped_saturday_counts_as_working() -> None:
    # Thu 20/8/2026: Fri 21/8, then Sat 22/8/2026 is worked (swap for Mon 31/8).
    assert add_working_days(date(2026, 8, 20), 2, working_weekend_days=DEFAULT_SWAPPED_WORKING_DAYS) == date(
        2026, 8, 22
    )
    assert add_working_days(date(2026, 8, 20), 2) == date(2026, 8, 24)


def test_zero_and_negative() -> None:
    sunday = date(2026, 3, 8)
    assert add_working_days(sunday, 0) == sunday
    assert add_working_days(date(2026, 3, 9), -1) == date(2026, 3, 6)


@pytest.mark.parametrize(
    ("meeting", "due"),
    [
        (date(2026, 3, 2), date(2026, 3, 9)),  # Monday -> next Monday
        (date(2026, 3, 6), date(2026, 3, 13)),  # Friday -> next Friday
        (date(2026, 2, 12), date(2026, 2, 26)),  # across the 2026 Tết break (16–20/2)
        (date(2026, 4, 27), date(2026, 5, 6)),  # Giỗ Tổ observed 27/4 is itself a day off; 30/4, 1/5 skipped
        (date(2025, 8, 28), date(2025, 9, 8)),  # Quốc khánh Mon 1 – Tue 2/9/2025
    ],
)
def test_conclusion_notice_due_in_five_working_days(meeting: date, due: date) -> None:
    assert conclusion_notice_due(meeting) == due


def test_is_overdue_from_the_day_after() -> None:
    due = date(2026, 5, 15)
    assert not is_overdue(due, due)
    assert not is_overdue(due, due - timedelta(days=3))
    assert is_overdue(due, due + timedelta(days=1))


def test_holiday_table_shape() -> None:
    days = [d for d, _ in VN_PUBLIC_HOLIDAYS]
    assert len(days) == len(set(days)) == len(DEFAULT_HOLIDAYS)
    assert all(d.weekday() < 5 for d in days), "the table lists the weekdays taken off"
    for year in (2025, 2026, 2027):
        in_year = [d for d in days if d.year == year]
        assert date(year, 1, 1) in in_year or date(year, 1, 2) in in_year
        assert sum(1 for d in in_year if d.month in (1, 2) and d != date(year, 1, 1)) == 5, "5 days of Tết"
        assert any(d.month == 9 and d.day in (1, 2, 3) for d in in_year)
    for saturday in DEFAULT_SWAPPED_WORKING_DAYS:
        assert saturday.weekday() == 5
        assert not is_working_day(saturday)
        assert is_working_day(saturday, working_weekend_days=DEFAULT_SWAPPED_WORKING_DAYS)
    assert [d.year for d in LUNAR_NEW_YEAR] == [2025, 2026, 2027, 2028]
    assert date(2025, 1, 29) in DEFAULT_HOLIDAYS and date(2026, 2, 17) in DEFAULT_HOLIDAYS
