"""The Ogg page format (RFC 3533): CRC, lacing, page building and page scanning.

Only what an Ogg Opus recorder needs: one logical stream per file, pages built from whole packets
(a packet never continues onto the next page), and a tolerant reader that stops at the first page
that is torn or fails its CRC (the tail a crash may leave behind).
"""

from __future__ import annotations

import logging
import struct
import zlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

logger = logging.getLogger(__name__)

CAPTURE_PATTERN = b"OggS"
PAGE_HEADER_SIZE_BYTES = 27
MAX_SEGMENTS_PER_PAGE = 255
MAX_SEGMENT_SIZE_BYTES = 255
GRANULE_NONE = -1  # no packet finishes on the page

HEADER_TYPE_CONTINUED = 0x01
HEADER_TYPE_BOS = 0x02
HEADER_TYPE_EOS = 0x04

_HEADER = struct.Struct("<4sBBqIII B")
_BIT_REVERSE_TABLE = bytes(int(f"{i:08b}"[::-1], 2) for i in range(256))


def _reverse32(value: int) -> int:
    return int(f"{value:032b}"[::-1], 2)


def ogg_crc32(data: bytes) -> int:
    """The Ogg CRC-32 (polynomial 0x04C11DB7, MSB first, init 0, no final xor).

    Computed with zlib's reflected CRC-32 on bit-reversed bytes: the two CRCs are mirror images of
    each other, so this runs in C instead of a per-byte Python loop.
    """
    reflected = zlib.crc32(data.translate(_BIT_REVERSE_TABLE), 0xFFFFFFFF) ^ 0xFFFFFFFF
    return _reverse32(reflected)


def lacing_values(packet_size_bytes: int) -> bytes:
    """The segment table entries of one packet that ends on its page."""
    full, rest = divmod(packet_size_bytes, MAX_SEGMENT_SIZE_BYTES)
    return bytes([MAX_SEGMENT_SIZE_BYTES] * full + [rest])


def build_page(
    packets: Sequence[bytes],
    *,
    serial: int,
    sequence: int,
    granule_position: int,
    header_type: int = 0,
) -> bytes:
    """One complete Ogg page holding whole packets, CRC included."""
    table = b"".join(lacing_values(len(p)) for p in packets)
    if len(table) > MAX_SEGMENTS_PER_PAGE:
        raise ValueError(f"{len(table)} segments do not fit one Ogg page")
    header = _HEADER.pack(CAPTURE_PATTERN, 0, header_type, granule_position, serial, sequence, 0, len(table))
    page = bytearray(header)
    page += table
    for packet in packets:
        page += packet
    struct.pack_into("<I", page, 22, ogg_crc32(bytes(page)))
    return bytes(page)


@dataclass(frozen=True)
class OggPage:
    """One page read back from a file."""

    offset_bytes: int
    size_bytes: int
    header_type: int
    granule_position: int
    serial: int
    sequence: int
    packets: tuple[bytes, ...]  # packets (or packet pieces) that end on this page
    ends_with_continued_packet: bool

    @property
    def end_offset_bytes(self) -> int:
        return self.offset_bytes + self.size_bytes


def iter_pages(data: bytes) -> Iterator[OggPage]:
    """Yield every valid page from the start of ``data``; stop at the first torn or corrupt one."""
    offset = 0
    size = len(data)
    while offset + PAGE_HEADER_SIZE_BYTES <= size:
        if data[offset : offset + 4] != CAPTURE_PATTERN:
            logger.debug("no Ogg capture pattern at byte %d: stopping", offset)
            return
        (_, version, header_type, granule, serial, sequence, crc, n_segments) = _HEADER.unpack_from(
            data, offset
        )
        table_end = offset + PAGE_HEADER_SIZE_BYTES + n_segments
        if version != 0 or table_end > size:
            return
        table = data[offset + PAGE_HEADER_SIZE_BYTES : table_end]
        body_size = sum(table)
        page_end = table_end + body_size
        if page_end > size:
            logger.debug("torn Ogg page at byte %d: stopping", offset)
            return
        raw = bytearray(data[offset:page_end])
        struct.pack_into("<I", raw, 22, 0)
        if ogg_crc32(bytes(raw)) != crc:
            logger.debug("Ogg CRC mismatch at byte %d: stopping", offset)
            return
        packets: list[bytes] = []
        start = table_end
        length = 0
        for value in table:
            length += value
            if value < MAX_SEGMENT_SIZE_BYTES:
                packets.append(data[start : start + length])
                start += length
                length = 0
        continued = bool(table) and table[-1] == MAX_SEGMENT_SIZE_BYTES
        if continued:
            packets.append(data[start : start + length])
        yield OggPage(
            offset_bytes=offset,
            size_bytes=page_end - offset,
            header_type=header_type,
            granule_position=granule,
            serial=serial,
            sequence=sequence,
            packets=tuple(packets),
            ends_with_continued_packet=continued,
        )
        offset = page_end


def read_pages(path: Path) -> list[OggPage]:
    """Every valid page of a file, in order (see :func:`iter_pages`)."""
    return list(iter_pages(path.read_bytes()))
