"""VP8 RTP payload inspection: is this packet the start of a keyframe (RFC 7741), and how large is it?"""

from __future__ import annotations


def _vp8_header_offset(payload: bytes) -> int | None:
    """Where the VP8 payload header starts in a packet that starts partition 0 of a frame, else None."""
    if not payload:
        return None
    first = payload[0]
    if not (first & 0x10) or (first & 0x0F) != 0:
        return None
    pos = 1
    if first & 0x80:
        if len(payload) < 2:
            return None
        ext = payload[1]
        pos = 2
        if ext & 0x80:
            if len(payload) <= pos:
                return None
            pos += 2 if payload[pos] & 0x80 else 1
        if ext & 0x40:
            pos += 1
        if ext & 0x30:
            pos += 1
    if len(payload) <= pos:
        return None
    return pos


def is_keyframe_start(payload: bytes) -> bool:
    """True when the packet starts partition 0 of a VP8 key frame.

    Payload descriptor: X|R|N|S|R|PID; optional extension byte I|L|T|K and its fields; then the VP8 payload
    header whose first bit P is 0 for a key frame.
    """
    pos = _vp8_header_offset(payload)
    return pos is not None and (payload[pos] & 0x01) == 0


def keyframe_size(payload: bytes) -> tuple[int, int] | None:
    """(width, height) of the VP8 key frame this packet starts (RFC 6386 §9.1: the 3-byte frame tag, the start
    code 9d 01 2a, then 14-bit width and height), None for any other packet."""
    pos = _vp8_header_offset(payload)
    if pos is None or payload[pos] & 0x01 or len(payload) < pos + 10:
        return None
    if payload[pos + 3 : pos + 6] != b"\x9d\x01\x2a":
        return None
    width = int.from_bytes(payload[pos + 6 : pos + 8], "little") & 0x3FFF
    height = int.from_bytes(payload[pos + 8 : pos + 10], "little") & 0x3FFF
    return width, height
