"""Vietnamese folding and tone-placement canonicalisation (server.domain.vntext)."""

from __future__ import annotations

import unicodedata

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from server.domain.vntext import canon, fold, fold_with_offsets, tokenize

VIETNAMESE_LETTERS = (
    "aàáảãạăằắẳẵặâầấẩẫậeèéẻẽẹêềếểễệiìíỉĩịoòóỏõọôồốổỗộơờớởỡợuùúủũụưừứửữựyỳýỷỹỵđ"
    "AÀÁẢÃẠĂẰẮẲẴẶÂẦẤẨẪẬEÈÉẺẼẸÊỀẾỂỄỆIÌÍỈĨỊOÒÓỎÕỌÔỒỐỔỖỘƠỜỚỞỠỢUÙÚỦŨỤƯỪỨỬỮỰYỲÝỶỸỴĐ"
)


@pytest.mark.parametrize(
    ("written", "expected"),
    [
        ("hoà", "hòa"),
        ("hòa", "hòa"),
        ("Hoà bình", "Hòa bình"),
        ("CỘNG HOÀ", "CỘNG HÒA"),
        ("thuỷ lợi", "thủy lợi"),
        ("Uỷ ban nhân dân", "Ủy ban nhân dân"),
        ("UỶ BAN", "ỦY BAN"),
        ("khoẻ", "khỏe"),
        ("loà", "lòa"),
        ("hoá đơn", "hóa đơn"),
        ("thoả thuận", "thỏa thuận"),
        ("xoè", "xòe"),
        ("tuỳ", "tùy"),
        ("luỹ kế", "lũy kế"),
        ("suỵt", "suỵt"),  # final consonant: both conventions agree
        ("hoàng", "hoàng"),
        ("huỳnh", "huỳnh"),
        ("ngoài", "ngoài"),
        ("quý", "quý"),  # qu + y: the tone is on y in every convention
        ("Quý III", "Quý III"),
        ("khuya", "khuya"),
        ("toán", "toán"),
        ("thuở", "thuở"),
    ],
)
def test_canon_uses_one_tone_placement(written: str, expected: str) -> None:
    assert canon(written) == expected
    assert canon(expected) == expected


def test_canon_composes_nfd_input() -> None:
    nfd = unicodedata.normalize("NFD", "Uỷ ban nhân dân xã Chư Mố")
    assert nfd != "Uỷ ban nhân dân xã Chư Mố"
    assert canon(nfd) == "Ủy ban nhân dân xã Chư Mố"
    assert unicodedata.is_normalized("NFC", canon(nfd))


@pytest.mark.parametrize(
    ("text", "folded"),
    [
        ("Đắk Lắk", "dak lak"),
        ("đường", "duong"),
        ("ĐỒNG", "dong"),
        ("hoà", "hoa"),
        ("hòa", "hoa"),
        ("thuỷ", "thuy"),
        ("thủy", "thuy"),
        ("Uỷ", "uy"),
        ("Ủy", "uy"),
        ("khoẻ", "khoe"),
        ("khỏe", "khoe"),
        ("ố ầ ữ ặ ỗ ờ ự", "o a u a o o u"),  # two marks on one letter
        ("Chư Mố", "chu mo"),
        ("Ia Mrơn", "ia mron"),
        ("Pờ Tó", "po to"),
        ("Ia Broăi", "ia broai"),
        (unicodedata.normalize("NFD", "Ủy ban nhân dân xã Ia Trốk"), "uy ban nhan dan xa ia trok"),
        ("Kim Tân 15/5/2026", "kim tan 15/5/2026"),
    ],
)
def test_fold_matrix(text: str, folded: str) -> None:
    assert fold(text) == folded


def test_old_and_new_spellings_fold_and_canon_alike() -> None:
    pairs = [("hoà", "hòa"), ("thuỷ", "thủy"), ("Uỷ", "Ủy"), ("khoẻ", "khỏe"), ("Hoà", "Hòa")]
    for old, new in pairs:
        assert canon(old) == canon(new)
        assert fold(old) == fold(new)


def test_d_and_dstroke_fold_together_but_canon_keeps_them_apart() -> None:
    assert fold("đa") == fold("da") == "da"
    assert canon("đa") != canon("da")


def test_fold_with_offsets_maps_back_to_the_original() -> None:
    text = unicodedata.normalize("NFD", "Đề nghị xã Chư Mố")
    ft = fold_with_offsets(text)
    assert ft.folded == "de nghi xa chu mo"
    start = ft.folded.index("chu mo")
    a, b = ft.span_in_original(start, start + len("chu mo"))
    assert unicodedata.normalize("NFC", text[a:b]) == "Chư Mố"


def test_tokenize_words_in_canon_form() -> None:
    assert tokenize("Uỷ ban, xã Chư Mố: 15/5 (hoà)!") == ["Ủy", "ban", "xã", "Chư", "Mố", "15", "5", "hòa"]
    assert tokenize(" ,.;!? ") == []


@settings(max_examples=400, deadline=None)
@given(
    st.text(
        alphabet=st.sampled_from(VIETNAMESE_LETTERS + " \u0300\u0301\u0303\u0309\u0323.,") | st.characters()
    )
)
def test_fold_of_canon_is_fold(text: str) -> None:
    assert fold(canon(text)) == fold(text)
    assert canon(canon(text)) == canon(text)
    assert fold(fold(text)) == fold(text)


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.sampled_from(VIETNAMESE_LETTERS + " ")))
def test_fold_of_vietnamese_is_ascii(text: str) -> None:
    assert fold(text).isascii()
    assert len(fold(text)) == len(unicodedata.normalize("NFC", text))
