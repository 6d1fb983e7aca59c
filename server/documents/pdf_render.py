"""Minutes (form 1.9) and conclusion notice (form 1.4) as PDF, with fpdf2 and the shipped Liberation Serif.

Liberation Serif has Times New Roman's metrics and every precomposed Vietnamese letter; it is embedded
(subset) so that the PDF prints and extracts the same on any machine. Page layout as in ``layout``.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from fpdf import FPDF, FontFace, XPos, YPos
from fpdf.enums import Align as FpdfAlign
from fpdf.enums import TableBordersLayout, VAlign

from server.documents import layout as lo
from server.documents.model import MinutesDoc, NoticeDoc, SignatureBlock
from server.documents.printable import core_property, printable_tree
from server.documents.typeface import FAMILY, FONT_FILES, MM_PER_PT, style_key, text_width_mm

logger = logging.getLogger(__name__)

LINE_HEIGHT_FACTOR = 1.2  # single line spacing for Times-metric fonts
RULE_WIDTH_MM = 0.3
RULE_GAP_MM = 1.5  # between a line of text and the short rule under it
TABLE_PADDING_MM = 1.2
MINUTES_SIGNATURE_SHARES = (0.5, 0.5)
NOTICE_SIGNATURE_SHARES = (0.45, 0.55)
KEEP_WITH_NEXT_MIN_MM = 30.0  # a heading-like paragraph needs this much room below it, else a new page
TITLE_SPACE_BEFORE_MM = 6.0
TITLE_SPACE_AFTER_MM = 5.0
NUMBER_SPACE_BEFORE_MM = 2.0
SIGNATURE_SPACE_BEFORE_MM = 3.0
PRODUCER = "giaoban"

_ALIGN = {
    lo.Align.LEFT: FpdfAlign.L,
    lo.Align.CENTER: FpdfAlign.C,
    lo.Align.RIGHT: FpdfAlign.R,
    lo.Align.JUSTIFY: FpdfAlign.J,
}


def line_mm(size_pt: float) -> float:
    return size_pt * MM_PER_PT * LINE_HEIGHT_FACTOR


class _OfficialPdf(FPDF):
    """A4 with Decree 30 margins; page numbers centred in the top margin from the second page on."""

    def __init__(self) -> None:
        super().__init__(orientation="P", unit="mm", format="A4")
        self.set_margins(lo.MARGIN_LEFT_MM, lo.MARGIN_TOP_MM, lo.MARGIN_RIGHT_MM)
        self.set_auto_page_break(True, margin=lo.MARGIN_BOTTOM_MM)
        for style, path in FONT_FILES.items():
            self.add_font(FAMILY, style, str(path))
        self.set_font(FAMILY, "", lo.TEXT_SIZE_PT)
        self.set_lang("vi")
        self.set_creator(PRODUCER)
        self.set_producer(PRODUCER)
        self.set_line_width(RULE_WIDTH_MM)

    def header(self) -> None:
        if self.page_no() < 2:
            return
        self.set_font(FAMILY, "", lo.PAGE_NUMBER_SIZE_PT)
        self.set_xy(lo.MARGIN_LEFT_MM, lo.MARGIN_TOP_MM / 2 - line_mm(lo.PAGE_NUMBER_SIZE_PT) / 2)
        self.cell(lo.TEXT_WIDTH_MM, line_mm(lo.PAGE_NUMBER_SIZE_PT), str(self.page_no()), align="C")
        self.set_xy(lo.MARGIN_LEFT_MM, lo.MARGIN_TOP_MM)


def render_minutes_pdf(doc: MinutesDoc, *, created_at: datetime | None = None) -> bytes:
    """The minutes as a PDF file. ``created_at`` fixes the PDF creation date (for reproducible bytes)."""
    return _render(lo.minutes_layout(doc), MINUTES_SIGNATURE_SHARES, created_at)


def render_notice_pdf(doc: NoticeDoc, *, created_at: datetime | None = None) -> bytes:
    """The conclusion notice as a PDF file."""
    return _render(lo.notice_layout(doc), NOTICE_SIGNATURE_SHARES, created_at)


def _render(layout: lo.Layout, signature_shares: tuple[float, float], created_at: datetime | None) -> bytes:
    layout = printable_tree(layout)  # whatever the database holds (lone surrogates cannot be encoded)
    pdf = _OfficialPdf()
    pdf.set_title(core_property(layout.title))
    pdf.set_creation_date(created_at or datetime.now(UTC))
    pdf.add_page()
    for index, block in enumerate(layout.blocks):
        following = layout.blocks[index + 1] if index + 1 < len(layout.blocks) else None
        if isinstance(block, lo.Paragraph) and block.keep_with_next:
            _keep_with_next(pdf, block, following, signature_shares)
        if isinstance(block, lo.Heading):
            _heading(pdf, block)
        elif isinstance(block, lo.Title):
            _title(pdf, block)
        elif isinstance(block, lo.Paragraph):
            _paragraph(pdf, block)
        elif isinstance(block, lo.Table):
            _table(pdf, block)
        elif isinstance(block, lo.SignatureRow):
            _signature_row(pdf, block, signature_shares)
        elif isinstance(block, lo.Recipients):
            pdf.set_y(pdf.get_y() + 4)
            _recipients(pdf, block, lo.MARGIN_LEFT_MM, lo.TEXT_WIDTH_MM)
    data = bytes(pdf.output())
    logger.debug("rendered pdf %r: %d pages, %d bytes", layout.title, pdf.page_no(), len(data))
    return data


def _font(pdf: FPDF, size_pt: float, *, bold: bool = False, italic: bool = False) -> None:
    pdf.set_font(FAMILY, style_key(bold, italic), size_pt)


def _centered_lines(
    pdf: FPDF,
    x: float,
    y: float,
    width: float,
    lines: tuple[str, ...],
    size_pt: float,
    *,
    bold: bool = False,
    italic: bool = False,
) -> float:
    """Print ``lines`` centred in [x, x + width] from ``y``; return the y below them."""
    _font(pdf, size_pt, bold=bold, italic=italic)
    for line in lines:
        pdf.set_xy(x, y)
        pdf.multi_cell(width, line_mm(size_pt), line, align="C", new_x=XPos.LEFT, new_y=YPos.NEXT)
        y = pdf.get_y()
    return y


def _rule(pdf: FPDF, center_x: float, y: float, length: float) -> None:
    pdf.line(center_x - length / 2, y, center_x + length / 2, y)


def _heading(pdf: FPDF, heading: lo.Heading) -> None:
    left_x = lo.MARGIN_LEFT_MM
    right_x = left_x + lo.HEADING_LEFT_WIDTH_MM
    top = pdf.get_y()

    y = _centered_lines(
        pdf, left_x, top, lo.HEADING_LEFT_WIDTH_MM, heading.parent_lines, lo.BODY_NAME_SIZE_PT
    )
    y = _centered_lines(
        pdf, left_x, y, lo.HEADING_LEFT_WIDTH_MM, heading.body_lines, lo.BODY_NAME_SIZE_PT, bold=True
    )
    longest = max(
        (text_width_mm(x, lo.BODY_NAME_SIZE_PT, bold=True) for x in heading.body_lines), default=30.0
    )
    _rule(
        pdf,
        left_x + lo.HEADING_LEFT_WIDTH_MM / 2,
        y + RULE_GAP_MM,
        min(longest, lo.HEADING_LEFT_WIDTH_MM) * lo.BODY_NAME_RULE_SHARE,
    )
    left_bottom = y + RULE_GAP_MM

    y = _centered_lines(
        pdf, right_x, top, lo.HEADING_RIGHT_WIDTH_MM, (lo.NATIONAL_NAME,), lo.NATIONAL_NAME_SIZE_PT, bold=True
    )
    y = _centered_lines(pdf, right_x, y, lo.HEADING_RIGHT_WIDTH_MM, (lo.MOTTO,), lo.MOTTO_SIZE_PT, bold=True)
    _rule(
        pdf,
        right_x + lo.HEADING_RIGHT_WIDTH_MM / 2,
        y + RULE_GAP_MM,
        text_width_mm(lo.MOTTO, lo.MOTTO_SIZE_PT, bold=True),
    )
    right_bottom = y + RULE_GAP_MM

    y = max(left_bottom, right_bottom) + NUMBER_SPACE_BEFORE_MM
    number_bottom = _centered_lines(
        pdf, left_x, y, lo.HEADING_LEFT_WIDTH_MM, (heading.number_line,), lo.NUMBER_SIZE_PT
    )
    # Place and date sit on the number's baseline: shift by the difference of the two line heights.
    shift = (line_mm(lo.NUMBER_SIZE_PT) - line_mm(lo.PLACE_DATE_SIZE_PT)) / 2
    date_bottom = _centered_lines(
        pdf,
        right_x,
        y + shift,
        lo.HEADING_RIGHT_WIDTH_MM,
        (heading.place_date_line,) if heading.place_date_line else (),
        lo.PLACE_DATE_SIZE_PT,
        italic=True,
    )
    pdf.set_xy(lo.MARGIN_LEFT_MM, max(number_bottom, date_bottom))


def _title(pdf: FPDF, title: lo.Title) -> None:
    y = pdf.get_y() + TITLE_SPACE_BEFORE_MM
    y = _centered_lines(
        pdf, lo.MARGIN_LEFT_MM, y, lo.TEXT_WIDTH_MM, (title.kind,), lo.KIND_SIZE_PT, bold=True
    )
    y = _centered_lines(
        pdf, lo.MARGIN_LEFT_MM, y, lo.TEXT_WIDTH_MM, title.summary_lines, lo.SUMMARY_SIZE_PT, bold=True
    )
    length = max(
        (text_width_mm(line, lo.SUMMARY_SIZE_PT, bold=True) for line in title.summary_lines), default=0.0
    )
    _rule(pdf, lo.MARGIN_LEFT_MM + lo.TEXT_WIDTH_MM / 2, y + RULE_GAP_MM, length * lo.SUMMARY_RULE_SHARE)
    pdf.set_xy(lo.MARGIN_LEFT_MM, y + RULE_GAP_MM + TITLE_SPACE_AFTER_MM)


def _room_left(pdf: FPDF) -> float:
    return pdf.h - lo.MARGIN_BOTTOM_MM - pdf.get_y()


def _paragraph_height(pdf: FPDF, block: lo.Paragraph) -> float:
    """The paragraph's height, measured as plain text in the regular face (enough to plan page breaks)."""
    _font(pdf, block.size_pt)
    indent = " " * max(0, round(block.first_line_indent_mm / max(0.1, text_width_mm(" ", block.size_pt))))
    lines: list[str] = pdf.multi_cell(
        lo.TEXT_WIDTH_MM, line_mm(block.size_pt), indent + block.text, dry_run=True, output="LINES"
    )  # type: ignore[assignment]
    return len(lines) * line_mm(block.size_pt) + (block.space_before_pt + block.space_after_pt) * MM_PER_PT


