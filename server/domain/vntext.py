"""Vietnamese text normalisation for search, matching and safe full-text queries.

Three forms of a text, all pure functions of it:

- ``canon(text)``: NFC with one tone-placement convention. Vietnamese writes the tone of the open syllables
  ending in ``oa``, ``oe`` and ``uy`` in two ways: on the second vowel (hoà, khoẻ, thuỷ, Uỷ) or on the first
  (hòa, khỏe, thủy, Ủy). ``canon`` maps every such syllable onto the latter form, the one Decree 30/2020 uses
  in its forms ("CỘNG HÒA", "Ủy ban nhân dân"). Syllables with a final consonant or a third vowel (hoàng,
  huỳnh, ngoài, khuya) are spelt the same in both conventions and are left alone, as is ``qu`` + ``y`` (quý).
- ``fold(text)``: ``canon``, every diacritic stripped, ``đ``/``Đ`` → ``d``, lower case — the accent-
  insensitive form ("Ủy ban" → "uy ban").
- ``fold_with_offsets(text)``: the folded text with, for each folded character, the index of the character
  of the input it came from, so that matches found in the folded form map back to the original spelling.

Queries: :func:`parse_query` turns what a user typed into terms (words, ``"phrases"``, ``prefix*``) and drops
every piece of query syntax; :func:`build_fts5_query` and :func:`build_tsquery` render those terms as a SQLite
FTS5 MATCH expression and a PostgreSQL ``to_tsquery('simple', ...)`` string, one for the canon column and one
for the fold column. Both only ever emit quoted runs of letters and digits, so no input can produce an invalid
expression; a query with no letter or digit at all raises :class:`EmptyQueryError`.
"""

from __future__ import annotations

import logging
import re
import unicodedata
from dataclasses import dataclass

logger = logging.getLogger(__name__)

#: Combining marks that carry a Vietnamese tone (huyền, sắc, hỏi, ngã, nặng).
TONE_MARKS = frozenset("\u0300\u0301\u0309\u0303\u0323")

#: A prefix query shorter than this many characters is searched as a whole word (short prefixes are slow
#: and match almost everything).
MIN_PREFIX_CHARS = 3

#: FTS5 / tsquery operator words a user may type; they are dropped rather than searched for.
QUERY_KEYWORDS = frozenset({"AND", "OR", "NOT", "NEAR"})

_IDENTIFIER_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


class EmptyQueryError(ValueError):
    """The query holds no letter or digit to search for."""

    message = "Vui lòng nhập từ khóa tìm kiếm."

    def __init__(self) -> None:
        super().__init__(self.message)


def _is_word_char(ch: str) -> bool:
    """Letters, digits, combining marks and private-use characters (SQLite unicode61 token characters)."""
    cat = unicodedata.category(ch)
    return cat[0] in "LNM" or cat == "Co"


def _clusters(word: str) -> list[tuple[str, str]]:
    """Split an NFD word into (base, marks) grapheme clusters."""
    out: list[tuple[str, str]] = []
    for ch in word:
        if unicodedata.combining(ch) and out:
            base, marks = out[-1]
            out[-1] = (base, marks + ch)
        else:
            out.append((ch, ""))
    return out


def _canon_word(word: str) -> str:
    """Move the tone of a final ``oa``/``oe``/``uy`` from the second vowel to the first (hoà → hòa)."""
    clusters = _clusters(unicodedata.normalize("NFD", word))
    if len(clusters) < 2:
        return word
    (b1, m1), (b2, m2) = clusters[-2], clusters[-1]
    pair = (b1.lower(), b2.lower())
    if pair not in (("o", "a"), ("o", "e"), ("u", "y")):
        return word
    if m1 or len(m2) != 1 or m2 not in TONE_MARKS:
        return word
    if len(clusters) >= 3:
        prev = clusters[-3][0].lower()
        if pair == ("u", "y") and prev == "q":
            return word  # "quý": u belongs to the consonant qu
        if prev in "aeiouyăâêôơư":
            return word
    clusters[-2] = (b1, m2)
    clusters[-1] = (b2, "")
    return unicodedata.normalize("NFC", "".join(b + m for b, m in clusters))


def _word_runs(text: str) -> list[tuple[int, int]]:
    """(start, end) of every maximal run of word characters."""
    runs: list[tuple[int, int]] = []
    start = -1
    for i, ch in enumerate(text):
        if _is_word_char(ch):
            if start < 0:
                start = i
        elif start >= 0:
            runs.append((start, i))
            start = -1
    if start >= 0:
        runs.append((start, len(text)))
    return runs


