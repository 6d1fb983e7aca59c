"""Minutes (form 1.9) and conclusion notice (form 1.4) as Word documents, with python-docx.

A4, Decree 30 margins, Times New Roman; the heading is a borderless two-column table with the short rules
drawn as paragraph borders; signatures sit side by side in a second borderless table; pages from the second
on carry their number centred in the top margin.
"""

from __future__ import annotations

import io
import logging
from collections.abc import Callable

from docx import Document
from docx.document import Document as DocxDocument
from docx.enum.table import WD_CELL_VERTICAL_ALIGNMENT, WD_TABLE_ALIGNMENT
from docx.enum.text import WD_ALIGN_PARAGRAPH, WD_LINE_SPACING
from docx.oxml import OxmlElement
from docx.oxml.ns import qn
from docx.shared import Mm, Pt
from docx.table import Table as DocxTable
from docx.table import _Cell
from docx.text.paragraph import Paragraph as DocxParagraph

from server.documents import layout as lo
from server.documents.model import MinutesDoc, NoticeDoc, SignatureBlock
from server.documents.printable import core_property, printable_tree
from server.documents.typeface import DOCX_FONT_NAME, text_width_mm

logger = logging.getLogger(__name__)

CELL_PADDING_MM = 1.9  # Word's default left/right cell margin (0.19 cm)
RULE_WIDTH_EIGHTHS_PT = 6  # 0.75 pt line
LANGUAGE_TAG = "vi-VN"
MINUTES_SIGNATURE_SHARES = (0.5, 0.5)
NOTICE_SIGNATURE_SHARES = (0.45, 0.55)

_ALIGN = {
    lo.Align.LEFT: WD_ALIGN_PARAGRAPH.LEFT,
    lo.Align.CENTER: WD_ALIGN_PARAGRAPH.CENTER,
    lo.Align.RIGHT: WD_ALIGN_PARAGRAPH.RIGHT,
    lo.Align.JUSTIFY: WD_ALIGN_PARAGRAPH.JUSTIFY,
}


def render_minutes_docx(doc: MinutesDoc) -> bytes:
    """The minutes as a .docx file."""
    return _render(lo.minutes_layout(doc), MINUTES_SIGNATURE_SHARES)


def render_notice_docx(doc: NoticeDoc) -> bytes:
    """The conclusion notice as a .docx file."""
    return _render(lo.notice_layout(doc), NOTICE_SIGNATURE_SHARES)


def _render(layout: lo.Layout, signature_shares: tuple[float, float]) -> bytes:
    layout = printable_tree(layout)  # whatever the database holds, the XML stays valid
    document = Document()
    _setup_page(document)
    _setup_styles(document)
    document.core_properties.title = core_property(layout.title)
    document.core_properties.language = LANGUAGE_TAG
    for block in layout.blocks:
        if isinstance(block, lo.Heading):
            _heading(document, block)
        elif isinstance(block, lo.Title):
            _title(document, block)
        elif isinstance(block, lo.Paragraph):
            _paragraph(document.add_paragraph(), block)
        elif isinstance(block, lo.Table):
            _table(document, block)
        elif isinstance(block, lo.SignatureRow):
            _signature_row(document, block, signature_shares)
        elif isinstance(block, lo.Recipients):
            _recipients_paragraphs(document.add_paragraph, block, space_before_pt=12)
    out = io.BytesIO()
    document.save(out)
    logger.debug("rendered docx %r: %d bytes", layout.title, out.tell())
    return out.getvalue()