def _keep_with_next(
    pdf: FPDF, block: lo.Paragraph, following: lo.Block | None, signature_shares: tuple[float, float]
) -> None:
    """Start a new page when ``block`` and the start of what follows would not fit together on this one."""
    needed = _paragraph_height(pdf, block)
    if isinstance(following, lo.SignatureRow):
        needed += _signature_row_height(following)
    else:
        needed += KEEP_WITH_NEXT_MIN_MM
    if _room_left(pdf) < needed:
        pdf.add_page()


def _paragraph(pdf: FPDF, block: lo.Paragraph) -> None:
    pdf.set_x(lo.MARGIN_LEFT_MM)
    _font(pdf, block.size_pt)
    with pdf.text_columns(text_align=_ALIGN[block.align], line_height=LINE_HEIGHT_FACTOR) as columns:
        with columns.paragraph(
            first_line_indent=block.first_line_indent_mm,
            top_margin=block.space_before_pt * MM_PER_PT,
            bottom_margin=block.space_after_pt * MM_PER_PT,
        ) as paragraph:
            for run in block.runs:
                _font(pdf, block.size_pt, bold=run.bold, italic=run.italic)
                paragraph.write(run.text)
    _font(pdf, block.size_pt)
    pdf.set_x(lo.MARGIN_LEFT_MM)


