"""Word and character error rates with Vietnamese normalisation (NFC, lower case, no punctuation)."""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass


def normalize_vi(text: str) -> str:
    """NFC, lower case, punctuation and symbols replaced by spaces, whitespace collapsed.

    Diacritics are kept: in Vietnamese they distinguish words (``ma``, ``má``, ``mà``, ``mã`` …).
    """
    text = unicodedata.normalize("NFC", text).lower()
    kept = [" " if unicodedata.category(ch)[0] in ("P", "S") else ch for ch in text]
    return " ".join("".join(kept).split())


def edit_distance(reference: Sequence[str], hypothesis: Sequence[str]) -> int:
    """Levenshtein distance (substitutions + deletions + insertions) between two token sequences."""
    if len(reference) < len(hypothesis):
        reference, hypothesis = hypothesis, reference
    previous = list(range(len(hypothesis) + 1))
    for i, ref_token in enumerate(reference, start=1):
        current = [i]
        for j, hyp_token in enumerate(hypothesis, start=1):
            cost = 0 if ref_token == hyp_token else 1
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + cost))
        previous = current
    return previous[-1]


@dataclass(frozen=True)
class ErrorRates:
    """Corpus-level error rates: edits summed over all pairs divided by the reference length."""

    wer: float
    cer: float
    word_errors: int
    reference_words: int
    char_errors: int
    reference_chars: int


def _words(text: str) -> list[str]:
    return normalize_vi(text).split()


def _chars(text: str) -> list[str]:
    # Spaces count as characters between words, as jiwer's CER does on normalised text.
    return list(normalize_vi(text))


def error_rates(references: Sequence[str], hypotheses: Sequence[str]) -> ErrorRates:
    """WER and CER over parallel lists of reference and hypothesis texts."""
    if len(references) != len(hypotheses):
        raise ValueError(f"{len(references)} references but {len(hypotheses)} hypotheses")
    word_errors = ref_words = char_errors = ref_chars = 0
    for ref, hyp in zip(references, hypotheses, strict=True):
        rw, hw = _words(ref), _words(hyp)
        rc, hc = _chars(ref), _chars(hyp)
        word_errors += edit_distance(rw, hw)
        ref_words += len(rw)
        char_errors += edit_distance(rc, hc)
        ref_chars += len(rc)
    if ref_words == 0:
        raise ValueError("the references hold no words")
    return ErrorRates(
        wer=word_errors / ref_words,
        cer=char_errors / ref_chars,
        word_errors=word_errors,
        reference_words=ref_words,
        char_errors=char_errors,
        reference_chars=ref_chars,
    )


def wer(reference: str, hypothesis: str) -> float:
    """Word error rate of one hypothesis against one reference (0.0 is perfect; may exceed 1.0)."""
    return error_rates([reference], [hypothesis]).wer


def cer(reference: str, hypothesis: str) -> float:
    """Character error rate of one hypothesis against one reference."""
    return error_rates([reference], [hypothesis]).cer
