"""Recognising units in running text (server.domain.units)."""

from __future__ import annotations

import pytest

from server.domain.units import UnitMatcher, UnitName, words_of

UNITS = [
    UnitName("CHUMO", "UBND xã Chư Mố", ("Chư Mố",)),
    UnitName("IAMRON", "UBND xã Ia Mrơn", ("Ia Mrơn", "Ia Ma Rơn")),
    UnitName("IATUL", "UBND xã Ia Tul"),
    UnitName("POTO", "UBND xã Pờ Tó"),
    UnitName("TCKH", "Phòng Tài chính - Kế hoạch"),
    UnitName("NNMT", "Phòng Nông nghiệp và Môi trường"),
    UnitName("CAH", "Công an huyện"),
]


@pytest.mark.parametrize(
    ("text", "code", "mention"),
    [
        ("Đề nghị UBND xã Chư Mố báo cáo", "CHUMO", "UBND xã Chư Mố"),
        ("giao xã Chư Mố", "CHUMO", "xã Chư Mố"),
        ("còn Chư Mố thì sao", "CHUMO", "Chư Mố"),
        ("de nghi chu mo", "CHUMO", "chu mo"),
        ("ChưMố đã xong", "CHUMO", "ChưMố"),
        ("UBND xã Ia Mrơn", "IAMRON", "UBND xã Ia Mrơn"),
        ("xã Ia Ma Rơn", "IAMRON", "xã Ia Ma Rơn"),
        ("xã Ia Mơ Rơn", "IAMRON", "xã Ia Mơ Rơn"),  # Whisper's spelling, one letter off
        ("xa ia mron", "IAMRON", "xa ia mron"),
        ("Ủy ban nhân dân xã Ia Tul", "IATUL", "Ủy ban nhân dân xã Ia Tul"),
        ("xã Pờ Tó", "POTO", "xã Pờ Tó"),
        ("phòng Tài chính – Kế hoạch", "TCKH", "phòng Tài chính – Kế hoạch"),
        ("Tài chính Kế hoạch", "TCKH", "Tài chính Kế hoạch"),
        ("phòng Tài chính", "TCKH", "phòng Tài chính"),
        ("phòng nông nghiệp", "NNMT", "phòng nông nghiệp"),
        ("Công an huyện", "CAH", "Công an huyện"),
    ],
)
def test_units_are_found_in_their_spoken_forms(text: str, code: str, mention: str) -> None:
    found = UnitMatcher(UNITS).find(words_of(text))
    assert [m.code for m in found] == [code]
    a, b = found[0].span
    assert text[a:b] == mention


@pytest.mark.parametrize(
    "text",
    ["Ủy ban nhân dân huyện", "các xã", "phòng họp", "công an xã", "tài chính", "ia", "kế hoạch năm"],
)
def test_generic_words_are_not_units(text: str) -> None:
    assert UnitMatcher(UNITS).find(words_of(text)) == []


def test_several_units_in_order() -> None:
    found = UnitMatcher(UNITS).find(words_of("các xã Chư Mố, Ia Tul và Pờ Tó"))
    assert [m.code for m in found] == ["CHUMO", "IATUL", "POTO"]
