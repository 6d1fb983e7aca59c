"""Vietnamese deadline expressions, resolved against a reference date (the meeting date).

Understood, with or without diacritics and in any case:

=====================================================  ==================================================
expression                                             due
=====================================================  ==================================================
"ngày 15 tháng 5", "ngày 15/5", "15-5", "mùng 5 tháng 6"  that day (year: see below)
"15/5/2026", "15.5.2026", "ngày 15 tháng 5 năm 2026"    that day
"trước 30/6", "chậm nhất ngày 30/6", "hạn chót 30/6"    that day (the marker is part of the match)
"trước ngày 20" (day only)                              that day of this month, or of the next if passed
"trong tháng 7", "hết tháng 7/2026", "cuối tháng 7"    last day of July
"trước tháng 7"                                         last day of June
"cuối tháng này", "trong tháng", "cuối tháng sau"      last day of this / next month
"cuối quý III", "quý 3", "trong quý này", "quý tới"    last day of the quarter (30/9 for quý III)
"cuối năm", "trong năm nay", "cuối năm 2026"           31 December
"tuần sau", "tuần tới", "trong tuần này", "cuối tuần"  Friday of next / this week
"trong 10 ngày", "trong vòng 2 tuần", "sau 1 tháng"    reference + that many days / weeks / months
"trong 5 ngày làm việc"                                reference + 5 working days
"trước Tết" (Nguyên đán)                               last working day before the Tết holidays
"ngày mai", "trong ngày hôm nay"                       reference + 1 / reference
=====================================================  ==================================================

A date written without a year takes the reference year; if that puts it more than
:data:`ROLLOVER_PAST_DAYS` before the reference date it means next year ("trước 15/1" said in December).
"""

from __future__ import annotations

import calendar
import logging
import re
from collections.abc import Callable, Collection
from dataclasses import dataclass
from datetime import date, timedelta

from server.domain.vntext import FoldedText, canon, fold_with_offsets
from server.domain.workdays import (
    DEFAULT_HOLIDAYS,
    LUNAR_NEW_YEAR,
    add_working_days,
    last_working_day_on_or_before,
)

logger = logging.getLogger(__name__)

#: A date without a year more than this many days before the reference date rolls over to next year.
ROLLOVER_PAST_DAYS = 61

#: "tuần sau" / "tuần tới" means the Friday of that week (weekday 4).
WEEK_DEADLINE_WEEKDAY = 4


@dataclass(frozen=True)
class ParsedDeadline:
    """A deadline found in a text: its date, the words that said it and their [start, end) span in it."""

    due: date
    text: str
    span: tuple[int, int]


_NUMBER_WORDS: dict[str, int] = {
    "mot": 1, "hai": 2, "ba": 3, "bon": 4, "tu": 4, "nam": 5, "lam": 5, "sau": 6, "bay": 7, "tam": 8,
    "chin": 9, "muoi": 10, "muoi lam": 15, "hai muoi": 20, "ba muoi": 30, "mot tram": 100,
}  # fmt: skip
_ROMAN: dict[str, int] = {"i": 1, "ii": 2, "iii": 3, "iv": 4}
_QUARTER_WORDS: dict[str, int] = {"mot": 1, "hai": 2, "ba": 3, "bon": 4, "tu": 4}

_NUM_WORDS_RE = "|".join(sorted((re.escape(w) for w in _NUMBER_WORDS), key=len, reverse=True))
_COUNT = rf"(?P<count>\d{{1,3}}|{_NUM_WORDS_RE})"
_DAY = r"(?P<day>[0-3]?\d)"
_MONTH = r"(?P<month>1[0-2]|0?[1-9]|gieng|chap)"
_YEAR = r"(?P<year>\d{4}|\d{2})"
_SEP = r"\s*[/\-]\s*"
# Words that make a bare date a deadline; they become part of the match.
_MARKER = (
    r"(?P<marker>(?:truoc|cham nhat(?: la| vao)?|muon nhat(?: la)?|han(?: chot| cuoi)?(?: la)?|"
    r"den(?: het)?|toi da|trong)\s+)?"
)
_END = r"(?![\w/\-])"
_START = r"(?<![\w/\-.])"


def _month_number(token: str) -> int:
    if token == "gieng":
        return 1
    if token == "chap":
        return 12
    return int(token)


