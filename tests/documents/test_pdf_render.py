"""The PDF files read back with poppler (pdftotext, pdfinfo, pdffonts): text, diacritics and layout."""

from __future__ import annotations

import dataclasses
import re
import subprocess
import unicodedata
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from server.documents.model import DocumentNumber, MinutesDoc, NoticeDoc
from server.documents.pdf_render import render_minutes_pdf, render_notice_pdf

A4_POINTS = "595.28 x 841.89 pts (A4)"


@dataclass(frozen=True)
class Word:
    page: int
    x_min: float
    y_min: float
    x_max: float
    text: str


def _write(tmp_path: Path, name: str, data: bytes) -> Path:
    assert data.startswith(b"%PDF-")
    path = tmp_path / name
    path.write_bytes(data)
    return path


def _run(*args: str | Path) -> str:
    return subprocess.run([str(a) for a in args], check=True, capture_output=True, text=True).stdout


def _text(path: Path, *pages: str) -> str:
    return " ".join(_run("pdftotext", *pages, "-enc", "UTF-8", path, "-").split())


def _words(path: Path) -> list[Word]:
    """Every word with its position (points from the page's top left), from ``pdftotext -bbox``."""
    html = _run("pdftotext", "-bbox", "-enc", "UTF-8", path, "-")
    words: list[Word] = []
    for page_number, page in enumerate(html.split("<page ")[1:], start=1):
        pattern = r'<word xMin="([\d.]+)" yMin="([\d.]+)" xMax="([\d.]+)"[^>]*>([^<]*)</word>'
        for x_min, y_min, x_max, text in re.findall(pattern, page):
            words.append(
                Word(page_number, float(x_min), float(y_min), float(x_max), text.replace("&amp;", "&"))
            )
    return words


def _first(words: list[Word], text: str) -> Word:
    return next(w for w in words if w.text == text)


def test_minutes_pdf_text_extracts_with_correct_diacritics(tmp_path: Path, minutes: MinutesDoc) -> None:
    path = _write(tmp_path, "minutes.pdf", render_minutes_pdf(minutes))
    text = _text(path)
    assert text == unicodedata.normalize("NFC", text)
    for expected in (
        "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM",
        "Độc lập - Tự do - Hạnh phúc",
        "ỦY BAN NHÂN DÂN HUYỆN IA PA",
        "Số: 12/BB-UBND",
        "BIÊN BẢN",
        "Cuộc họp trực tuyến về công tác phòng, chống hạn hán vụ Đông Xuân 2025 - 2026",
        "Thời gian bắt đầu: 08 giờ 00 phút, ngày 16 tháng 3 năm 2026.",
        "Thành phần tham dự:",
        "Chủ trì (chủ tọa): Ông Nguyễn Văn Hùng - Chủ tịch UBND huyện.",
        "Thư ký (người ghi biên bản): Bà Rơ Châm Thị Hạnh",
        "Cuộc họp kết thúc vào 10 giờ 45 phút, ngày 16 tháng 3 năm 2026./.",
        "THƯ KÝ",
        "CHỦ TỌA",
        "- Lưu: VT, hồ sơ.",
    ):
        assert expected in text, expected
    assert "Ia Pa, ngày" not in text and "DỰ THẢO" not in text  # form 1.9: no place-date line; numbered
    for unit, status in (
        ("UBND xã Chư Mố", "Có mặt (trực tuyến)"),
        ("UBND xã Ia Broăi", "Có mặt (trực tuyến)"),
        ("UBND xã Kim Tân", "Có mặt (trực tiếp)"),
        ("UBND xã Ia Tul", "Vắng mặt (lý do: mất kết nối đường truyền)"),
        ("UBND xã Pờ Tó", "Chưa điểm danh"),
    ):
        assert f"{unit} {status}" in text, unit
    for conclusion in minutes.conclusions:
        assert " ".join(f"{conclusion.number}. {conclusion.text}.".split()) in text


def test_minutes_pdf_is_a4_with_embedded_fonts_and_page_numbers(tmp_path: Path, minutes: MinutesDoc) -> None:
    path = _write(tmp_path, "minutes.pdf", render_minutes_pdf(minutes))
    info = _run("pdfinfo", path)
    assert A4_POINTS in info
    pages = int(re.search(r"Pages:\s+(\d+)", info).group(1))  # type: ignore[union-attr]
    assert pages >= 2
    fonts = _run("pdffonts", path).splitlines()[2:]
    assert fonts and all("LiberationSerif" in line and " yes yes yes " in line for line in fonts)
    assert _text(path, "-f", "1", "-l", "1").startswith("ỦY BAN NHÂN DÂN")
    for page in range(2, pages + 1):
        assert _text(path, "-f", str(page), "-l", str(page)).startswith(f"{page} ")


