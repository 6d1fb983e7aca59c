"""RED (RFC 2198) through the SFU with real aiortc peers: a publisher whose packets reach the room as RED over
Opus (rewritten at the room's entry, its receiver's codecs holding red/48000/2 as a browser's negotiation
leaves them), a viewer without RED (aiortc) that must receive plain Opus and decode every frame, malformed RED
blocks dropped for it and counted while the room goes on; and the RED offer itself."""

from __future__ import annotations

from typing import Any

import pytest

from recordings.red import build_red
from server.media import aiortc_hooks as hooks
from server.media.client import ClientConfig, MediaClient
from server.media.incoming import IncomingPacket, ReceptionStats, red_primary
from server.media.room import MediaRoom
from tests.media.meeting import Meeting, frames, wait_until

MALFORMED = (b"", b"\x80\x00", b"\xe0\x00\x04\xff\x60abc", b"\x60")  # no primary, cut header, overlong, empty


def test_red_primary_reads_chromium_layout_and_refuses_malformed() -> None:
    payload = build_red(b"primary", 96, 48000, [(47040, b"older")])
    assert red_primary(payload) == b"primary"
    assert red_primary(b"\x60opus") == b"opus"  # no redundant block
    for bad in MALFORMED:
        assert red_primary(bad) is None


def test_reception_stats_count_loss_as_rfc3550() -> None:
    stats = ReceptionStats(48000)
    for i, seq in enumerate([65530, 65531, 65533, 65535, 0, 2, 1]):  # 65532, 65534 lost; wrap; 1 late
        stats.add(seq, i * 960, i * 0.02)
    assert stats.max_seq == (1 << 16) + 2 and stats.expected == 9 and stats.packets_lost == 2
    assert stats.fraction_lost == (2 << 8) // 9 and stats.fraction_lost == 0  # read closes the interval


@pytest.mark.asyncio
async def test_red_publisher_reaches_an_aiortc_viewer_as_opus_and_malformed_red_is_dropped() -> None:
    meeting = Meeting()
    room = meeting.room
    original = MediaRoom._on_packet
    injected = {"n": 0, "malformed": 0}
    previous: dict[str, bytes] = {}

    def as_red(self: MediaRoom, stream: Any, receiver: Any, packet: IncomingPacket) -> bool:
        if stream.key == ("a", "microphone") and packet.payload_type != hooks.RED_PAYLOAD_TYPE:
            # as a browser's negotiation leaves the receiver: red/48000/2 among its codecs
            receiver._RTCRtpReceiver__codecs[hooks.RED_PAYLOAD_TYPE] = hooks.red_codec()
            injected["n"] += 1
            if injected["n"] % 10 == 0:
                payload = MALFORMED[injected["n"] // 10 % len(MALFORMED)]
                injected["malformed"] += 1
            else:
                older = previous.get("a")
                blocks = [(packet.ts - 960, older)] if older else []
                payload = build_red(packet.payload, 96, packet.ts, blocks)
                previous["a"] = packet.payload
            packet.payload = payload
            packet.payload_type = hooks.RED_PAYLOAD_TYPE
        return original(self, stream, receiver, packet)

    MediaRoom._on_packet = as_red  # type: ignore[method-assign]
    try:
        await meeting.join("a", ClientConfig(video=False))
        await meeting.join("b", ClientConfig(video=False))
        assert await wait_until(lambda: frames(meeting, "b", "a", "audio") > 100, 10.0)
        forwarder = room._streams[("a", "microphone")].forwarders["b"]
        assert forwarder.red_malformed == injected["malformed"] > 5
        assert forwarder.red_stripped > 90
        remote = meeting.clients["b"].stats().by_username("user-a")
        assert remote is not None and remote.decode_errors == 0
        # the room goes on: b still receives a's audio, a receives b's
        before = frames(meeting, "b", "a", "audio")
        assert await wait_until(lambda: frames(meeting, "b", "a", "audio") > before + 25, 5.0)
        assert frames(meeting, "a", "b", "audio") > 50
    finally:
        MediaRoom._on_packet = original  # type: ignore[method-assign]
        await meeting.close()


@pytest.mark.asyncio
async def test_the_server_offers_red_first_but_aiortc_peers_answer_opus_only() -> None:
    meeting = Meeting()
    try:
        offer = await meeting.room.join("a", publishes_video=False)
        assert "a=rtpmap:63 red/48000/2" in offer.sdp and "a=fmtp:63 96/96" in offer.sdp
        assert offer.sdp.index("red/48000/2") < offer.sdp.index("opus/48000/2")
        client = meeting.clients["a"] = MediaClient("a", ClientConfig(video=False))
        answer = await client.accept_offer(offer)
        assert "red/48000/2" not in answer and "opus/48000/2" in answer
        await meeting.room.answer("a", answer)
        codecs = hooks.negotiated_codecs(meeting.room._participants["a"].recv["microphone"])
        assert [c.mimeType.lower() for c in codecs] == ["audio/opus"]
    finally:
        await meeting.close()
