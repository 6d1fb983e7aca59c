"""RTP payloads for redundant audio data (RED, RFC 2198), as Chromium sends them for Opus (``red/48000/2``).

A RED payload is a list of block headers, then the blocks. Each redundant block's header is four bytes:
F=1 (1 bit), block payload type (7), timestamp offset (14), block length (10); the last header is one byte,
F=0 and the payload type of the primary block, whose length is the rest of the payload. The primary is the
packet's own frame (at the RTP timestamp); each redundant block is an earlier frame, at the RTP timestamp
minus its offset. For Opus every block is itself a complete Opus packet.

The parser never raises on what arrives from the network: a payload it cannot read whole gives ``None``
(the caller drops it as it would any undecodable packet).
"""

from __future__ import annotations

from dataclasses import dataclass

RED_HEADER_BYTES = 4
PRIMARY_HEADER_BYTES = 1
MAX_TIMESTAMP_OFFSET = (1 << 14) - 1
MAX_BLOCK_BYTES = (1 << 10) - 1
MAX_REDUNDANT_BLOCKS = 8  # Chromium sends at most 2; more is a malformed or hostile payload
_RTP_TIMESTAMP_MODULUS = 1 << 32


@dataclass(frozen=True)
class RedBlock:
    """One block of a RED payload: its payload type, RTP timestamp and data."""

    payload_type: int
    timestamp: int
    data: bytes


@dataclass(frozen=True)
class RedPayload:
    """A parsed RED payload: the primary block and the redundant ones, oldest first (as sent)."""

    primary: RedBlock
    redundant: tuple[RedBlock, ...]


def parse_red(payload: bytes, rtp_timestamp: int) -> RedPayload | None:
    """Split a RED payload into its blocks; None when malformed.

    Malformed: no primary header, more than MAX_REDUNDANT_BLOCKS redundant headers, block lengths that
    run past the end, an empty primary. Zero-length redundant blocks are legal in RFC 2198 and are
    skipped (they carry no frame).
    """
    headers: list[tuple[int, int, int]] = []
    offset = 0
    size = len(payload)
    while True:
        if offset >= size:
            return None
        first = payload[offset]
        if not first & 0x80:
            primary_type = first & 0x7F
            offset += PRIMARY_HEADER_BYTES
            break
        if len(headers) == MAX_REDUNDANT_BLOCKS or offset + RED_HEADER_BYTES > size:
            return None
        word = int.from_bytes(payload[offset : offset + RED_HEADER_BYTES], "big")
        headers.append(((word >> 24) & 0x7F, (word >> 10) & MAX_TIMESTAMP_OFFSET, word & MAX_BLOCK_BYTES))
        offset += RED_HEADER_BYTES
    blocks: list[RedBlock] = []
    for block_type, ts_offset, length in headers:
        if offset + length > size:
            return None
        if length:
            timestamp = (rtp_timestamp - ts_offset) % _RTP_TIMESTAMP_MODULUS
            blocks.append(RedBlock(block_type, timestamp, bytes(payload[offset : offset + length])))
        offset += length
    if offset >= size:
        return None
    return RedPayload(RedBlock(primary_type, rtp_timestamp, bytes(payload[offset:])), tuple(blocks))


def build_red(
    primary: bytes, payload_type: int, rtp_timestamp: int, redundant: list[tuple[int, bytes]]
) -> bytes:
    """A RED payload (the sender's side, for tests and a client): ``redundant`` = (timestamp, data), oldest
    first. Raises ValueError when an offset or a length does not fit its field."""
    out = bytearray()
    for timestamp, data in redundant:
        ts_offset = (rtp_timestamp - timestamp) % _RTP_TIMESTAMP_MODULUS
        if ts_offset > MAX_TIMESTAMP_OFFSET or len(data) > MAX_BLOCK_BYTES:
            raise ValueError("redundant block does not fit RFC 2198's header fields")
        word = 0x80000000 | (payload_type & 0x7F) << 24 | ts_offset << 10 | len(data)
        out += word.to_bytes(RED_HEADER_BYTES, "big")
    out.append(payload_type & 0x7F)
    for _, data in redundant:
        out += data
    out += primary
    return bytes(out)
