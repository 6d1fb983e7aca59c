"""The forms' structure as format-independent blocks, so DOCX and PDF print the same text in the same order.

Sizes follow Decree 30/2020/NĐ-CP, Appendix I (Times New Roman): national name 12 pt bold, motto 13 pt bold,
issuing body 13 pt (parent regular, body bold), number 13 pt, place and date 14 pt italic, document kind 14 pt
bold, summary 14 pt bold, body 14 pt, signer titles and names 14 pt bold, "Nơi nhận:" 12 pt bold italic and
its items 11 pt. Page A4, margins top/bottom 20 mm, left 30 mm, right 15 mm.
"""

from __future__ import annotations

import math
import unicodedata
from dataclasses import dataclass
from enum import StrEnum

from server.documents import wording
from server.documents.model import MinutesDoc, NoticeDoc, SignatureBlock
from server.documents.typeface import text_width_mm

PAGE_WIDTH_MM = 210.0
PAGE_HEIGHT_MM = 297.0
MARGIN_TOP_MM = 20.0
MARGIN_BOTTOM_MM = 20.0
MARGIN_LEFT_MM = 30.0
MARGIN_RIGHT_MM = 15.0
TEXT_WIDTH_MM = PAGE_WIDTH_MM - MARGIN_LEFT_MM - MARGIN_RIGHT_MM
HEADING_LEFT_WIDTH_MM = 65.0  # issuing body and number
HEADING_RIGHT_WIDTH_MM = TEXT_WIDTH_MM - HEADING_LEFT_WIDTH_MM  # national heading and place/date
TITLE_WIDTH_MM = TEXT_WIDTH_MM - 10.0  # summary lines stay a little inside the margins

NATIONAL_NAME = "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM"
MOTTO = "Độc lập - Tự do - Hạnh phúc"
RECIPIENTS_LABEL = "Nơi nhận:"
DRAFT_MARK = "DỰ THẢO"
BLANK_LINE = "\u00a0"  # a line with nothing printed on it (fills a signature column's height)
LIST_MARKERS = "-*+•"

NATIONAL_NAME_SIZE_PT = 12.0
MOTTO_SIZE_PT = 13.0
BODY_NAME_SIZE_PT = 13.0
NUMBER_SIZE_PT = 13.0
PLACE_DATE_SIZE_PT = 14.0
KIND_SIZE_PT = 14.0
SUMMARY_SIZE_PT = 14.0
TEXT_SIZE_PT = 14.0
TABLE_SIZE_PT = 12.0
SIGNATURE_SIZE_PT = 14.0
RECIPIENTS_LABEL_SIZE_PT = 12.0
RECIPIENTS_SIZE_PT = 11.0
PAGE_NUMBER_SIZE_PT = 13.0
FIRST_LINE_INDENT_MM = 10.0
PARAGRAPH_SPACE_AFTER_PT = 6.0
SIGNATURE_SPACE_MM = 25.0  # blank space for the handwritten signature and seal
BODY_NAME_RULE_SHARE = 0.4  # the rule under the issuing body: 1/3 to 1/2 of the name's length
BALANCE_SLACK = 1.02  # balanced summary lines may be this much longer than the average line
BALANCE_STEP_MM = 2.0
SUMMARY_RULE_SHARE = 0.33  # the rule under the summary: 1/3 to 1/2 of the line's length


class Align(StrEnum):
    LEFT = "left"
    CENTER = "center"
    RIGHT = "right"
    JUSTIFY = "justify"


@dataclass(frozen=True)
class Run:
    text: str
    bold: bool = False
    italic: bool = False


@dataclass(frozen=True)
class Paragraph:
    runs: tuple[Run, ...]
    align: Align = Align.JUSTIFY
    first_line_indent_mm: float = FIRST_LINE_INDENT_MM
    size_pt: float = TEXT_SIZE_PT
    space_before_pt: float = 0.0
    space_after_pt: float = PARAGRAPH_SPACE_AFTER_PT
    keep_with_next: bool = False

    @property
    def text(self) -> str:
        return "".join(run.text for run in self.runs)


@dataclass(frozen=True)
class Heading:
    """Two columns: issuing body and number on the left, national name, motto and place/date on the right."""

    parent_lines: tuple[str, ...]
    body_lines: tuple[str, ...]
    number_line: str
    place_date_line: str


@dataclass(frozen=True)
class Title:
    """The document kind ("BIÊN BẢN") and its summary line, centred, bold, with a short rule under them."""

    kind: str
    summary: str
    summary_lines: tuple[str, ...]  # the summary broken into lines of similar length


@dataclass(frozen=True)
class Column:
    header: str
    width_share: float
    align: Align = Align.LEFT


@dataclass(frozen=True)
class Table:
    columns: tuple[Column, ...]
    rows: tuple[tuple[str, ...], ...]
    size_pt: float = TABLE_SIZE_PT