def canon(text: str) -> str:
    """NFC with the tone of open ``oa``/``oe``/``uy`` syllables on the first vowel (hoà → hòa, Uỷ → Ủy)."""
    nfc = unicodedata.normalize("NFC", text)
    parts: list[str] = []
    last = 0
    for start, end in _word_runs(nfc):
        parts.append(nfc[last:start])
        parts.append(_canon_word(nfc[start:end]))
        last = end
    parts.append(nfc[last:])
    return unicodedata.normalize("NFC", "".join(parts))


def _fold_char(ch: str) -> str:
    if ch in "đĐ":
        return "d"
    stripped = "".join(c for c in unicodedata.normalize("NFD", ch) if not unicodedata.combining(c))
    return stripped.lower()


def fold(text: str) -> str:
    """``canon(text)`` without diacritics, with đ → d, in lower case ("Ủy ban Chư Mố" → "uy ban chu mo")."""
    return "".join(_fold_char(ch) for ch in canon(text))


@dataclass(frozen=True)
class FoldedText:
    """A text's folded form with, per folded character, the index of its source character in ``original``."""

    original: str
    folded: str
    offsets: tuple[int, ...]

    def span_in_original(self, start: int, end: int) -> tuple[int, int]:
        """Map the folded half-open span [start, end) back onto ``original``."""
        if start >= end:
            pos = self.offsets[start] if start < len(self.offsets) else len(self.original)
            return pos, pos
        first = self.offsets[start]
        last = self.offsets[end - 1]
        stop = last + 1
        # Keep combining marks that trail the last character (NFD input).
        while stop < len(self.original) and unicodedata.combining(self.original[stop]):
            stop += 1
        return first, stop


def fold_with_offsets(text: str) -> FoldedText:
    """Fold ``text`` character by character, remembering where each folded character came from.

    The result equals ``fold(text)`` except that tone placement is not canonicalised (it does not matter once
    marks are stripped) and the input is not NFC-composed first (combining marks fold to nothing).
    """
    out: list[str] = []
    offsets: list[int] = []
    for i, ch in enumerate(text):
        piece = _fold_char(ch)
        out.append(piece)
        offsets.extend([i] * len(piece))
    return FoldedText(original=text, folded="".join(out), offsets=tuple(offsets))


def tokenize(text: str) -> list[str]:
    """The words of ``canon(text)``: runs of letters and digits (with their marks), in order, case kept."""
    return _words(canon(text))


def _words(c: str) -> list[str]:
    words: list[str] = []
    for start, end in _word_runs(c):
        word = c[start:end]
        if any(unicodedata.category(ch)[0] in "LN" or unicodedata.category(ch) == "Co" for ch in word):
            words.append(word)
    return words


@dataclass(frozen=True)
class QueryTerm:
    """One thing to search for: a run of words that must be adjacent; ``prefix`` applies to the last word.

    ``raw`` is the term as typed (NFC, without the quotes or the ``*``) for engines that tokenize it
    themselves (PostgreSQL's parser keeps "15/5" as one token where SQLite's unicode61 sees "15" "5").
    """

    words: tuple[str, ...]
    prefix: bool = False
    raw: str = ""


@dataclass(frozen=True)
class ParsedQuery:
    """All terms of a user's query; every term must match (AND)."""

    terms: tuple[QueryTerm, ...]


@dataclass(frozen=True)
class FtsQuery:
    """SQLite FTS5 MATCH expressions: ``canon`` for the canon column, ``fold`` for the fold column."""

    canon: str
    fold: str

    def across(self, canon_column: str, fold_column: str) -> str:
        """One MATCH expression that searches both columns of one FTS5 table (canon hits OR fold hits)."""
        for name in (canon_column, fold_column):
            if not _IDENTIFIER_RE.fullmatch(name):
                raise ValueError(f"not a plain column name: {name!r}")
        return f"{canon_column} : ({self.canon}) OR {fold_column} : ({self.fold})"


@dataclass(frozen=True)
class TsQuery:
    """PostgreSQL ``to_tsquery('simple', ...)`` strings for the canon and the fold tsvector columns, and the
    folded text of each multi-word term (``phrases``: a matching row holds all its adjacent word pairs)."""

    canon: str
    fold: str
    phrases: tuple[str, ...] = ()


