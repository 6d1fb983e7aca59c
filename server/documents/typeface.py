"""The font shipped for PDF rendering and text measurement (Liberation Serif, Times New Roman metrics)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from fontTools.ttLib import TTFont

FONT_DIR = Path(__file__).resolve().parent / "fonts"
FAMILY = "LiberationSerif"
DOCX_FONT_NAME = "Times New Roman"  # what Word documents name; Liberation Serif has the same metrics
MM_PER_PT = 25.4 / 72

FONT_FILES: dict[str, Path] = {
    "": FONT_DIR / "LiberationSerif-Regular.ttf",
    "B": FONT_DIR / "LiberationSerif-Bold.ttf",
    "I": FONT_DIR / "LiberationSerif-Italic.ttf",
    "BI": FONT_DIR / "LiberationSerif-BoldItalic.ttf",
}


def style_key(bold: bool, italic: bool) -> str:
    """fpdf2's style string: "", "B", "I" or "BI"."""
    return ("B" if bold else "") + ("I" if italic else "")


@lru_cache(maxsize=4)
def _advance_widths(style: str) -> tuple[dict[int, int], int, int]:
    font = TTFont(str(FONT_FILES[style]), lazy=True)
    cmap = font.getBestCmap()
    hmtx = font["hmtx"]
    widths = {code: hmtx[glyph][0] for code, glyph in cmap.items()}
    missing = hmtx[".notdef"][0]
    return widths, missing, int(font["head"].unitsPerEm)


def text_width_mm(text: str, size_pt: float, *, bold: bool = False, italic: bool = False) -> float:
    """Width of ``text`` set on one line in Liberation Serif (= Times New Roman) at ``size_pt``, in mm."""
    widths, missing, units_per_em = _advance_widths(style_key(bold, italic))
    units = sum(widths.get(ord(ch), missing) for ch in text)
    return units / units_per_em * size_pt * MM_PER_PT