def _year_number(token: str | None) -> int | None:
    if token is None:
        return None
    value = int(token)
    return value + 2000 if value < 100 else value


def _count_number(token: str) -> int:
    return int(token) if token.isdigit() else _NUMBER_WORDS[token]


def _month_end(year: int, month: int) -> date:
    return date(year, month, calendar.monthrange(year, month)[1])


def _add_months(day: date, months: int) -> date:
    index = day.year * 12 + day.month - 1 + months
    year, month = divmod(index, 12)
    month += 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def _roll(candidate: date, reference: date, year_given: bool) -> date:
    if not year_given and candidate < reference - timedelta(days=ROLLOVER_PAST_DAYS):
        return (
            candidate.replace(year=candidate.year + 1)
            if not (candidate.month == 2 and candidate.day == 29)
            else _month_end(candidate.year + 1, 2)
        )
    return candidate


@dataclass(frozen=True)
class _Context:
    reference: date
    holidays: Collection[date]
    folded: FoldedText

    def original(self, m: re.Match[str], group: str) -> str:
        """The original spelling of a matched group (the folded text has lost its diacritics)."""
        start, end = self.folded.span_in_original(m.start(group), m.end(group))
        return self.folded.original[start:end]


def _g(m: re.Match[str], name: str) -> str | None:
    """A named group's text, or None when the group did not take part (or the pattern lacks it)."""
    return m.groupdict().get(name)


def _req(m: re.Match[str], name: str) -> str:
    value = m.groupdict().get(name)
    if value is None:
        raise ValueError(f"group {name} did not match")
    return value


_Resolver = Callable[[re.Match[str], _Context], date | None]


def _explicit(m: re.Match[str], ctx: _Context) -> date | None:
    day = int(_req(m, "day"))
    month = _month_number(_req(m, "month"))
    year = _year_number(_g(m, "year"))
    try:
        candidate = date(year or ctx.reference.year, month, day)
    except ValueError:
        if year is None and month == 2 and day == 29:
            candidate = date(ctx.reference.year + 1, 2, 28)
        else:
            return None
    return _roll(candidate, ctx.reference, year is not None)


def _day_only(m: re.Match[str], ctx: _Context) -> date | None:
    day = int(_req(m, "day"))
    ref = ctx.reference
    for months_ahead in (0, 1, 2):
        month_start = _add_months(ref.replace(day=1), months_ahead)
        if day <= calendar.monthrange(month_start.year, month_start.month)[1]:
            candidate = month_start.replace(day=day)
            if candidate >= ref:
                return candidate
    return None


def _relative_month(word: str | None, ref: date) -> tuple[int, int]:
    offset = 1 if word in ("sau", "toi", "ke tiep") else 0
    shifted = _add_months(ref.replace(day=1), offset)
    return shifted.year, shifted.month


def _month_period(m: re.Match[str], ctx: _Context) -> date | None:
    ref = ctx.reference
    year = _year_number(_g(m, "year"))
    if _g(m, "month") is not None:
        month = _month_number(_req(m, "month"))
        y = year or ref.year
        if _g(m, "kw") == "truoc":
            month -= 1
            if month == 0:
                month, y = 12, y - 1
        return _roll(_month_end(y, month), ref, year is not None)
    rel = _g(m, "rel")
    if rel == "sau" and canon(ctx.original(m, "rel")).lower() == "sáu":
        return _roll(_month_end(ref.year, 6), ref, False)  # "tháng sáu" is June, "tháng sau" next month
    y, month = _relative_month(rel, ref)
    return _month_end(y, month)


def _quarter_end(year: int, quarter: int) -> date:
    return _month_end(year, quarter * 3)


def _quarter(m: re.Match[str], ctx: _Context) -> date | None:
    ref = ctx.reference
    year = _year_number(_g(m, "year"))
    token = _g(m, "q")
    current = (ref.month - 1) // 3 + 1
    if token in ("nay", None):
        quarter, y = current, ref.year
    elif token in ("sau", "toi", "ke tiep"):
        quarter, y = current + 1, ref.year
        if quarter == 5:
            quarter, y = 1, y + 1
    else:
        quarter = _ROMAN.get(token) or _QUARTER_WORDS.get(token) or int(token)
        y = year or ref.year
        if _g(m, "kw") == "truoc":
            quarter -= 1
            if quarter == 0:
                quarter, y = 4, y - 1
        return _roll(_quarter_end(y, quarter), ref, year is not None)
    return _quarter_end(y, quarter)