def _table(pdf: FPDF, block: lo.Table) -> None:
    _font(pdf, block.size_pt)
    with pdf.table(
        col_widths=tuple(column.width_share for column in block.columns),
        width=lo.TEXT_WIDTH_MM,
        align=FpdfAlign.L,
        v_align=VAlign.M,
        text_align=tuple(_ALIGN[column.align] for column in block.columns),
        line_height=line_mm(block.size_pt),
        padding=TABLE_PADDING_MM,
        borders_layout=TableBordersLayout.ALL,
        headings_style=FontFace(emphasis="BOLD"),
        first_row_as_headings=True,
    ) as table:
        header = table.row()
        for column in block.columns:
            header.cell(column.header, align=FpdfAlign.C)
        for values in block.rows:
            row = table.row()
            for value in values:
                row.cell(value)
    pdf.set_xy(lo.MARGIN_LEFT_MM, pdf.get_y() + lo.PARAGRAPH_SPACE_AFTER_PT * MM_PER_PT)
    _font(pdf, lo.TEXT_SIZE_PT)


def _signature_height(block: SignatureBlock) -> float:
    lines = len(block.title_lines) + (1 if block.note else 0) + 1
    return lines * line_mm(lo.SIGNATURE_SIZE_PT) + lo.SIGNATURE_SPACE_MM