def parse_query(user_query: str) -> ParsedQuery:
    """Split a user's query into terms: ``"quoted phrases"``, ``prefix*`` words and plain words.

    Punctuation inside a word ("15/5", "Tài chính-Kế hoạch") makes its pieces a phrase, as the indexer sees
    them adjacent. Operator words (AND, OR, NOT, NEAR) outside quotes, parentheses, ``^``, ``:``, ``+`` and
    unbalanced quotes are dropped. Raises :class:`EmptyQueryError` when nothing searchable is left.
    """
    terms: list[QueryTerm] = []
    # An unbalanced final quote is ignored: everything after it is read as plain words.
    pieces = user_query.split('"')
    if len(pieces) % 2 == 0:
        pieces = pieces[:-2] + [pieces[-2] + " " + pieces[-1]]
    for index, piece in enumerate(pieces):
        if index % 2 == 1:
            words = tuple(tokenize(piece))
            if words:
                terms.append(QueryTerm(words=words, prefix=False, raw=canon(piece)))
            continue
        for chunk in piece.split():
            if chunk in QUERY_KEYWORDS:
                continue
            words = tuple(tokenize(chunk))
            if not words:
                continue
            body = chunk.rstrip(")]}")
            wants_prefix = body.endswith("*")
            # A prefix is a word cut short: "soá*" must not be re-toned as if "soá" were a whole syllable.
            prefix_words = tuple(_words(unicodedata.normalize("NFC", chunk)))
            if wants_prefix and len(prefix_words[-1]) >= MIN_PREFIX_CHARS:
                raw = unicodedata.normalize("NFC", body.rstrip("*"))
                terms.append(QueryTerm(words=prefix_words, prefix=True, raw=raw))
            else:
                terms.append(QueryTerm(words=words, prefix=False, raw=canon(chunk)))
    if not terms:
        raise EmptyQueryError()
    return ParsedQuery(terms=tuple(terms))


def _fts5_term(words: tuple[str, ...], prefix: bool) -> str:
    # Words hold only letters, digits and marks: no quote can appear inside, but double any anyway.
    body = " ".join(w.replace('"', '""') for w in words)
    return f'"{body}"' + (" *" if prefix else "")


def _render_fts5(parsed: ParsedQuery, folded: bool) -> str:
    rendered: list[str] = []
    for term in parsed.terms:
        words = tuple(fold(w) for w in term.words) if folded else term.words
        words = tuple(w for w in words if w)
        if words:
            rendered.append(_fts5_term(words, term.prefix))
    # A term that folds to nothing (only marks) still needs a valid expression: an empty phrase matches none.
    return " ".join(rendered) if rendered else '""'


def build_fts5_query(user_query: str) -> FtsQuery:
    """A safe FTS5 MATCH expression for the canon column and one for the fold column.

    Every term is a double-quoted phrase (``"chư mố"``), optionally followed by `` *`` for a prefix; terms
    are ANDed by juxtaposition. Nothing the user typed is interpreted as FTS5 syntax.
    """
    parsed = parse_query(user_query)
    return FtsQuery(canon=_render_fts5(parsed, folded=False), fold=_render_fts5(parsed, folded=True))


def _ts_quoted(text: str) -> str:
    """A single-quoted tsquery operand: PostgreSQL's parser splits it into lexemes (joined by ``<->``).

    Quotes and backslashes are doubled; control characters and lone surrogates (which PostgreSQL rejects)
    become spaces. Nothing inside the quotes is tsquery syntax.
    """
    clean = "".join(" " if unicodedata.category(ch) in ("Cc", "Cs") else ch for ch in text)
    return "'" + clean.replace("\\", "\\\\").replace("'", "''") + "'"


def _render_tsquery(parsed: ParsedQuery, folded: bool) -> str:
    rendered: list[str] = []
    for term in parsed.terms:
        raw = term.raw or " ".join(term.words)
        operand = _ts_quoted(fold(raw) if folded else raw.lower())
        rendered.append(operand + (":*" if term.prefix else ""))
    return " & ".join(rendered)


def build_tsquery(user_query: str) -> TsQuery:
    """Safe ``to_tsquery('simple', ...)`` strings: ``'hòa' & 'xã chư mố' & 'rà':*``.

    Each term is one quoted operand, which ``to_tsquery`` runs through the same parser as ``to_tsvector``
    (a multi-word operand becomes a ``<->`` phrase), so "15/5" or "chính-kế" tokenize alike on both sides.
    """
    parsed = parse_query(user_query)
    phrases: list[str] = []
    for term in parsed.terms:
        # A prefix's last word is cut short: only the pairs before it are whole.
        whole = term.words[:-1] if term.prefix else term.words
        if len(whole) >= 2:
            phrases.append(" ".join(fold(word) for word in whole))
    return TsQuery(
        canon=_render_tsquery(parsed, folded=False),
        fold=_render_tsquery(parsed, folded=True),
        phrases=tuple(phrases),
    )