def _setup_page(document: DocxDocument) -> None:
    section = document.sections[0]
    section.page_width = Mm(lo.PAGE_WIDTH_MM)
    section.page_height = Mm(lo.PAGE_HEIGHT_MM)
    section.top_margin = Mm(lo.MARGIN_TOP_MM)
    section.bottom_margin = Mm(lo.MARGIN_BOTTOM_MM)
    section.left_margin = Mm(lo.MARGIN_LEFT_MM)
    section.right_margin = Mm(lo.MARGIN_RIGHT_MM)
    section.header_distance = Mm(lo.MARGIN_TOP_MM / 2)
    section.different_first_page_header_footer = True
    paragraph = section.header.paragraphs[0]
    paragraph.alignment = WD_ALIGN_PARAGRAPH.CENTER
    field = OxmlElement("w:fldSimple")
    field.set(qn("w:instr"), "PAGE")
    run = OxmlElement("w:r")
    text = OxmlElement("w:t")
    text.text = "2"
    run.append(text)
    field.append(run)
    paragraph._p.append(field)
    paragraph.style.font.size = Pt(lo.PAGE_NUMBER_SIZE_PT)


def _setup_styles(document: DocxDocument) -> None:
    normal = document.styles["Normal"]
    normal.font.name = DOCX_FONT_NAME
    normal.font.size = Pt(lo.TEXT_SIZE_PT)
    rpr = normal.element.get_or_add_rPr()
    fonts = rpr.find(qn("w:rFonts"))
    if fonts is None:
        fonts = OxmlElement("w:rFonts")
        rpr.append(fonts)
    for attribute in ("w:ascii", "w:hAnsi", "w:cs", "w:eastAsia"):
        fonts.set(qn(attribute), DOCX_FONT_NAME)
    lang = OxmlElement("w:lang")
    lang.set(qn("w:val"), LANGUAGE_TAG)
    rpr.append(lang)
    fmt = normal.paragraph_format
    fmt.space_before = Pt(0)
    fmt.space_after = Pt(0)
    fmt.line_spacing_rule = WD_LINE_SPACING.SINGLE
    fmt.widow_control = True


def _add_run(
    paragraph: DocxParagraph, text: str, size_pt: float, *, bold: bool = False, italic: bool = False
) -> None:
    run = paragraph.add_run(text)
    run.font.size = Pt(size_pt)
    run.font.bold = bold
    run.font.italic = italic


def _centered(
    paragraph: DocxParagraph, text: str, size_pt: float, *, bold: bool = False, italic: bool = False
) -> None:
    paragraph.alignment = WD_ALIGN_PARAGRAPH.CENTER
    _add_run(paragraph, text, size_pt, bold=bold, italic=italic)


def _rule(paragraph: DocxParagraph, rule_mm: float, available_mm: float) -> None:
    """Turn an empty paragraph into a short horizontal rule of ``rule_mm``, centred in ``available_mm``."""
    fmt = paragraph.paragraph_format
    fmt.line_spacing_rule = WD_LINE_SPACING.EXACTLY
    fmt.line_spacing = Pt(2)
    side = max(0.0, (available_mm - rule_mm) / 2)
    fmt.left_indent = Mm(side)
    fmt.right_indent = Mm(side)
    ppr = paragraph._p.get_or_add_pPr()
    borders = OxmlElement("w:pBdr")
    bottom = OxmlElement("w:bottom")
    bottom.set(qn("w:val"), "single")
    bottom.set(qn("w:sz"), str(RULE_WIDTH_EIGHTHS_PT))
    bottom.set(qn("w:space"), "1")
    bottom.set(qn("w:color"), "000000")
    borders.append(bottom)
    ppr.insert_element_before(
        borders,
        "w:shd",
        "w:tabs",
        "w:suppressAutoHyphens",
        "w:kinsoku",
        "w:wordWrap",
        "w:overflowPunct",
        "w:topLinePunct",
        "w:autoSpaceDE",
        "w:autoSpaceDN",
        "w:bidi",
        "w:adjustRightInd",
        "w:snapToGrid",
        "w:spacing",
        "w:ind",
        "w:contextualSpacing",
        "w:mirrorIndents",
        "w:suppressOverlap",
        "w:jc",
    )


def _borderless_table(document: DocxDocument, widths_mm: tuple[float, ...]) -> DocxTable:
    table = document.add_table(rows=1, cols=len(widths_mm))
    table.alignment = WD_TABLE_ALIGNMENT.CENTER
    table.autofit = False
    for column, width in zip(table.columns, widths_mm, strict=True):
        column.width = Mm(width)
    for cell, width in zip(table.rows[0].cells, widths_mm, strict=True):
        cell.width = Mm(width)
        cell.vertical_alignment = WD_CELL_VERTICAL_ALIGNMENT.TOP
    return table