def _year_end(m: re.Match[str], ctx: _Context) -> date | None:
    year = _year_number(_g(m, "year")) or ctx.reference.year
    if _g(m, "rel") in ("sau", "toi"):
        year += 1
    return date(year, 12, 31)


def _week(m: re.Match[str], ctx: _Context) -> date | None:
    ref = ctx.reference
    monday = ref - timedelta(days=ref.weekday())
    if _g(m, "rel") in ("sau", "toi", "ke tiep"):
        monday += timedelta(days=7)
    return monday + timedelta(days=WEEK_DEADLINE_WEEKDAY)


def _relative(m: re.Match[str], ctx: _Context) -> date | None:
    count = _count_number(_req(m, "count"))
    if count <= 0:
        return None
    unit = _req(m, "unit")
    ref = ctx.reference
    if unit.startswith("ngay lam viec"):
        return add_working_days(ref, count, ctx.holidays)
    if unit == "ngay":
        return ref + timedelta(days=count)
    if unit == "tuan":
        return ref + timedelta(weeks=count)
    return _add_months(ref, count)


def _before_tet(m: re.Match[str], ctx: _Context) -> date | None:
    for tet in LUNAR_NEW_YEAR:
        if tet > ctx.reference:
            # Last working day before the Tết break (the break starts a few days before mùng 1).
            day = last_working_day_on_or_before(tet - timedelta(days=1), ctx.holidays)
            return day if day >= ctx.reference else None
    return None


def _tomorrow(m: re.Match[str], ctx: _Context) -> date | None:
    return ctx.reference + timedelta(days=1)


def _today(m: re.Match[str], ctx: _Context) -> date | None:
    return ctx.reference


_PERIOD_KW = r"(?P<kw>trong|cuoi|het|den het|den cuoi|truoc)"
_REL = r"(?P<rel>nay|sau|toi|ke tiep)"

# (pattern, resolver, inherently a deadline). Patterns run on folded text; earlier ones win ties.
_PATTERNS: tuple[tuple[re.Pattern[str], _Resolver, bool], ...] = (
    (
        re.compile(
            rf"{_START}{_MARKER}(?:ngay\s+)?(?:mung\s+)?{_DAY}\s+thang\s+{_MONTH}"
            rf"(?:\s*(?:nam|/|-)\s*{_YEAR})?{_END}"
        ),
        _explicit,
        False,
    ),
    (
        re.compile(
            rf"{_START}{_MARKER}(?:ngay\s+)?{_DAY}{_SEP}{_MONTH}(?:{_SEP}{_YEAR})?{_END}"
            r"(?!\s+(?:xa|ho|thon|lang|don vi|nguoi|chi tieu|tieu chi|truong|co so|phong)\b)"  # 9/10 xã
        ),
        _explicit,
        False,
    ),
    (
        re.compile(
            rf"{_START}{_MARKER}(?:ngay\s+)?{_DAY}\.(?P<month>1[0-2]|0?[1-9])\.(?P<year>\d{{4}}){_END}"
        ),
        _explicit,
        False,
    ),
    (
        re.compile(
            r"\b(?P<marker>(?:truoc|cham nhat(?: la)?|muon nhat|den het|han chot)\s+)ngay\s+"
            r"(?P<day>[0-3]?\d)\b(?!\s*(?:thang|[/\-.]\s*\d))"
        ),
        _day_only,
        True,
    ),
    (
        re.compile(
            rf"\b{_PERIOD_KW}\s+thang(?:\s+(?:{_MONTH}(?:\s*(?:nam|/)\s*{_YEAR})?|{_REL}))?\b(?!\s*[/\-]?\s*\d)"
        ),
        _month_period,
        True,
    ),
    (
        re.compile(
            rf"\b(?:{_PERIOD_KW}\s+)?quy\s+(?P<q>iv|iii|ii|i|[1-4]|mot|hai|ba|bon|tu|nay|sau|toi|ke tiep)\b"
            rf"(?:\s*(?:nam|/)\s*{_YEAR}\b)?"
        ),
        _quarter,
        False,  # a deadline with its keyword ("trong quý III"); bare "quý I" may name a report
    ),
    (
        re.compile(
            rf"\b{_PERIOD_KW}\s+quy\b(?!\s+(?:iv|iii|ii|i|[1-4]|mot|hai|ba|bon|tu|nay|sau|toi|ke tiep)\b)"
        ),
        _quarter,
        True,
    ),
    (
        re.compile(
            rf"\b(?:trong|cuoi|het|den het|den cuoi|truoc)\s+nam(?:\s+(?P<rel>nay|sau|toi)|\s+{_YEAR})?\b"
        ),
        _year_end,
        True,
    ),
    (
        re.compile(
            rf"\b(?:(?:trong|cuoi|het|truoc|den)\s+)?tuan\s+{_REL}\b|\b(?:truoc\s+)?cuoi\s+tuan\b"
            r"|\btrong\s+tuan\b(?!\s+(?:nay|sau|toi|ke tiep|truoc|qua|le)\b)"
        ),
        _week,
        True,
    ),
    (
        re.compile(
            rf"\b(?:trong|trong vong|trong thoi gian|trong thoi han|sau|chi trong)\s+{_COUNT}\s+"
            r"(?P<unit>ngay lam viec|ngay|tuan|thang)\b"
        ),
        _relative,
        True,
    ),
    (re.compile(r"\b(?:truoc|ngay truoc)\s+(?:tet(?:\s+nguyen dan)?|ky nghi tet)\b"), _before_tet, True),
    (re.compile(r"\b(?:(?:trong|truoc|den)\s+)?ngay\s+mai\b"), _tomorrow, True),
    (re.compile(r"\b(?:trong|ngay trong)\s+ngay\s+hom\s+nay\b|\btrong\s+hom\s+nay\b"), _today, True),
)


