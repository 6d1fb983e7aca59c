"""Vietnamese deadline expressions (server.domain.deadlines)."""

from __future__ import annotations

import unicodedata
from datetime import date

import pytest

from server.domain.deadlines import find_deadlines, parse_deadline

FRI_10_APR = date(2026, 4, 10)
WED_20_MAY = date(2026, 5, 20)
FRI_18_DEC = date(2026, 12, 18)
FRI_20_NOV = date(2026, 11, 20)


@pytest.mark.parametrize(
    ("reference", "text", "due"),
    [
        (FRI_10_APR, "ngày 15 tháng 5", date(2026, 5, 15)),
        (FRI_10_APR, "ngày 15/5", date(2026, 5, 15)),
        (FRI_10_APR, "15/5/2026", date(2026, 5, 15)),
        (FRI_10_APR, "15-5-2026", date(2026, 5, 15)),
        (FRI_10_APR, "15.5.2026", date(2026, 5, 15)),
        (FRI_10_APR, "15/5/26", date(2026, 5, 15)),
        (FRI_10_APR, "trước 30/6", date(2026, 6, 30)),
        (FRI_10_APR, "trước ngày 30 tháng 6 năm 2026", date(2026, 6, 30)),
        (FRI_10_APR, "mùng 5 tháng 6", date(2026, 6, 5)),
        (FRI_10_APR, "trong tháng 7", date(2026, 7, 31)),
        (FRI_10_APR, "hết tháng 12/2026", date(2026, 12, 31)),
        (FRI_10_APR, "trước tháng 7", date(2026, 6, 30)),
        (FRI_10_APR, "cuối tháng này", date(2026, 4, 30)),
        (FRI_10_APR, "cuối tháng sau", date(2026, 5, 31)),
        (FRI_10_APR, "trong tháng sáu", date(2026, 6, 30)),
        (FRI_10_APR, "cuối quý III", date(2026, 9, 30)),
        (FRI_10_APR, "quý 3", date(2026, 9, 30)),
        (FRI_10_APR, "trong quý IV năm 2026", date(2026, 12, 31)),
        (FRI_10_APR, "trong quý này", date(2026, 6, 30)),
        (FRI_10_APR, "quý tới", date(2026, 9, 30)),
        (FRI_10_APR, "cuối năm", date(2026, 12, 31)),
        (FRI_10_APR, "trong năm nay", date(2026, 12, 31)),
        (FRI_10_APR, "tuần sau", date(2026, 4, 17)),
        (FRI_10_APR, "tuần tới", date(2026, 4, 17)),
        (WED_20_MAY, "tuần sau", date(2026, 5, 29)),
        (FRI_10_APR, "trong tuần này", date(2026, 4, 10)),
        (FRI_10_APR, "trong 10 ngày", date(2026, 4, 20)),
        (FRI_10_APR, "trong vòng mười ngày", date(2026, 4, 20)),
        (FRI_10_APR, "trong vòng 2 tuần", date(2026, 4, 24)),
        (FRI_10_APR, "trong 5 ngày làm việc", date(2026, 4, 17)),
        (WED_20_MAY, "trong 5 ngày làm việc", date(2026, 5, 27)),
        (date(2026, 4, 28), "trong 3 ngày làm việc", date(2026, 5, 5)),  # 30/4, 1/5 and the weekend skipped
        (FRI_10_APR, "sau 1 tháng", date(2026, 5, 10)),
        (FRI_10_APR, "chậm nhất ngày 20", date(2026, 4, 20)),
        (FRI_10_APR, "trước ngày 5", date(2026, 5, 5)),
        (FRI_10_APR, "ngày mai", date(2026, 4, 11)),
        (FRI_20_NOV, "trước Tết", date(2027, 2, 3)),  # last working day before the 2027 Tết break
        # Year roll-over: no year given and more than ~2 months past -> next year.
        (FRI_18_DEC, "trước 15/1", date(2027, 1, 15)),
        (FRI_18_DEC, "trong tháng 2", date(2027, 2, 28)),
        (FRI_18_DEC, "ngày 20/12", date(2026, 12, 20)),
        (FRI_18_DEC, "ngày 1/12", date(2026, 12, 1)),  # 17 days past: stays
        (FRI_10_APR, "ngày 1/3", date(2026, 3, 1)),  # 40 days past: stays
        (FRI_10_APR, "ngày 1/2", date(2027, 2, 1)),  # 68 days past: next year
        (FRI_10_APR, "15/1/2026", date(2026, 1, 15)),  # year given: never rolls
        # Unaccented and upper-case input.
        (FRI_10_APR, "truoc ngay 15 thang 5", date(2026, 5, 15)),
        (FRI_10_APR, "cuoi quy 3", date(2026, 9, 30)),
        (FRI_10_APR, "trong thang 7", date(2026, 7, 31)),
        (FRI_10_APR, "tuan sau", date(2026, 4, 17)),
        (FRI_10_APR, "trong vong 10 ngay", date(2026, 4, 20)),
        (FRI_10_APR, "TRƯỚC 30/6", date(2026, 6, 30)),
    ],
)
def test_deadline_expressions(reference: date, text: str, due: date) -> None:
    parsed = parse_deadline(text, reference)
    assert parsed is not None, text
    assert parsed.due == due
    assert parsed.text == text  # the whole expression, as written
    assert parsed.span == (0, len(text))


@pytest.mark.parametrize(
    "text",
    [
        "",
        "Quyết định số 15/QĐ-UBND",
        "đã có 9/10 xã hoàn thành",
        "quỹ này còn 20 triệu",
        "ngày 31/2",
        "giao thông nông thôn",
        "báo cáo tháng 7",
        "tỷ lệ 15.5 phần trăm",
    ],
)
def test_not_deadlines(text: str) -> None:
    assert parse_deadline(text, FRI_10_APR) is None


def test_span_points_into_the_sentence() -> None:
    sentence = "Đề nghị xã Chư Mố hoàn thành trước ngày 15/5, báo cáo UBND huyện."
    parsed = parse_deadline(sentence, FRI_10_APR)
    assert parsed is not None
    assert parsed.text == "trước ngày 15/5"
    assert sentence[parsed.span[0] : parsed.span[1]] == parsed.text


def test_nfd_input_keeps_the_original_span() -> None:
    sentence = unicodedata.normalize("NFD", "Hoàn thành trước ngày 30 tháng 6.")
    parsed = parse_deadline(sentence, FRI_10_APR)
    assert parsed is not None
    assert parsed.due == date(2026, 6, 30)
    assert unicodedata.normalize("NFC", parsed.text) == "trước ngày 30 tháng 6"


def test_a_marked_deadline_wins_over_an_earlier_bare_date() -> None:
    sentence = "Tại cuộc họp ngày 2/4, đề nghị xã Ia Tul hoàn thành trước 30/6."
    assert [d.due for d in find_deadlines(sentence, FRI_10_APR)] == [date(2026, 4, 2), date(2026, 6, 30)]
    parsed = parse_deadline(sentence, FRI_10_APR)
    assert parsed is not None and parsed.due == date(2026, 6, 30)


def test_bare_quarter_names_a_report_not_a_deadline() -> None:
    parsed = parse_deadline("nộp báo cáo sơ kết quý I trước ngày 15/4", FRI_10_APR)
    assert parsed is not None and parsed.due == date(2026, 4, 15)
