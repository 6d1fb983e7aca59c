"""The SFU's synchronous receive path (aiortc_hooks.RtpFastPath + MediaRoom._on_rtp_bytes) with real aiortc
peers over 127.0.0.1: media decodes at the viewers, RTX repairs upstream losses, unknown SSRCs still go
aiortc's way, and forged or replayed SRTP is dropped without disturbing the room."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest
from aiortc.rtp import RtpPacket

from server.media import aiortc_hooks as hooks
from server.media.client import ClientConfig
from server.media.config import RTP_FAST_PATH_ENV, MediaConfig
from server.media.incoming import IncomingPacket
from server.media.room import MediaRoom
from server.media.stats import ParticipantStats
from tests.media.meeting import Meeting, frames, wait_until

SMALL_VIDEO = ClientConfig(video=True, video_size=(160, 120), video_fps=15)
Deliver = Callable[[bytes], None]
Tamper = Callable[[bytes, Deliver], None]


def participant_stats(room: MediaRoom, pid: str) -> ParticipantStats:
    return next(p for p in room.stats().participants if p.participant_id == pid)


def fast_paths(room: MediaRoom, pid: str) -> list[hooks.RtpFastPath]:
    return list(room._participants[pid].fast_paths.values())


def tamper(room: MediaRoom, pid: str, change: Tamper) -> None:
    """Put `change(datagram, deliver)` between the network and the fast path of `pid`."""
    for fast_path in fast_paths(room, pid):
        for protocol in fast_path._shadowed:
            inner = protocol.datagram_received

            def datagram_received(data: bytes, addr: tuple[Any, ...], inner: Any = inner) -> None:
                change(data, lambda delivered: inner(delivered, addr))

            protocol.datagram_received = datagram_received  # type: ignore[method-assign]


def spy_ways_in(room: MediaRoom) -> tuple[list[int], list[int]]:
    """SSRCs (as on the wire) of the packets that came aiortc's way and the fast way (set up before joining:
    the fast path's routes bind the room's handler when they are made)."""
    slow: list[int] = []
    fast: list[int] = []
    on_rtp, on_rtp_bytes = room._on_rtp, room._on_rtp_bytes

    def slow_spy(stream: Any, receiver: Any, packet: RtpPacket) -> None:
        slow.append(packet.ssrc)
        on_rtp(stream, receiver, packet)

    def fast_spy(*args: Any) -> None:
        fast.append(int.from_bytes(args[-1][8:12], "big"))
        on_rtp_bytes(*args)

    room._on_rtp = slow_spy  # type: ignore[method-assign]
    room._on_rtp_bytes = fast_spy  # type: ignore[method-assign]
    return slow, fast


def ssrc_of(data: bytes) -> int:
    return int.from_bytes(data[8:12], "big")


def seq_of(data: bytes) -> int:
    return int.from_bytes(data[2:4], "big")


@pytest.mark.asyncio
async def test_media_decodes_at_the_viewers_and_the_fast_path_carries_it() -> None:
    meeting = Meeting()
    try:
        await meeting.join("a", SMALL_VIDEO)
        await meeting.join("b", SMALL_VIDEO)
        await meeting.join("c", SMALL_VIDEO)
        for viewer, publisher in (("a", "b"), ("b", "c"), ("c", "a")):
            assert await wait_until(lambda v=viewer, p=publisher: frames(meeting, v, p, "video") > 15, 5.0)
            assert await wait_until(lambda v=viewer, p=publisher: frames(meeting, v, p, "audio") > 50, 5.0)
        stats = meeting.room.stats()
        assert stats.packets_fast_path > 0.9 * stats.packets_in
        for participant in stats.participants:
            received = participant.audio_packets_received + participant.video_packets_received
            assert participant.packets_fast_path > 0.9 * received, participant
            assert participant.packets_refused == 0
        for client in meeting.clients.values():
            assert all(p.decode_errors == 0 and p.packets_lost == 0 for p in client.stats().participants)
    finally:
        await meeting.close()


@pytest.mark.asyncio
async def test_an_upstream_loss_is_nacked_and_repaired_by_rtx_through_the_fast_path() -> None:
    meeting = Meeting()
    room = meeting.room
    slow, fast = spy_ways_in(room)
    try:
        await meeting.join("a", SMALL_VIDEO)
        await meeting.join("b", SMALL_VIDEO)
        stream = room._streams[("a", "camera")]
        assert await wait_until(lambda: frames(meeting, "b", "a", "video") > 5, 5.0)
        assert stream.transceiver is not None and stream.media_ssrc is not None
        receiver = stream.transceiver.receiver
        media_ssrc = stream.media_ssrc
        rtx_ssrc = next(r for r, m in hooks.rtx_ssrcs(receiver).items() if m == media_ssrc)
        assert all(rtx_ssrc in f.routes and media_ssrc in f.routes for f in fast_paths(room, "a"))

        repaired: list[int] = []
        on_packet = room._on_packet

        def packet_spy(stream: Any, receiver: Any, packet: IncomingPacket) -> bool:
            wire_ssrc = packet.ssrc
            accepted = on_packet(stream, receiver, packet)
            if wire_ssrc == rtx_ssrc:
                repaired.append(packet.seq)  # unwrapped in place: the sequence number it repairs
            return accepted

        room._on_packet = packet_spy  # type: ignore[method-assign]
        dropped: list[int] = []

        def lose_one(data: bytes, deliver: Deliver) -> None:
            if not dropped and ssrc_of(data) == media_ssrc and len(data) > 100:
                dropped.append(seq_of(data))
                return
            deliver(data)

        tamper(room, "a", lose_one)
        assert await wait_until(lambda: bool(dropped) and dropped[0] in repaired, 5.0)
        # the retransmission answered the NACK, and the repaired packet is no longer asked for
        assert dropped[0] not in stream.nack.missing and stream.lost_upstream == len(stream.nack.missing)
        assert rtx_ssrc in fast  # the retransmission came the fast way too
        # the viewer got the repaired packet: no hole left in what it received from a
        assert await wait_until(lambda: frames(meeting, "b", "a", "video") > 20, 5.0)
        remote = meeting.clients["b"].stats().by_username("user-a")
        assert remote is not None and remote.packets_lost == 0 and remote.decode_errors == 0
    finally:
        await meeting.close()


@pytest.mark.asyncio
async def test_an_unknown_ssrc_goes_aiortcs_way_then_the_fast_path_learns_it() -> None:
    meeting = Meeting()
    try:
        publisher = await meeting.join("a", SMALL_VIDEO)
        await meeting.join("b", SMALL_VIDEO)
        room = meeting.room
        assert await wait_until(lambda: frames(meeting, "b", "a", "audio") > 20, 5.0)
        slow, fast = spy_ways_in(room)
        microphone = next(
            t for t in publisher.pc.getTransceivers() if t.kind == "audio" and t.direction == "sendonly"
        )
        payload_type = hooks.negotiated_codecs(microphone)[0].payloadType or 0
        extensions = hooks.header_extensions_map(microphone)
        new_ssrc = 0x5EED5EED
        before = participant_stats(room, "a").audio_packets_received
        for seq in range(1, 6):
            packet = RtpPacket(
                payload_type=payload_type, sequence_number=seq, timestamp=960 * seq, ssrc=new_ssrc
            )
            packet.payload = b"\xfc" + bytes(40)
            packet.extensions.mid = microphone.mid
            assert await hooks.send_rtp(microphone.sender.transport, packet.serialize(extensions))
            await asyncio.sleep(0.05)
        assert await wait_until(lambda: slow.count(new_ssrc) + fast.count(new_ssrc) == 5, 3.0)
        assert slow.count(new_ssrc) >= 1  # the first one: aiortc's way
        assert fast.count(new_ssrc) >= 3  # then routed to the fast path
        assert all(new_ssrc in f.routes for f in fast_paths(room, "a"))
        assert participant_stats(room, "a").audio_packets_received >= before + 5
    finally:
        await meeting.close()


@pytest.mark.asyncio
async def test_forged_and_replayed_srtp_is_dropped_and_the_room_goes_on() -> None:
    meeting = Meeting()
    try:
        await meeting.join("a", SMALL_VIDEO)
        await meeting.join("b", SMALL_VIDEO)
        room = meeting.room
        assert await wait_until(lambda: frames(meeting, "b", "a", "audio") > 20, 5.0)
        audio_ssrc = room._streams[("a", "microphone")].media_ssrc
        done: list[str] = []

        def refused() -> int:
            return sum(f.refused for f in fast_paths(room, "a"))

        def forge_then_replay(data: bytes, deliver: Deliver) -> None:
            if ssrc_of(data) != audio_ssrc or len(done) == 2:
                deliver(data)
                return
            before = refused()
            if not done:
                forged = bytearray(data)
                forged[20] ^= 0x55  # the authentication tag no longer matches
                deliver(bytes(forged))
                attempt = "forged"
            else:
                deliver(data)
                deliver(data)
                attempt = "replayed"
            # (while aioice's queue holds a datagram the packet goes aiortc's way, which drops it uncounted)
            if refused() > before:
                done.append(attempt)

        packets_before = participant_stats(room, "a").audio_packets_received
        tamper(room, "a", forge_then_replay)
        assert await wait_until(lambda: len(done) == 2, 3.0)
        assert done == ["forged", "replayed"] and participant_stats(room, "a").packets_refused == 2
        # not counted as received (each dropped before the room saw it), and nothing else disturbed
        heard = frames(meeting, "b", "a", "audio")
        assert await wait_until(lambda: frames(meeting, "b", "a", "audio") > heard + 25, 3.0)
        video = frames(meeting, "a", "b", "video")
        assert await wait_until(lambda: frames(meeting, "a", "b", "video") > video + 5, 3.0)
        assert participant_stats(room, "a").audio_packets_received > packets_before
        assert all(f.failed == 0 for f in fast_paths(room, "a"))
        assert participant_stats(room, "a").connection_state == "connected"
    finally:
        await meeting.close()


@pytest.mark.asyncio
async def test_with_the_fast_path_off_everything_goes_aiortcs_way() -> None:
    meeting = Meeting(MediaConfig(ice_addresses=("127.0.0.1",), rtp_fast_path=False, audio_speakers=0))
    try:
        await meeting.join("a", SMALL_VIDEO)
        await meeting.join("b", SMALL_VIDEO)
        assert await wait_until(lambda: frames(meeting, "b", "a", "video") > 10, 5.0)
        assert await wait_until(lambda: frames(meeting, "a", "b", "audio") > 30, 5.0)
        stats = meeting.room.stats()
        assert stats.packets_in > 0 and stats.packets_fast_path == 0
        assert not meeting.room._participants["a"].fast_paths
    finally:
        await meeting.close()


def test_the_fast_path_setting_reads_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(RTP_FAST_PATH_ENV, raising=False)
    assert MediaConfig().rtp_fast_path
    for off in ("0", "false", "off", "No"):
        monkeypatch.setenv(RTP_FAST_PATH_ENV, off)
        assert not MediaConfig().rtp_fast_path
    monkeypatch.setenv(RTP_FAST_PATH_ENV, "1")
    assert MediaConfig().rtp_fast_path
