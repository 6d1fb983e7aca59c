"""WER/CER with Vietnamese normalisation, checked against jiwer on the same normalised text."""

from __future__ import annotations

import unicodedata

import jiwer
import pytest

from transcription.wer import cer, edit_distance, error_rates, normalize_vi, wer


def test_normalize_vi_nfc_lower_no_punctuation() -> None:
    decomposed = unicodedata.normalize("NFD", "Đồng chí Chủ tịch: “Hoàn thành trước 30/6!”")
    assert normalize_vi(decomposed) == "đồng chí chủ tịch hoàn thành trước 30 6"
    assert normalize_vi("  Ủy ban   nhân dân,\nxã Ia Tul.  ") == "ủy ban nhân dân xã ia tul"
    assert normalize_vi("...!?") == ""


def test_diacritics_are_different_words() -> None:
    assert wer("ma má mà", "ma ma ma") == pytest.approx(2 / 3)


@pytest.mark.parametrize(
    ("reference", "hypothesis"),
    [
        (
            "chúng tôi cứ len lén nhìn và chẳng thấy ngượng ngập",
            "Chúng tôi cứ lên lén nhìn và chẳng thấy ngọn ngập.",
        ),
        ("xin chào các đồng chí", "xin chào, các đồng chí đồng chí ạ"),
        ("một hai ba bốn năm", "hai ba năm"),
        ("hội nghị trực tuyến", ""),
    ],
)
def test_rates_match_jiwer(reference: str, hypothesis: str) -> None:
    ref, hyp = normalize_vi(reference), normalize_vi(hypothesis)
    assert wer(reference, hypothesis) == pytest.approx(jiwer.wer(ref, hyp))
    assert cer(reference, hypothesis) == pytest.approx(jiwer.cer(ref, hyp))


def test_corpus_rates_sum_edits_over_reference_words() -> None:
    rates = error_rates(["một hai ba", "bốn năm"], ["một hai", "bốn năm sáu"])
    assert (rates.word_errors, rates.reference_words) == (2, 5)
    assert rates.wer == pytest.approx(0.4)
    assert rates.wer == pytest.approx(jiwer.wer(["một hai ba", "bốn năm"], ["một hai", "bốn năm sáu"]))


def test_edit_distance_and_errors() -> None:
    assert edit_distance(list("kitten"), list("sitting")) == 3
    assert edit_distance([], ["a"]) == 1
    with pytest.raises(ValueError):
        error_rates(["a"], [])
    with pytest.raises(ValueError):
        error_rates(["..."], ["a"])
