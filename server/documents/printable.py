"""Text made safe for a document file, whatever a database row holds.

The API refuses control characters in free text (``server.services.inputs``), but rows written before that
check, by a script or by a migration may still hold them, and a renderer must not fail on them: DOCX is
XML, which cannot carry C0 controls (other than tab, newline, carriage return), lone surrogates or U+FFFE and
U+FFFF; a PDF's text strings cannot carry lone surrogates either. Those characters are dropped, and DEL and
the C1 controls too (they print as nothing anywhere). DOCX core properties hold at most 255 characters.
"""

from __future__ import annotations

import dataclasses
import re
from typing import Any, TypeVar

T = TypeVar("T")

MAX_CORE_PROPERTY_CHARS = 255  # python-docx (and Word) refuse a longer core property
ELLIPSIS = "…"

_UNPRINTABLE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff\ufffe\uffff]")


def printable(text: str) -> str:
    """``text`` without the characters a document file cannot carry; CRLF and CR become LF."""
    return _UNPRINTABLE.sub("", text.replace("\r\n", "\n").replace("\r", "\n"))


def core_property(text: str) -> str:
    """One line of at most :data:`MAX_CORE_PROPERTY_CHARS` characters (cut with an ellipsis)."""
    line = " ".join(printable(text).split())
    if len(line) <= MAX_CORE_PROPERTY_CHARS:
        return line
    return line[: MAX_CORE_PROPERTY_CHARS - len(ELLIPSIS)].rstrip() + ELLIPSIS


def printable_tree(value: T) -> T:
    """A copy of ``value`` (frozen dataclasses, tuples and lists of them, strings), every string printable."""
    return _clean(value)  # type: ignore[no-any-return]


def _clean(value: Any) -> Any:
    if type(value) is str:  # not a StrEnum member (Align): those are kept as they are
        return printable(value)
    if isinstance(value, tuple):
        return tuple(_clean(v) for v in value)
    if isinstance(value, list):
        return [_clean(v) for v in value]
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        changes = {f.name: _clean(getattr(value, f.name)) for f in dataclasses.fields(value) if f.init}
        return dataclasses.replace(value, **changes)
    return value