def test_minutes_pdf_layout_places_the_form_blocks(tmp_path: Path, minutes: MinutesDoc) -> None:
    words = _words(_write(tmp_path, "minutes.pdf", render_minutes_pdf(minutes)))
    points_per_mm = 72 / 25.4
    body, national, number = (_first(words, w) for w in ("ỦY", "CỘNG", "Số:"))
    # Issuing body in the left column, national heading in the right one, both on the first line.
    assert body.page == national.page == 1
    assert abs(body.y_min - national.y_min) < 2
    assert body.x_min < 95 * points_per_mm < national.x_min
    # The national name stands on one line, centred over the right column (30 + 65 + 100 / 2 = 145 mm).
    national_end = next(w for w in words if w.text == "NAM" and abs(w.y_min - national.y_min) < 1)
    assert abs((national.x_min + national_end.x_max) / 2 - 145 * points_per_mm) < 2 * points_per_mm
    # The number under the issuing body; nothing beside it in the right column (form 1.9 has no place-date).
    assert number.y_min > body.y_min and number.x_max < 95 * points_per_mm
    assert not [
        w for w in words if w.page == 1 and abs(w.y_min - number.y_min) < 3 and w.x_min > 95 * points_per_mm
    ]
    # Left margin 30 mm: body text starts there (first-line indents go further right).
    lines_start = min(w.x_min for w in words if w.page == 1)
    assert 29 * points_per_mm <= lines_start <= 31 * points_per_mm
    # The two signatures stand side by side on the last page, clerk left, chair right.
    clerk = next(w for w in words if w.text == "THƯ")
    chair = next(
        w for w in words if w.text == "CHỦ" and w.page == clerk.page and abs(w.y_min - clerk.y_min) < 1
    )
    assert clerk.x_min < chair.x_min


def test_notice_pdf_holds_form_1_4(tmp_path: Path, notice: NoticeDoc) -> None:
    path = _write(tmp_path, "notice.pdf", render_notice_pdf(notice))
    text = _text(path)
    for expected in (
        "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM",
        "Số: 45/TB-UBND",
        "Ia Pa, ngày 18 tháng 3 năm 2026",
        "THÔNG BÁO",
        "Kết luận của Chủ tịch UBND huyện Nguyễn Văn Hùng tại cuộc họp trực tuyến với UBND các xã",
        "Chủ tịch UBND huyện kết luận như sau:",
        "Nơi nhận:",
        "- Lưu: VT.",
        "TL. CHỦ TỊCH",
        "CHÁNH VĂN PHÒNG",
        "Võ Thị Lan Hương",
    ):
        assert expected in text, expected
    for conclusion in notice.conclusions:
        assert " ".join(f"{conclusion.number}. {conclusion.text}.".split()) in text
    words = _words(path)
    recipients, signer = _first(words, "Nơi"), _first(words, "TL.")
    assert recipients.x_min < signer.x_min and abs(recipients.y_min - signer.y_min) < 5


def test_pdf_bytes_are_reproducible_for_a_fixed_creation_date(minutes: MinutesDoc) -> None:
    created = datetime(2026, 3, 16, 4, 0, tzinfo=UTC)
    first = render_minutes_pdf(minutes, created_at=created)
    assert render_minutes_pdf(minutes, created_at=created) == first
    assert render_minutes_pdf(minutes, created_at=created + timedelta(seconds=1)) != first


def _signature_names(path: Path, clerk_name: str, chair_name: str) -> tuple[float, float, float, float]:
    """(clerk name's y, chair name's y, clerk name's centre minus its title's, same for the chair), points."""
    words = _words(path)
    last = max(w.page for w in words)
    on_last = [w for w in words if w.page == last]

    def span(text: str) -> tuple[float, float, float]:
        parts = text.split()
        first = next(
            i for i, w in enumerate(on_last) if [x.text for x in on_last[i : i + len(parts)]] == parts
        )
        found = on_last[first : first + len(parts)]
        return found[0].y_min, found[0].x_min, found[-1].x_max

    clerk_title, chair_title = span("THƯ KÝ"), span("CHỦ TỌA")
    clerk, chair = span(clerk_name), span(chair_name)

    def centre(s: tuple[float, float, float]) -> float:
        return (s[1] + s[2]) / 2

    return clerk[0], chair[0], centre(clerk) - centre(clerk_title), centre(chair) - centre(chair_title)


def test_minutes_signature_names_stand_on_one_line_under_their_titles(
    tmp_path: Path, minutes: MinutesDoc
) -> None:
    """Sealed, only the chair's column has "(Đã ký số)": the clerk's name still sits on the chair's line."""
    sealed = dataclasses.replace(minutes, chair_signature_note="(Đã ký số)")
    path = _write(tmp_path, "sealed.pdf", render_minutes_pdf(sealed))
    clerk_y, chair_y, clerk_off, chair_off = _signature_names(path, minutes.clerk.name, minutes.chair.name)
    assert abs(clerk_y - chair_y) < 1
    assert abs(clerk_off) < 2 and abs(chair_off) < 2  # each name centred under its title


def test_unnumbered_minutes_pdf_is_marked_as_a_draft(tmp_path: Path, minutes: MinutesDoc) -> None:
    draft = dataclasses.replace(minutes, number=DocumentNumber("BB-UBND"))
    text = _text(_write(tmp_path, "draft.pdf", render_minutes_pdf(draft)))
    assert "DỰ THẢO BIÊN BẢN" in text and "12/BB-UBND" not in text