def _heading(document: DocxDocument, heading: lo.Heading) -> None:
    table = _borderless_table(document, (lo.HEADING_LEFT_WIDTH_MM, lo.HEADING_RIGHT_WIDTH_MM))
    left, right = table.rows[0].cells
    left_inner = lo.HEADING_LEFT_WIDTH_MM - 2 * CELL_PADDING_MM
    right_inner = lo.HEADING_RIGHT_WIDTH_MM - 2 * CELL_PADDING_MM

    paragraphs = iter([left.paragraphs[0]])
    for line in heading.parent_lines:
        _centered(next(paragraphs, None) or left.add_paragraph(), line, lo.BODY_NAME_SIZE_PT)
    for line in heading.body_lines:
        _centered(next(paragraphs, None) or left.add_paragraph(), line, lo.BODY_NAME_SIZE_PT, bold=True)
    longest = max(
        (text_width_mm(x, lo.BODY_NAME_SIZE_PT, bold=True) for x in heading.body_lines), default=30.0
    )
    _rule(left.add_paragraph(), min(longest, left_inner) * lo.BODY_NAME_RULE_SHARE, left_inner)

    _centered(right.paragraphs[0], lo.NATIONAL_NAME, lo.NATIONAL_NAME_SIZE_PT, bold=True)
    _centered(right.add_paragraph(), lo.MOTTO, lo.MOTTO_SIZE_PT, bold=True)
    _rule(right.add_paragraph(), text_width_mm(lo.MOTTO, lo.MOTTO_SIZE_PT, bold=True), right_inner)

    # Number (left) and place/date (right) share one row so that they line up.
    row = table.add_row()
    number_cell, date_cell = row.cells
    number = number_cell.paragraphs[0]
    number.paragraph_format.space_before = Pt(6)
    _centered(number, heading.number_line, lo.NUMBER_SIZE_PT)
    if heading.place_date_line:  # form 1.9 has none
        place_date = date_cell.paragraphs[0]
        place_date.paragraph_format.space_before = Pt(6)
        _centered(place_date, heading.place_date_line, lo.PLACE_DATE_SIZE_PT, italic=True)


def _title(document: DocxDocument, title: lo.Title) -> None:
    kind: DocxParagraph = document.add_paragraph()
    kind.paragraph_format.space_before = Pt(18)
    kind.paragraph_format.keep_with_next = True
    _centered(kind, title.kind, lo.KIND_SIZE_PT, bold=True)
    summary: DocxParagraph = document.add_paragraph()
    summary.paragraph_format.keep_with_next = True
    summary.alignment = WD_ALIGN_PARAGRAPH.CENTER
    for index, line in enumerate(title.summary_lines):
        run = summary.add_run(line)
        run.font.size = Pt(lo.SUMMARY_SIZE_PT)
        run.font.bold = True
        if index < len(title.summary_lines) - 1:
            run.add_break()
    line_mm = max(
        (text_width_mm(line, lo.SUMMARY_SIZE_PT, bold=True) for line in title.summary_lines), default=0.0
    )
    rule: DocxParagraph = document.add_paragraph()
    _rule(rule, line_mm * lo.SUMMARY_RULE_SHARE, lo.TEXT_WIDTH_MM)
    rule.paragraph_format.space_after = Pt(12)


def _paragraph(paragraph: DocxParagraph, block: lo.Paragraph) -> None:
    fmt = paragraph.paragraph_format
    paragraph.alignment = _ALIGN[block.align]
    fmt.first_line_indent = Mm(block.first_line_indent_mm) if block.first_line_indent_mm else None
    fmt.space_before = Pt(block.space_before_pt)
    fmt.space_after = Pt(block.space_after_pt)
    fmt.keep_with_next = block.keep_with_next
    for run in block.runs:
        _add_run(paragraph, run.text, block.size_pt, bold=run.bold, italic=run.italic)


