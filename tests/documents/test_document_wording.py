"""Vietnamese wording and line breaking shared by both renderers."""

from __future__ import annotations

from datetime import date, datetime

from server.documents.layout import TITLE_WIDTH_MM, balanced_lines
from server.documents.model import Conclusion, DocumentNumber, Vote
from server.documents.typeface import text_width_mm
from server.documents.wording import (
    assignment_text,
    long_date,
    place_date,
    recipient_lines,
    recording_time,
    short_date,
    time_and_date,
    vote_text,
)


def test_dates_take_leading_zeros_for_days_below_10_and_months_1_and_2() -> None:
    assert long_date(date(2026, 2, 5)) == "ngày 05 tháng 02 năm 2026"
    assert long_date(date(2026, 1, 31)) == "ngày 31 tháng 01 năm 2026"
    assert long_date(date(2026, 3, 16)) == "ngày 16 tháng 3 năm 2026"
    assert long_date(date(2026, 12, 9)) == "ngày 09 tháng 12 năm 2026"
    assert short_date(date(2026, 4, 5)) == "05/4/2026"
    assert place_date("Ia Pa", date(2026, 3, 16)) == "Ia Pa, ngày 16 tháng 3 năm 2026"
    assert time_and_date(datetime(2026, 3, 16, 7, 5)) == "07 giờ 05 phút, ngày 16 tháng 3 năm 2026"
    assert recording_time(3905.9) == "01:05:05"


def test_number_conclusion_and_vote_wording() -> None:
    assert DocumentNumber("TB-UBND", 45).text() == "Số: 45/TB-UBND"
    assert DocumentNumber("TB-UBND").text().endswith("/TB-UBND")
    assert assignment_text(Conclusion(1, "x", "UBND xã Ia Tul", date(2026, 3, 18))) == (
        "Đơn vị thực hiện: UBND xã Ia Tul; thời hạn hoàn thành: trước ngày 18/3/2026."
    )
    assert assignment_text(Conclusion(2, "x", deadline=date(2026, 1, 2))) == (
        "Thời hạn hoàn thành: trước ngày 02/01/2026."
    )
    assert assignment_text(Conclusion(3, "x")) == ""
    assert vote_text(Vote("Thông qua", 7, 1, 1)) == (
        "Thông qua: 7/9 tán thành (78%), 1 không tán thành, 1 không biểu quyết."
    )


def test_recipients_end_with_the_archive_line() -> None:
    assert recipient_lines(("Như trên", "- UBND các xã;"), "Lưu: VT.") == (
        "- Như trên;",
        "- UBND các xã;",
        "- Lưu: VT.",
    )
    assert recipient_lines(("Lưu: VT, VP.", "Như trên"), "Lưu: VT.") == ("- Như trên;", "- Lưu: VT, VP.")
    assert recipient_lines((), "Lưu: VT, hồ sơ.") == ("- Lưu: VT, hồ sơ.",)


def test_long_titles_break_into_balanced_lines_that_fit() -> None:
    summary = (
        "Kết luận của Chủ tịch UBND huyện Nguyễn Văn Hùng tại cuộc họp trực tuyến với UBND các xã về công "
        "tác phòng, chống hạn hán vụ Đông Xuân 2025 - 2026"
    )
    lines = balanced_lines(summary, 14, TITLE_WIDTH_MM, bold=True)
    assert " ".join(lines) == summary
    widths = [text_width_mm(line, 14, bold=True) for line in lines]
    assert len(lines) == 3 and max(widths) <= TITLE_WIDTH_MM
    assert min(widths) > 0.75 * max(widths)  # no short last line
    assert balanced_lines("BIÊN BẢN", 14, TITLE_WIDTH_MM, bold=True) == ("BIÊN BẢN",)
    assert balanced_lines("", 14, TITLE_WIDTH_MM) == ()
