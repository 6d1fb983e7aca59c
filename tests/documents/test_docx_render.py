"""The DOCX files, parsed back with python-docx: the form's fields, its page set-up and its typography."""

from __future__ import annotations

import dataclasses
import io
import unicodedata

from docx import Document
from docx.document import Document as DocxDocument
from docx.table import Table
from docx.text.paragraph import Paragraph

from server.documents.docx_render import render_minutes_docx, render_notice_docx
from server.documents.model import DocumentNumber, MinutesDoc, NoticeDoc

ZIP_MAGIC = b"PK\x03\x04"


def _open(data: bytes) -> DocxDocument:
    assert data.startswith(ZIP_MAGIC)
    return Document(io.BytesIO(data))


def _paragraphs(container: DocxDocument | Table) -> list[Paragraph]:
    """Every paragraph in reading order, tables included (cell by cell)."""
    found: list[Paragraph] = []
    items = container.iter_inner_content() if isinstance(container, DocxDocument) else [container]
    for item in items:
        if isinstance(item, Paragraph):
            found.append(item)
        else:
            for row in item.rows:
                for cell in row.cells:
                    for inner in cell.iter_inner_content():
                        found.extend([inner] if isinstance(inner, Paragraph) else _paragraphs(inner))
    return found


def _text(document: DocxDocument) -> str:
    return " ".join(" ".join(p.text for p in _paragraphs(document)).split())


def _paragraph_with(document: DocxDocument, text: str) -> Paragraph:
    return next(p for p in _paragraphs(document) if text in " ".join(p.text.split()))


def test_minutes_docx_holds_the_form_fields(minutes: MinutesDoc) -> None:
    document = _open(render_minutes_docx(minutes))
    text = _text(document)
    for expected in (
        "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM",
        "Độc lập - Tự do - Hạnh phúc",
        "ỦY BAN NHÂN DÂN HUYỆN IA PA",
        "Số: 12/BB-UBND",
        "BIÊN BẢN",
        "Cuộc họp trực tuyến về công tác phòng, chống hạn hán vụ Đông Xuân 2025 - 2026",
        "Thời gian bắt đầu: 08 giờ 00 phút, ngày 16 tháng 3 năm 2026.",
        "họp trực tuyến với 09 điểm cầu: xã Chư Mố, xã Chư Răng, xã Ia Broăi",
        "Chủ trì (chủ tọa): Ông Nguyễn Văn Hùng - Chủ tịch UBND huyện.",
        "Thư ký (người ghi biên bản): Bà Rơ Châm Thị Hạnh",
        "[bản ghi 00:12:34]",
        "Thống nhất phương án điều tiết nước luân phiên: 8/8 tán thành (100%)",
        "Cuộc họp kết thúc vào 10 giờ 45 phút, ngày 16 tháng 3 năm 2026./.",
        "THƯ KÝ",
        "CHỦ TỌA",
        "Nơi nhận:",
        "- Lưu: VT, hồ sơ.",
    ):
        assert expected in text, expected
    # form 1.9: no place-and-date line (the times are in the body and the closing line); numbered: no mark
    assert "Ia Pa, ngày" not in text and "DỰ THẢO" not in text
    for conclusion in minutes.conclusions:
        assert f"{conclusion.number}. {conclusion.text}." in text
    assert "Đơn vị thực hiện: UBND xã Ia Broăi; thời hạn hoàn thành: trước ngày 05/4/2026." in text


def test_minutes_docx_attendance_table_lists_every_point_with_its_status(minutes: MinutesDoc) -> None:
    document = _open(render_minutes_docx(minutes))
    attendance = next(t for t in document.tables if t.rows[0].cells[0].text == "STT")
    header = [cell.text for cell in attendance.rows[0].cells]
    assert header == ["STT", "Đơn vị (điểm cầu)", "Tình trạng", "Người dự"]
    rows = {row.cells[1].text: [cell.text for cell in row.cells] for row in attendance.rows[1:]}
    assert len(rows) == 9
    assert rows["UBND xã Chư Mố"] == [
        "1",
        "UBND xã Chư Mố",
        "Có mặt (trực tuyến)",
        "Ông Ksor Y Hiếu - Chủ tịch UBND xã",
    ]
    assert rows["UBND xã Kim Tân"][2] == "Có mặt (trực tiếp)"
    assert rows["UBND xã Ia Tul"][2:] == ["Vắng mặt (lý do: mất kết nối đường truyền)", ""]
    assert rows["UBND xã Pờ Tó"][2] == "Chưa điểm danh"


