"""The forwarding hot path without the network: header template vs aiortc's serialisation, seq/ts rewriting,
keyframe hold, RTX answers from the shared history, and the numbers of the viewer's Sender Reports."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest
import pytest_asyncio
from aiortc import RTCPeerConnection, RTCRtpTransceiver
from aiortc.rtp import RtpPacket

from server.media import aiortc_hooks as hooks
from server.media.config import MediaConfig
from server.media.forwarding import NTP_EPOCH_OFFSET_S, StreamForwarder
from server.media.incoming import IncomingPacket
from server.media.rtp_writer import RtpWriter
from tests.media.rtp import ext_map

VP8_KEYFRAME = b"\x10\x00\x00"  # S=1, PID 0; VP8 header P bit 0
VP8_DELTA = b"\x10\x01\x00"
VP8_CONTINUATION = b"\x00\x01\x00"


def incoming(
    seq: int,
    ts: int,
    payload: bytes,
    *,
    marker: int = 0,
    abs_send_time: int | None = None,
    level: tuple[bool, int] | None = None,
    ssrc: int = 4242,
) -> IncomingPacket:
    packet = RtpPacket(payload_type=100, marker=marker, sequence_number=seq, timestamp=ts, ssrc=ssrc)
    packet.payload = payload
    packet.extensions.abs_send_time = abs_send_time
    packet.extensions.audio_level = level
    return IncomingPacket.from_rtp(packet, payload.startswith(VP8_KEYFRAME), time.time())


@pytest.mark.parametrize("abs_send_time", [None, 0x123456])
@pytest.mark.parametrize("level", [None, (True, 33), (False, 127)])
@pytest.mark.parametrize("ids", [(1, 3, 2), (1, 0, 0), (9, 14, 11), (15, 3, 2), (1, 3, 200)])
def test_rtp_writer_output_parses_like_aiortc_serialisation(
    abs_send_time: int | None, level: tuple[bool, int] | None, ids: tuple[int, int, int]
) -> None:
    mid_id, abs_id, level_id = ids
    writer = RtpWriter(111, 0xDEADBEEF, "12", mid_id, abs_id, level_id)
    source = incoming(7, 99, b"opus!", marker=1, abs_send_time=abs_send_time, level=level)
    data = writer.packet(60000, 0xFFFFFFF0, source)
    assert writer.two_byte == (max(ids) > 14)

    mapping = ext_map(*ids)
    parsed = RtpPacket.parse(data, mapping)
    assert (parsed.payload_type, parsed.marker, parsed.sequence_number, parsed.timestamp, parsed.ssrc) == (
        111,
        1,
        60000,
        0xFFFFFFF0,
        0xDEADBEEF,
    )
    assert parsed.payload == b"opus!" and parsed.padding_size == 0
    assert parsed.extensions.mid == "12"
    assert parsed.extensions.abs_send_time == (abs_send_time if abs_id else None)
    assert parsed.extensions.audio_level == (level if level_id else None)

    # what the previous implementation sent: aiortc's own serialisation of the same packet
    reference = RtpPacket(
        payload_type=111, marker=1, sequence_number=60000, timestamp=0xFFFFFFF0, ssrc=0xDEADBEEF
    )
    reference.payload = b"opus!"
    reference.extensions.mid = "12"
    reference.extensions.abs_send_time = abs_send_time
    reference.extensions.audio_level = level
    expected = RtpPacket.parse(reference.serialize(mapping), mapping)
    assert vars(parsed.extensions) == vars(expected.extensions)
    if not writer.two_byte:  # (aiortc picks the form per packet, the template per m-line)
        assert len(data) == len(reference.serialize(mapping))


def test_rtp_writer_without_extensions_writes_a_plain_header() -> None:
    data = RtpWriter(96, 1, "0", 0, 0, 0).packet(1, 2, incoming(5, 6, b"x", abs_send_time=5))
    assert data[0] == 0x80 and len(data) == 12 + 1


@dataclass
class Negotiated:
    forwarder: StreamForwarder
    transceiver: RTCRtpTransceiver
    sent: list[bytes]

    def parsed(self) -> list[RtpPacket]:
        mapping = hooks.header_extensions_map(self.transceiver)
        return [RtpPacket.parse(d, mapping) for d in self.sent]


async def _negotiate(kind: str) -> AsyncIterator[Negotiated]:
    hooks.install_ice_host_addresses(["127.0.0.1"])
    config = MediaConfig().rtc_configuration()
    server, client = RTCPeerConnection(config), RTCPeerConnection(config)
    try:
        transceiver = server.addTransceiver(kind, direction="sendonly")
        await server.setLocalDescription(await server.createOffer())
        await client.setRemoteDescription(server.localDescription)
        await client.setLocalDescription(await client.createAnswer())
        await server.setRemoteDescription(client.localDescription)
        clock_rate_hz = 90000 if kind == "video" else 48000
        forwarder = StreamForwarder(transceiver, kind, clock_rate_hz, history_packets=64)
        sent: list[bytes] = []

        def output(data: bytes) -> bool:
            sent.append(data)
            return True

        forwarder.configure(output)
        assert forwarder.ready
        yield Negotiated(forwarder, transceiver, sent)
    finally:
        await client.close()
        await server.close()


@pytest_asyncio.fixture
async def video() -> AsyncIterator[Negotiated]:
    async for negotiated in _negotiate("video"):
        yield negotiated


@pytest_asyncio.fixture
async def audio() -> AsyncIterator[Negotiated]:
    async for negotiated in _negotiate("audio"):
        yield negotiated


@pytest.mark.asyncio
async def test_video_is_held_until_a_keyframe_then_rewritten_contiguously(video: Negotiated) -> None:
    f = video.forwarder
    assert not f.forward(incoming(100, 9000, VP8_DELTA))
    assert f.waiting_keyframe and not video.sent
    assert f.forward(incoming(101, 12000, VP8_KEYFRAME, abs_send_time=777))
    assert f.forward(incoming(102, 12000, VP8_CONTINUATION, marker=1))
    assert f.forward(incoming(103, 15000, VP8_DELTA, marker=1))
    first, second, third = video.parsed()
    assert first.ssrc == hooks.sender_ssrc(video.transceiver.sender)
    assert first.payload_type == hooks.negotiated_codecs(video.transceiver)[0].payloadType
    assert second.sequence_number == (first.sequence_number + 1) % 65536
    assert third.sequence_number == (first.sequence_number + 2) % 65536
    assert second.timestamp == first.timestamp and (third.timestamp - first.timestamp) % 2**32 == 3000
    assert [p.marker for p in (first, second, third)] == [0, 1, 1]
    assert first.extensions.mid == video.transceiver.mid and first.extensions.abs_send_time == 777
    assert first.payload == VP8_KEYFRAME
    assert (f.packets_sent, f.sr_packets, f.sr_octets) == (3, 3, 9)


@pytest.mark.asyncio
async def test_nack_is_answered_with_rtx_from_the_shared_history(video: Negotiated) -> None:
    f = video.forwarder
    source = incoming(500, 1000, VP8_KEYFRAME + b"frame", abs_send_time=42)
    f.forward(source)
    f.forward(incoming(501, 1000, VP8_CONTINUATION, marker=1))
    out_seq = video.parsed()[0].sequence_number
    out_ts = video.parsed()[0].timestamp
    video.sent.clear()

    f.retransmit([out_seq, (out_seq + 40) % 65536])  # the second was never sent: ignored
    (rtx,) = video.parsed()
    codecs = hooks.negotiated_codecs(video.transceiver)
    rtx_pt = next(c.payloadType for c in codecs if c.mimeType.lower() == "video/rtx")
    assert rtx.payload_type == rtx_pt and rtx.ssrc == hooks.sender_rtx_ssrc(video.transceiver.sender)
    assert rtx.payload == out_seq.to_bytes(2, "big") + source.payload
    assert rtx.timestamp == out_ts and rtx.extensions.mid == video.transceiver.mid
    assert f.retransmitted == 1
    # the history holds the shared incoming packet, not a per-viewer copy
    assert any(p is source for p in f._history)


@pytest.mark.asyncio
async def test_sender_report_carries_what_was_forwarded(audio: Negotiated) -> None:
    f = audio.forwarder
    assert f.sender_info() is None
    before = time.time()
    for i in range(5):
        f.forward(incoming(10 + i, 960 * i, b"p" * 20, level=(True, 40)))
    info = f.sender_info()
    assert info is not None
    last = audio.parsed()[-1]
    assert last.extensions.audio_level == (True, 40)
    assert (info.packet_count, info.octet_count, info.rtp_timestamp) == (5, 100, last.timestamp)
    ntp_s = info.ntp_timestamp / 2**32 - NTP_EPOCH_OFFSET_S
    assert before - 1 <= ntp_s <= time.time() + 1

    # a forwarder that takes over the m-line (another publisher) continues the counts and timestamps
    successor = StreamForwarder(audio.transceiver, "audio", 48000, history_packets=64)
    successor.continue_from(f)
    successor.configure(lambda data: audio.sent.append(data) is None)
    successor.forward(incoming(7, 123456, b"q" * 10, ssrc=999))
    info = successor.sender_info()
    assert info is not None and (info.packet_count, info.octet_count) == (6, 110)
    resumed = audio.parsed()[-1]
    assert resumed.sequence_number == (last.sequence_number + 1) % 65536
    assert 0 < (resumed.timestamp - last.timestamp) % 2**32 < 48000  # advanced by the real gap (>= 20 ms)


@pytest.mark.asyncio
async def test_layer_switch_waits_for_the_other_layers_keyframe_and_stays_contiguous(
    video: Negotiated,
) -> None:
    """A camera m-line switched to its publisher's thumbnail (downlink.py's low layer) and back: each switch
    at the other layer's key frame, the viewer's numbering continuous across both sources."""
    camera, thumbnail = 1111, 2222
    f = video.forwarder
    assert f.forward(incoming(10, 1000, VP8_KEYFRAME, marker=1, ssrc=camera))
    assert f.forward(incoming(11, 4000, VP8_DELTA, marker=1, ssrc=camera))
    f.set_layer(1)
    assert f.keyframe_layer == 1 and not f.low_layer
    # until the thumbnail's key frame, the camera goes on; the thumbnail's delta frames are not sent
    assert not f.forward(incoming(500, 70000, VP8_DELTA, marker=1, ssrc=thumbnail), 1)
    assert f.forward(incoming(12, 7000, VP8_DELTA, marker=1, ssrc=camera))
    assert f.forward(incoming(501, 73000, VP8_KEYFRAME, marker=1, ssrc=thumbnail), 1)
    assert f.low_layer and f.keyframe_layer is None and f.layer_switches == 1
    assert not f.forward(incoming(13, 10000, VP8_DELTA, marker=1, ssrc=camera))  # the camera is off now
    assert f.forward(incoming(502, 76000, VP8_DELTA, marker=1, ssrc=thumbnail), 1)
    # back up: the thumbnail goes on until the camera's key frame
    f.set_layer(0)
    assert f.keyframe_layer == 0
    assert not f.forward(incoming(14, 13000, VP8_DELTA, marker=1, ssrc=camera))
    assert f.forward(incoming(503, 79000, VP8_DELTA, marker=1, ssrc=thumbnail), 1)
    assert f.forward(incoming(15, 16000, VP8_KEYFRAME, marker=1, ssrc=camera))
    assert not f.low_layer and f.layer_switches == 2
    sent = video.parsed()
    key, delta = VP8_KEYFRAME, VP8_DELTA
    assert [p.payload for p in sent] == [key, delta, delta, key, delta, delta, key]
    assert {p.ssrc for p in sent} == {hooks.sender_ssrc(video.transceiver.sender)}
    seqs = [p.sequence_number for p in sent]
    assert all((b - a) % 65536 == 1 for a, b in zip(seqs, seqs[1:], strict=False))
    timestamps = [p.timestamp for p in sent]
    assert all(0 < (b - a) % 2**32 < 2**31 for a, b in zip(timestamps, timestamps[1:], strict=False))
    # within one source, its own spacing (3000 ticks a frame at 30 fps)
    assert (timestamps[5] - timestamps[4]) % 2**32 == 3000


@pytest.mark.asyncio
async def test_a_paused_forwarder_resumes_on_the_layer_it_is_set_to(video: Negotiated) -> None:
    f = video.forwarder
    f.enabled = False
    f.set_layer(1)  # nothing sent now: the switch is at once, the resume waits for the thumbnail's key frame
    assert f.low_layer
    f.enabled = True
    f.restart()
    assert f.keyframe_layer == 1
    assert not f.forward(incoming(10, 1000, VP8_KEYFRAME, marker=1, ssrc=1111))
    assert f.forward(incoming(500, 9000, VP8_KEYFRAME, marker=1, ssrc=2222), 1)
