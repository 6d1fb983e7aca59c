"""The Ogg page layer: CRC against a bit-by-bit reference, page round trip, torn and corrupt pages."""

from __future__ import annotations

import os

from recordings.ogg import HEADER_TYPE_BOS, build_page, iter_pages, lacing_values, ogg_crc32


def reference_crc(data: bytes) -> int:
    """The Ogg CRC as RFC 3533 describes it: polynomial 0x04C11DB7, MSB first, init 0."""
    crc = 0
    for byte in data:
        crc ^= byte << 24
        for _ in range(8):
            crc = ((crc << 1) ^ 0x04C11DB7) if crc & 0x80000000 else crc << 1
            crc &= 0xFFFFFFFF
    return crc


def test_crc_matches_reference() -> None:
    for size in (0, 1, 27, 255, 4096, 5000):
        data = os.urandom(size)
        assert ogg_crc32(data) == reference_crc(data)


def test_lacing_values() -> None:
    assert lacing_values(0) == b"\x00"
    assert lacing_values(254) == b"\xfe"
    assert lacing_values(255) == b"\xff\x00"
    assert lacing_values(600) == b"\xff\xff\x5a"


def test_pages_round_trip_and_stop_at_damage() -> None:
    packets = [os.urandom(n) for n in (3, 255, 700, 0, 120)]
    first = build_page(packets[:2], serial=7, sequence=0, granule_position=1000, header_type=HEADER_TYPE_BOS)
    second = build_page(packets[2:], serial=7, sequence=1, granule_position=2000)
    pages = list(iter_pages(first + second))
    assert [p.packets for p in pages] == [tuple(packets[:2]), tuple(packets[2:])]
    assert [p.granule_position for p in pages] == [1000, 2000]
    assert pages[0].header_type == HEADER_TYPE_BOS and pages[1].sequence == 1
    # a torn second page: only the first one is read
    assert len(list(iter_pages(first + second[:-5]))) == 1
    # a flipped bit in the second page's body fails its CRC
    damaged = bytearray(first + second)
    damaged[-1] ^= 0x01
    assert len(list(iter_pages(bytes(damaged)))) == 1