def test_minutes_docx_page_and_typography_follow_decree_30(minutes: MinutesDoc) -> None:
    document = _open(render_minutes_docx(minutes))
    section = document.sections[0]
    assert section.page_width is not None and section.page_height is not None
    assert abs(section.page_width.mm - 210) < 0.1 and abs(section.page_height.mm - 297) < 0.1  # A4
    for margin, low, high in (
        (section.top_margin, 20, 25),
        (section.bottom_margin, 20, 25),
        (section.left_margin, 30, 35),
        (section.right_margin, 15, 20),
    ):
        assert margin is not None and low - 0.1 <= margin.mm <= high + 0.1
    assert document.styles["Normal"].font.name == "Times New Roman"
    sizes = {run.font.size.pt if run.font.size else None for p in _paragraphs(document) for run in p.runs}
    assert sizes <= {11.0, 12.0, 13.0, 14.0}
    heading = document.tables[0]
    left, right = heading.rows[0].cells
    assert " ".join(left.text.split()) == "ỦY BAN NHÂN DÂN HUYỆN IA PA"
    assert right.text.split("\n")[:2] == ["CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM", "Độc lập - Tự do - Hạnh phúc"]
    assert [c.text for c in heading.rows[1].cells] == ["Số: 12/BB-UBND", ""]  # form 1.9: no place-date
    title = _paragraph_with(document, "BIÊN BẢN")
    assert title.alignment == 1 and all(run.font.bold for run in title.runs)  # 1 = centred
    signatures = document.tables[-1]
    clerk, chair = signatures.rows[0].cells
    assert clerk.paragraphs[0].text == "THƯ KÝ" and chair.paragraphs[0].text == "CHỦ TỌA"
    assert clerk.paragraphs[-1].text == "Rơ Châm Thị Hạnh" and chair.paragraphs[-1].text == "Nguyễn Văn Hùng"


def test_notice_docx_holds_form_1_4(notice: NoticeDoc) -> None:
    document = _open(render_notice_docx(notice))
    text = _text(document)
    for expected in (
        "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM",
        "Số: 45/TB-UBND",
        "Ia Pa, ngày 18 tháng 3 năm 2026",
        "THÔNG BÁO",
        "Kết luận của Chủ tịch UBND huyện Nguyễn Văn Hùng tại cuộc họp trực tuyến với UBND các xã",
        "Chủ tịch UBND huyện kết luận như sau:",
        "Văn phòng HĐND và UBND huyện thông báo để các cơ quan, đơn vị biết, thực hiện./.",
        "Nơi nhận:",
        "- Thường trực Huyện ủy (b/c);",
        "- UBND các xã;",
        "- Lưu: VT.",
        "TL. CHỦ TỊCH",
        "CHÁNH VĂN PHÒNG",
        "Võ Thị Lan Hương",
    ):
        assert expected in text, expected
    for conclusion in notice.conclusions:
        assert f"{conclusion.number}. {conclusion.text}." in text
    recipients, signer = document.tables[-1].rows[0].cells
    assert recipients.paragraphs[0].text == "Nơi nhận:"
    assert recipients.paragraphs[-1].text == "- Lưu: VT."
    assert [p.text for p in signer.paragraphs[:2]] == ["TL. CHỦ TỊCH", "CHÁNH VĂN PHÒNG"]
    place_date = document.tables[0].rows[1].cells[1].paragraphs[0]
    assert place_date.text == "Ia Pa, ngày 18 tháng 3 năm 2026" and all(
        r.font.italic for r in place_date.runs
    )


def test_unnumbered_draft_and_nfd_input_render_as_nfc(minutes: MinutesDoc) -> None:
    nfd = dataclasses.replace(
        minutes,
        number=DocumentNumber("BB-UBND"),
        title=unicodedata.normalize("NFD", minutes.title),
        chair=dataclasses.replace(minutes.chair, name=unicodedata.normalize("NFD", minutes.chair.name)),
    )
    text = _text(_open(render_minutes_docx(nfd)))
    assert "Số:" in text and "/BB-UBND" in text and "12/BB-UBND" not in text
    assert "DỰ THẢO BIÊN BẢN" in text  # a draft carries the mark above the title
    assert "phòng, chống hạn hán vụ Đông Xuân" in text
    assert "Nguyễn Văn Hùng" in text
    assert not any(unicodedata.combining(ch) for ch in text)


def test_minutes_docx_signature_names_share_a_line(minutes: MinutesDoc) -> None:
    """Sealed, only the chair's column has "(Đã ký số)": both names stand after as many lines, centred."""
    sealed = dataclasses.replace(minutes, chair_signature_note="(Đã ký số)")
    clerk, chair = _open(render_minutes_docx(sealed)).tables[-1].rows[0].cells
    assert len(clerk.paragraphs) == len(chair.paragraphs)
    assert [clerk.paragraphs[-1].text, chair.paragraphs[-1].text] == [minutes.clerk.name, minutes.chair.name]
    assert chair.paragraphs[1].text == "(Đã ký số)"
    assert clerk.paragraphs[-1].alignment == chair.paragraphs[-1].alignment == 1  # centred
