"""IncomingPacket read straight from plaintext RTP (the fast receive path) equals aiortc's parse of it."""

from __future__ import annotations

import time

import pytest
from aiortc.rtp import HeaderExtensionsMap, RtpPacket, unwrap_rtx

from server.media.incoming import IncomingPacket
from tests.media.rtp import ext_map


def fields(packet: IncomingPacket) -> tuple[object, ...]:
    return (
        packet.ssrc,
        packet.seq,
        packet.ts,
        packet.marker,
        packet.payload,
        packet.abs_send_time,
        packet.audio_level,
        packet.payload_type,
    )


def reference(data: bytes, mapping: HeaderExtensionsMap) -> IncomingPacket:
    """What the aiortc way in builds: RtpPacket.parse, then IncomingPacket.from_rtp."""
    return IncomingPacket.from_rtp(RtpPacket.parse(data, mapping), False, 0.0)


@pytest.mark.parametrize("ids", [(1, 3, 2), (1, 0, 0), (0, 0, 0), (9, 14, 11), (1, 3, 200), (15, 16, 17)])
@pytest.mark.parametrize("abs_send_time", [None, 0xABCDEF])
@pytest.mark.parametrize("level", [None, (True, 3), (False, 127)])
@pytest.mark.parametrize("csrcs", [[], [1, 2, 3]])
@pytest.mark.parametrize("padding", [0, 1, 7])
def test_parse_reads_what_aiortc_reads(
    ids: tuple[int, int, int],
    abs_send_time: int | None,
    level: tuple[bool, int] | None,
    csrcs: list[int],
    padding: int,
) -> None:
    mid_id, abs_id, level_id = ids
    mapping = ext_map(*ids)
    packet = RtpPacket(payload_type=96, marker=1, sequence_number=65535, timestamp=0xFFFFFFFF, ssrc=0xCAFE)
    packet.csrc = csrcs
    packet.padding_size = padding
    packet.payload = b"\x10\x00\x00vp8 payload"
    packet.extensions.mid = "7"
    packet.extensions.abs_send_time = abs_send_time
    packet.extensions.audio_level = level
    data = packet.serialize(mapping)

    parsed = IncomingPacket.parse(data, abs_id, level_id, time.time())
    assert fields(parsed) == fields(reference(data, mapping))
    assert parsed.payload == b"\x10\x00\x00vp8 payload"


def test_parse_ignores_extensions_that_were_not_negotiated() -> None:
    packet = RtpPacket(payload_type=111, sequence_number=1, timestamp=2, ssrc=3, payload=b"opus")
    packet.extensions.abs_send_time = 5
    packet.extensions.audio_level = (True, 9)
    data = packet.serialize(ext_map(1, 3, 2))
    parsed = IncomingPacket.parse(data, 0, 0, 0.0)
    assert parsed.abs_send_time is None and parsed.audio_level is None and parsed.payload == b"opus"


@pytest.mark.parametrize(
    "data",
    [
        b"\x80\x60\x00",  # shorter than the fixed header
        b"\x40" + bytes(11),  # version 1
        b"\x82" + bytes(11) + bytes(4),  # two CSRCs announced, one present
        b"\x90" + bytes(11) + b"\xbe\xde",  # extension header truncated
        b"\x90" + bytes(11) + b"\xbe\xde\x00\x02" + bytes(4),  # extension shorter than its length
        b"\xa0" + bytes(11) + b"\x00",  # padding length 0
        b"\xa0" + bytes(11) + b"\x09",  # padding longer than the packet
        b"\x90"
        + bytes(11)
        + b"\xbe\xde\x00\x01"
        + b"\x33\x01\x02\x00",  # element truncated (4 > 3 bytes left)
    ],
)
def test_parse_refuses_what_aiortc_refuses(data: bytes) -> None:
    mapping = ext_map(1, 3, 2)
    with pytest.raises(ValueError):
        RtpPacket.parse(data, mapping)
    with pytest.raises(ValueError):
        IncomingPacket.parse(data, 3, 2, 0.0)


def test_unwrap_rtx_in_place_matches_aiortc() -> None:
    mapping = ext_map(1, 3, 2)
    rtx = RtpPacket(payload_type=97, marker=1, sequence_number=9, timestamp=1234, ssrc=0xBEEF)
    rtx.payload = b"\x12\x34" + b"frame"
    rtx.extensions.abs_send_time = 77
    data = rtx.serialize(mapping)

    packet = IncomingPacket.parse(data, 3, 2, 0.0)
    packet.unwrap_rtx(0xF00D, 96)
    expected = IncomingPacket.from_rtp(
        unwrap_rtx(RtpPacket.parse(data, mapping), payload_type=96, ssrc=0xF00D), False, 0.0
    )
    assert fields(packet) == fields(expected)
    assert (packet.seq, packet.payload, packet.ssrc) == (0x1234, b"frame", 0xF00D)