def _table(document: DocxDocument, block: lo.Table) -> None:
    widths = tuple(column.width_share * lo.TEXT_WIDTH_MM for column in block.columns)
    table = document.add_table(rows=1, cols=len(block.columns))
    table.style = "Table Grid"
    table.alignment = WD_TABLE_ALIGNMENT.CENTER
    table.autofit = False
    for grid_column, width in zip(table.columns, widths, strict=True):
        grid_column.width = Mm(width)
    header = table.rows[0]
    header_props = header._tr.get_or_add_trPr()
    repeat = OxmlElement("w:tblHeader")
    header_props.append(repeat)
    for cell, column, width in zip(header.cells, block.columns, widths, strict=True):
        cell.width = Mm(width)
        cell.vertical_alignment = WD_CELL_VERTICAL_ALIGNMENT.CENTER
        _centered(cell.paragraphs[0], column.header, block.size_pt, bold=True)
    for values in block.rows:
        row = table.add_row()
        for cell, column, width, value in zip(row.cells, block.columns, widths, values, strict=True):
            cell.width = Mm(width)
            cell.vertical_alignment = WD_CELL_VERTICAL_ALIGNMENT.CENTER
            paragraph = cell.paragraphs[0]
            paragraph.alignment = _ALIGN[column.align]
            _add_run(paragraph, value, block.size_pt)
    spacer: DocxParagraph = document.add_paragraph()
    spacer.paragraph_format.space_after = Pt(lo.PARAGRAPH_SPACE_AFTER_PT)
    spacer.paragraph_format.line_spacing_rule = WD_LINE_SPACING.EXACTLY
    spacer.paragraph_format.line_spacing = Pt(2)


def _signature_cell(cell: _Cell, block: SignatureBlock) -> None:
    first = True
    for line in block.title_lines:
        paragraph = cell.paragraphs[0] if first else cell.add_paragraph()
        first = False
        paragraph.paragraph_format.keep_with_next = True
        _centered(paragraph, line, lo.SIGNATURE_SIZE_PT, bold=True)
    if block.note:
        note = cell.add_paragraph()
        note.paragraph_format.keep_with_next = True
        _centered(note, block.note, lo.SIGNATURE_SIZE_PT, italic=True)
    name = cell.add_paragraph()
    name.paragraph_format.space_before = Mm(lo.SIGNATURE_SPACE_MM)
    _centered(name, block.name, lo.SIGNATURE_SIZE_PT, bold=True)


def _recipients_paragraphs(
    add_paragraph: Callable[[], DocxParagraph], block: lo.Recipients, *, space_before_pt: float
) -> None:
    label = add_paragraph()
    label.paragraph_format.space_before = Pt(space_before_pt)
    label.paragraph_format.keep_with_next = True
    _add_run(label, lo.RECIPIENTS_LABEL, lo.RECIPIENTS_LABEL_SIZE_PT, bold=True, italic=True)
    for line in block.lines:
        item = add_paragraph()
        _add_run(item, line, lo.RECIPIENTS_SIZE_PT)


def _signature_row(document: DocxDocument, block: lo.SignatureRow, shares: tuple[float, float]) -> None:
    widths = (shares[0] * lo.TEXT_WIDTH_MM, shares[1] * lo.TEXT_WIDTH_MM)
    table = _borderless_table(document, widths)
    left, right = table.rows[0].cells
    # Keep the signature row on one page with the paragraph before it.
    row_props = table.rows[0]._tr.get_or_add_trPr()
    row_props.append(OxmlElement("w:cantSplit"))
    if isinstance(block.left, SignatureBlock):
        _signature_cell(left, block.left)
    elif isinstance(block.left, lo.Recipients):
        _recipients_paragraphs(left.add_paragraph, block.left, space_before_pt=0)
        first = left.paragraphs[0]
        first._p.getparent().remove(first._p)
    if block.right is not None:
        _signature_cell(right, block.right)