def _signature(pdf: FPDF, block: SignatureBlock, x: float, y: float, width: float) -> float:
    y = _centered_lines(pdf, x, y, width, block.title_lines, lo.SIGNATURE_SIZE_PT, bold=True)
    if block.note:
        y = _centered_lines(pdf, x, y, width, (block.note,), lo.SIGNATURE_SIZE_PT, italic=True)
    return _centered_lines(
        pdf, x, y + lo.SIGNATURE_SPACE_MM, width, (block.name,), lo.SIGNATURE_SIZE_PT, bold=True
    )


def _recipients(pdf: FPDF, block: lo.Recipients, x: float, width: float) -> float:
    _font(pdf, lo.RECIPIENTS_LABEL_SIZE_PT, bold=True, italic=True)
    pdf.set_x(x)
    pdf.multi_cell(
        width,
        line_mm(lo.RECIPIENTS_LABEL_SIZE_PT),
        lo.RECIPIENTS_LABEL,
        align="L",
        new_x=XPos.LEFT,
        new_y=YPos.NEXT,
    )
    _font(pdf, lo.RECIPIENTS_SIZE_PT)
    for line in block.lines:
        pdf.set_x(x)
        pdf.multi_cell(
            width, line_mm(lo.RECIPIENTS_SIZE_PT), line, align="L", new_x=XPos.LEFT, new_y=YPos.NEXT
        )
    return pdf.get_y()


def _recipients_height(block: lo.Recipients) -> float:
    return line_mm(lo.RECIPIENTS_LABEL_SIZE_PT) + len(block.lines) * line_mm(lo.RECIPIENTS_SIZE_PT)


def _signature_row_height(block: lo.SignatureRow) -> float:
    heights = [0.0]
    for side in (block.left, block.right):
        if isinstance(side, SignatureBlock):
            heights.append(_signature_height(side))
        elif isinstance(side, lo.Recipients):
            heights.append(_recipients_height(side))
    return max(heights) + SIGNATURE_SPACE_BEFORE_MM


def _signature_row(pdf: FPDF, block: lo.SignatureRow, shares: tuple[float, float]) -> None:
    if _room_left(pdf) < _signature_row_height(block):
        pdf.add_page()
    top = pdf.get_y() + SIGNATURE_SPACE_BEFORE_MM
    left_width = shares[0] * lo.TEXT_WIDTH_MM
    right_x = lo.MARGIN_LEFT_MM + left_width
    right_width = shares[1] * lo.TEXT_WIDTH_MM
    bottoms = [top]
    if isinstance(block.left, SignatureBlock):
        bottoms.append(_signature(pdf, block.left, lo.MARGIN_LEFT_MM, top, left_width))
    elif isinstance(block.left, lo.Recipients):
        pdf.set_y(top + 1)
        bottoms.append(_recipients(pdf, block.left, lo.MARGIN_LEFT_MM, left_width))
    if block.right is not None:
        bottoms.append(_signature(pdf, block.right, right_x, top, right_width))
    pdf.set_xy(lo.MARGIN_LEFT_MM, max(bottoms))