@dataclass(frozen=True)
class Recipients:
    """ "Nơi nhận:" and its items, already punctuated."""

    lines: tuple[str, ...]


@dataclass(frozen=True)
class SignatureRow:
    """Two side-by-side columns at the end: signatures, or recipients (left) and the signer (right)."""

    left: SignatureBlock | Recipients | None
    right: SignatureBlock | None


Block = Heading | Title | Paragraph | Table | Recipients | SignatureRow


@dataclass(frozen=True)
class Layout:
    title: str  # document metadata title
    blocks: tuple[Block, ...]


def balanced_lines(text: str, size_pt: float, max_width_mm: float, *, bold: bool = False) -> tuple[str, ...]:
    """Break ``text`` into the fewest lines that fit ``max_width_mm``, of similar widths."""
    words = text.split()
    if not words:
        return ()

    def width(parts: list[str]) -> float:
        return text_width_mm(" ".join(parts), size_pt, bold=bold)

    def fill(limit_mm: float) -> list[str]:
        lines: list[str] = []
        current: list[str] = []
        for word in words:
            if current and width([*current, word]) > limit_mm:
                lines.append(" ".join(current))
                current = []
            current.append(word)
        lines.append(" ".join(current))
        return lines

    total = width(words)
    for count in range(max(1, math.ceil(total / max_width_mm)), len(words) + 1):
        limit = total / count * BALANCE_SLACK
        while limit <= max_width_mm:
            lines = fill(limit)
            if len(lines) <= count:
                return tuple(lines)
            limit += BALANCE_STEP_MM
        if len(fill(max_width_mm)) <= count:
            return tuple(fill(max_width_mm))
    return tuple(fill(max_width_mm))


def nfc(text: str) -> str:
    return unicodedata.normalize("NFC", text)


def upper_lines(text: str) -> tuple[str, ...]:
    return tuple(nfc(line.strip()).upper() for line in text.split("\n") if line.strip())


def _p(*runs: Run, keep_with_next: bool = False) -> Paragraph:
    normalised = tuple(Run(nfc(run.text), run.bold, run.italic) for run in runs if run.text)
    return Paragraph(normalised, keep_with_next=keep_with_next)


def _label(label: str, value: str) -> Paragraph:
    return _p(Run(label, bold=True), Run(" " + wording.sentence(value)))


def _section(label: str) -> Paragraph:
    return _p(Run(label, bold=True), keep_with_next=True)


def _signature(block: SignatureBlock) -> SignatureBlock:
    return SignatureBlock(
        tuple(nfc(line).upper() for line in block.title_lines), nfc(block.name), nfc(block.note)
    )


def _title(kind: str, summary: str) -> Title:
    summary = " ".join(nfc(summary).split())
    return Title(kind, summary, balanced_lines(summary, SUMMARY_SIZE_PT, TITLE_WIDTH_MM, bold=True))


def _heading(doc: MinutesDoc | NoticeDoc) -> Heading:
    """Form 1.9 has no place-and-date line under the national motto (its times are in the body and in the
    closing line); form 1.4 has one."""
    place_date = "" if isinstance(doc, MinutesDoc) else wording.place_date(doc.place_name, doc.issued_on)
    return Heading(
        parent_lines=upper_lines(doc.issuing_body.parent),
        body_lines=upper_lines(doc.issuing_body.name),
        number_line=nfc(doc.number.text()),
        place_date_line=nfc(place_date),
    )


def _draft_mark(doc: MinutesDoc | NoticeDoc) -> list[Block]:
    """ "DỰ THẢO" above the title of a document not yet numbered (not approved and sealed)."""
    if doc.number.number is not None:
        return []
    mark = Paragraph(
        (Run(DRAFT_MARK, bold=True),),
        align=Align.CENTER,
        first_line_indent_mm=0.0,
        size_pt=KIND_SIZE_PT,
        space_before_pt=6.0,
        space_after_pt=0.0,
        keep_with_next=True,
    )
    return [mark]


def _aligned(left: SignatureBlock, right: SignatureBlock) -> tuple[SignatureBlock, SignatureBlock]:
    """Both columns with as many lines above the signing space, so the two names sit on one line: the
    shorter column's titles padded with blank lines (a note counts as one line)."""

    def height(block: SignatureBlock) -> int:
        return len(block.title_lines) + (1 if block.note else 0)

    tallest = max(height(left), height(right))

    def pad(block: SignatureBlock) -> SignatureBlock:
        missing = tallest - height(block)
        return SignatureBlock(block.title_lines + (BLANK_LINE,) * missing, block.name, block.note)

    return pad(left), pad(right)


def content_paragraphs(text: str) -> list[Paragraph]:
    """The clerk's text of an agenda item: one paragraph a line (blank lines ignored); a line starting with
    "-", "*", "+" or "•" is a list item, printed "- …"; each ends with its punctuation or a full stop."""
    paragraphs: list[Paragraph] = []
    for raw in text.splitlines():
        line = raw.strip()
        if not line:
            continue
        if line[0] in LIST_MARKERS:
            line = "- " + line[1:].strip()
        paragraphs.append(_p(Run(wording.sentence(line))))
    return paragraphs


