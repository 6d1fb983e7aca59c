"""VP8 RTP payload inspection: is this packet the start of a keyframe (RFC 7741)?"""

from __future__ import annotations


def is_keyframe_start(payload: bytes) -> bool:
    """True when the packet starts partition 0 of a VP8 key frame.

    Payload descriptor: X|R|N|S|R|PID; optional extension byte I|L|T|K and its fields; then the VP8 payload
    header whose first bit P is 0 for a key frame.
    """
    if not payload:
        return False
    first = payload[0]
    if not (first & 0x10) or (first & 0x0F) != 0:
        return False
    pos = 1
    if first & 0x80:
        if len(payload) < 2:
            return False
        ext = payload[1]
        pos = 2
        if ext & 0x80:
            if len(payload) <= pos:
                return False
            pos += 2 if payload[pos] & 0x80 else 1
        if ext & 0x40:
            pos += 1
        if ext & 0x30:
            pos += 1
    if len(payload) <= pos:
        return False
    return (payload[pos] & 0x01) == 0