def _quy_is_quarter(original: str) -> bool:
    """Accented "quỹ" (fund) or "qui" are not "quý" (quarter); unaccented "quy" is taken as a quarter."""
    word = canon(original).lower()
    return word in ("quý", "quy", "qúy")


@dataclass(frozen=True)
class _Candidate:
    deadline: ParsedDeadline
    start: int
    end: int
    marked: bool


def _candidates(text: str, reference: date, holidays: Collection[date]) -> list[_Candidate]:
    folded = fold_with_offsets(text)
    ctx = _Context(reference=reference, holidays=holidays, folded=folded)
    found: list[_Candidate] = []
    for pattern, resolve, inherent in _PATTERNS:
        for m in pattern.finditer(folded.folded):
            if resolve is _quarter:
                qpos = folded.folded.find("quy", m.start(), m.end())
                qstart, qend = folded.span_in_original(qpos, qpos + 3)
                if not _quy_is_quarter(text[qstart:qend]):
                    continue
            try:
                due = resolve(m, ctx)
            except (ValueError, OverflowError, KeyError):
                due = None
            if due is None:
                continue
            start, end = folded.span_in_original(m.start(), m.end())
            marked = inherent or bool(_g(m, "marker")) or bool(_g(m, "kw"))
            found.append(
                _Candidate(
                    deadline=ParsedDeadline(due=due, text=text[start:end], span=(start, end)),
                    start=m.start(),
                    end=m.end(),
                    marked=marked,
                )
            )
    # Keep the longest match at each place; drop matches overlapping an earlier kept one.
    found.sort(key=lambda c: (c.start, -(c.end - c.start)))
    kept: list[_Candidate] = []
    for cand in found:
        if kept and cand.start < kept[-1].end:
            continue
        kept.append(cand)
    return kept


def find_deadlines(
    text: str, reference: date, holidays: Collection[date] = DEFAULT_HOLIDAYS
) -> list[ParsedDeadline]:
    """Every deadline expression in ``text``, in order, resolved against ``reference``."""
    return [c.deadline for c in _candidates(text, reference, holidays)]


def parse_deadline(
    text: str, reference: date, holidays: Collection[date] = DEFAULT_HOLIDAYS
) -> ParsedDeadline | None:
    """The deadline that ``text`` sets, or None.

    An expression that is a deadline by its words ("trước 30/6", "trong tháng 7", "tuần sau") wins over a
    bare date ("ngày 15/5", which may be when something happened); among equals the first one wins.
    """
    candidates = _candidates(text, reference, holidays)
    if not candidates:
        return None
    for cand in candidates:
        if cand.marked:
            return cand.deadline
    return candidates[0].deadline