def _conclusion_paragraphs(doc: MinutesDoc | NoticeDoc) -> list[Paragraph]:
    paragraphs: list[Paragraph] = []
    for conclusion in doc.conclusions:
        runs = [Run(f"{conclusion.number}. "), Run(wording.sentence(conclusion.text))]
        assignment = wording.assignment_text(conclusion)
        if assignment:
            runs.append(Run(" " + assignment, italic=True))
        paragraphs.append(_p(*runs))
    return paragraphs


def minutes_layout(doc: MinutesDoc) -> Layout:
    """The blocks of form 1.9, in order."""
    blocks: list[Block] = [_heading(doc), *_draft_mark(doc), _title("BIÊN BẢN", doc.title)]
    blocks.append(_label("Thời gian bắt đầu:", wording.time_and_date(doc.started_at)))
    place = doc.location
    if doc.online and doc.connection_points:
        points = ", ".join(doc.connection_points)
        place = f"{place}; họp trực tuyến với {len(doc.connection_points):02d} điểm cầu: {points}"
    blocks.append(_label("Địa điểm:", place))
    blocks.append(_section("Thành phần tham dự:"))
    if doc.attendees:
        rows = tuple(
            (
                str(i),
                nfc(a.unit_name),
                nfc(wording.status_text(a)),
                nfc("; ".join(wording.person_text(p) for p in a.representatives)),
            )
            for i, a in enumerate(doc.attendees, start=1)
        )
        blocks.append(
            Table(
                (
                    Column("STT", 0.08, Align.CENTER),
                    Column("Đơn vị (điểm cầu)", 0.27),
                    Column("Tình trạng", 0.23),
                    Column("Người dự", 0.42),
                ),
                rows,
            )
        )
    for line in doc.other_attendees:
        blocks.append(_p(Run("- " + wording.sentence(line))))
    blocks.append(_label("Chủ trì (chủ tọa):", wording.person_text(doc.chair)))
    blocks.append(_label("Thư ký (người ghi biên bản):", wording.person_text(doc.clerk)))
    blocks.append(_section("Nội dung (theo diễn biến cuộc họp):"))
    for index, item in enumerate(doc.agenda, start=1):
        blocks.append(_p(Run(f"{index}. {wording.sentence(item.title)}", bold=True), keep_with_next=True))
        blocks.extend(content_paragraphs(item.content))
        for contribution in item.contributions:
            who = contribution.unit_name
            if contribution.speaker is not None:
                who = f"{wording.person_text(contribution.speaker)} ({contribution.unit_name})"
            runs = [Run("- "), Run(who + ":", italic=True), Run(" " + wording.sentence(contribution.text))]
            if contribution.recording_offset_s is not None:
                runs.append(Run(f" [bản ghi {wording.recording_time(contribution.recording_offset_s)}]"))
            blocks.append(_p(*runs))
    if doc.votes:
        blocks.append(_section("Kết quả biểu quyết:"))
        for vote in doc.votes:
            blocks.append(_p(Run("- " + wording.vote_text(vote))))
    if doc.conclusions:
        blocks.append(_section("Kết luận của chủ tọa:"))
        blocks.extend(_conclusion_paragraphs(doc))
    if doc.closing_note:
        blocks.append(_p(Run(wording.sentence(doc.closing_note))))
    ended = f"Cuộc họp kết thúc vào {wording.time_and_date(doc.ended_at)}./."
    blocks.append(_p(Run(ended), keep_with_next=True))
    clerk, chair = doc.signature_blocks()
    blocks.append(SignatureRow(*_aligned(_signature(clerk), _signature(chair))))
    blocks.append(
        Recipients(tuple(nfc(x) for x in wording.recipient_lines(doc.recipients, "Lưu: VT, hồ sơ.")))
    )
    return Layout(nfc(f"Biên bản - {doc.title}"), tuple(blocks))


def notice_layout(doc: NoticeDoc) -> Layout:
    """The blocks of form 1.4, in order."""
    blocks: list[Block] = [_heading(doc), *_draft_mark(doc), _title("THÔNG BÁO", doc.summary)]
    blocks.extend(_p(Run(paragraph)) for paragraph in doc.body if paragraph.strip())
    blocks.extend(_conclusion_paragraphs(doc))
    if doc.closing:
        blocks.append(_p(Run(doc.closing), keep_with_next=True))
    recipients = Recipients(tuple(nfc(x) for x in wording.recipient_lines(doc.recipients, "Lưu: VT.")))
    blocks.append(SignatureRow(recipients, _signature(doc.signer)))
    return Layout(nfc(f"Thông báo - {doc.summary}"), tuple(blocks))
