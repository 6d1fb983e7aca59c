"""Recognising administrative units in running Vietnamese text, accent- and spacing-insensitively.

A unit is known by its full name, its aliases and short forms derived from them: "UBND xã Chư Mố" is also
found as "xã Chư Mố", "Chư Mố", "chu mo" and "ChưMố"; "Phòng Tài chính - Kế hoạch" as "Tài chính Kế
hoạch" and "phòng Tài chính". Matching compares the folded words of a window of the text, joined without
spaces, with each form's key; long keys (7+ letters, e.g. "iamron") also match at edit distance 1, which
absorbs Whisper's "Ia Mơ Rơn" for "Ia Mrơn".
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass

from server.domain.vntext import fold, fold_with_offsets

logger = logging.getLogger(__name__)

#: Longest window of words compared with a unit's name.
MAX_NAME_WORDS = 8

#: Keys at least this long also match a window one edit away.
FUZZY_MIN_KEY_CHARS = 7

#: Folded leading words stripped to derive short forms ("ubnd xa chu mo" → "chu mo").
_GENERIC_PREFIXES: tuple[tuple[str, ...], ...] = (
    ("uy", "ban", "nhan", "dan"),
    ("ubnd",),
    ("xa",),
    ("phuong",),
    ("thi", "tran"),
    ("huyen",),
    ("tinh",),
    ("phong",),
)

#: Short forms too generic to name a unit on their own.
_TOO_GENERIC = frozenset(
    {"huyen", "xa", "tinh", "phong", "ban", "ubnd", "uybannhandan", "congan", "trungtam"}
)

#: Abbreviations said both ways: "UBND" / "Ủy ban nhân dân" (folded, without spaces).
_ABBREVIATIONS: tuple[tuple[str, str], ...] = (("ubnd", "uybannhandan"), ("hdnd", "hoidongnhandan"))

_WORD_RE = re.compile(r"\w+")


@dataclass(frozen=True)
class UnitName:
    """A unit as the extractor knows it: stable ``code``, official ``name`` and spoken ``aliases``."""

    code: str
    name: str
    aliases: tuple[str, ...] = ()


@dataclass(frozen=True)
class UnitMention:
    """A unit named in a text: word indices [first_word, end_word) and the character span in the text."""

    code: str
    first_word: int
    end_word: int
    span: tuple[int, int]


@dataclass(frozen=True)
class Words:
    """The folded words of a text with their character spans in the original text."""

    text: str
    folded: tuple[str, ...]
    spans: tuple[tuple[int, int], ...]


def words_of(text: str) -> Words:
    """Split ``text`` into folded words, remembering where each came from."""
    ft = fold_with_offsets(text)
    folded: list[str] = []
    spans: list[tuple[int, int]] = []
    for m in _WORD_RE.finditer(ft.folded):
        folded.append(m.group())
        spans.append(ft.span_in_original(m.start(), m.end()))
    return Words(text=text, folded=tuple(folded), spans=tuple(spans))


def _strip_steps(tokens: list[str]) -> list[list[str]]:
    """``tokens`` and every shorter form left by stripping generic leading words one at a time."""
    steps = [tokens]
    changed = True
    while changed:
        changed = False
        for prefix in _GENERIC_PREFIXES:
            if len(tokens) > len(prefix) and tuple(tokens[: len(prefix)]) == prefix:
                tokens = tokens[len(prefix) :]
                steps.append(tokens)
                changed = True
    return steps


def _strip_generic(tokens: list[str]) -> list[str]:
    return _strip_steps(tokens)[-1]


def _forms(unit: UnitName) -> set[str]:
    """All keys (folded words joined without spaces) under which ``unit`` is recognised."""
    keys: set[str] = set()
    for written in (unit.name, *unit.aliases):
        tokens = _WORD_RE.findall(fold(written))
        if not tokens:
            continue
        for step in _strip_steps(list(tokens)):
            keys.add("".join(step))
        if tokens[0] == "phong" or (len(tokens) > 1 and tokens[:2] == ["ubnd", "phong"]):
            # "phòng Tài chính - Kế hoạch" is often just "phòng Tài chính".
            parts = re.split(r"\s+(?:-|–|—|va|&)\s+|\s*[-–—&]\s*", fold(written))
            first = _strip_generic(_WORD_RE.findall(parts[0]))
            if len(parts) > 1 and first:
                keys.add("phong" + "".join(first))
    for key in list(keys):
        for short, spelled in _ABBREVIATIONS:
            if short in key:
                keys.add(key.replace(short, spelled))
            if spelled in key:
                keys.add(key.replace(spelled, short))
    return {k for k in keys if k and k not in _TOO_GENERIC and len(k) >= 4}


def _within_one_edit(a: str, b: str) -> bool:
    if a == b:
        return True
    if abs(len(a) - len(b)) > 1:
        return False
    if len(a) == len(b):
        return sum(x != y for x, y in zip(a, b, strict=True)) == 1
    if len(a) > len(b):
        a, b = b, a
    for i in range(len(b)):
        if b[:i] + b[i + 1 :] == a:
            return True
    return False


class UnitMatcher:
    """Finds mentions of a fixed set of units in texts."""

    def __init__(self, units: Sequence[UnitName]) -> None:
        self._exact: dict[str, str] = {}
        self._fuzzy: list[tuple[str, str]] = []
        for unit in units:
            for key in sorted(_forms(unit)):
                if key in self._exact and self._exact[key] != unit.code:
                    logger.warning("unit key %r is shared by %s and %s", key, self._exact[key], unit.code)
                    continue
                self._exact[key] = unit.code
                if len(key) >= FUZZY_MIN_KEY_CHARS:
                    self._fuzzy.append((key, unit.code))

    def _lookup(self, window: Sequence[str]) -> str | None:
        joined = "".join(window)
        code = self._exact.get(joined)
        if code is not None:
            return code
        if len(joined) < FUZZY_MIN_KEY_CHARS - 1:
            return None
        for key, fuzzy_code in self._fuzzy:
            # The first word must agree ("ia ..."), so that a fuzzy match starts where the name starts.
            if key.startswith(window[0]) and _within_one_edit(joined, key):
                return fuzzy_code
        return None

    def find(self, words: Words) -> list[UnitMention]:
        """Non-overlapping mentions, left to right, longest window first at each position."""
        mentions: list[UnitMention] = []
        i = 0
        n = len(words.folded)
        while i < n:
            hit: tuple[int, str] | None = None
            for size in range(min(MAX_NAME_WORDS, n - i), 0, -1):
                code = self._lookup(words.folded[i : i + size])
                if code is not None:
                    hit = (size, code)
                    break
            if hit is None:
                i += 1
                continue
            size, code = hit
            span = (words.spans[i][0], words.spans[i + size - 1][1])
            mentions.append(UnitMention(code=code, first_word=i, end_word=i + size, span=span))
            i += size
        return mentions
