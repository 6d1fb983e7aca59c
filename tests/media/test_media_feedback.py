"""RTCP feedback through the SFU with real aiortc peers over 127.0.0.1: the bitrate cap reaches the
publishers' encoders (REMB), viewers' keyframe requests (PLI / FIR) reach the publisher at most once per
interval, and a packet a viewer lost is retransmitted (NACK answered with RTX) without a decode error."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from aiortc import RTCRtpReceiver, RTCRtpSender
from aiortc.rtp import RTCP_PSFB_FIR, RtcpPsfbPacket

from server.media import aiortc_hooks as hooks
from server.media.client import ClientConfig, MediaClient
from server.media.config import MediaConfig
from server.media.forwarding import StreamForwarder
from tests.media.meeting import Meeting, frames, wait_until

SMALL_VIDEO = ClientConfig(video=True, video_size=(160, 120), video_fps=15)


def video_sender(client: MediaClient) -> RTCRtpSender:
    """The publisher's own camera sender (aiortc encodes the test pattern)."""
    return next(
        t.sender
        for t in client.pc.getTransceivers()
        if t.sender.track is not None and t.sender.track.kind == "video"
    )


def forwarder(meeting: Meeting, viewer: str, publisher: str) -> StreamForwarder:
    """The server's forwarder of `publisher`'s camera to `viewer`."""
    slot = next(s for s in meeting.room._participants[viewer].slots if s.stream == (publisher, "camera"))
    assert slot.forwarder is not None
    return slot.forwarder


def viewer_receiver(meeting: Meeting, viewer: str, publisher: str) -> tuple[RTCRtpReceiver, int]:
    """The viewer's receiver of `publisher`'s camera and the SSRC the server sends it with."""
    f = forwarder(meeting, viewer, publisher)
    transceiver = next(t for t in meeting.clients[viewer].pc.getTransceivers() if t.mid == f.mid)
    return transceiver.receiver, hooks.sender_ssrc(f.transceiver.sender)


@pytest.mark.asyncio
async def test_the_bitrate_cap_reaches_each_publishers_encoder() -> None:
    config = MediaConfig(ice_addresses=("127.0.0.1",), video_bitrate_cap_bps=300_000, remb_interval_s=0.2)
    meeting = Meeting(config)
    try:
        for pid in ("a", "b"):
            await meeting.join(pid, SMALL_VIDEO)
        assert await wait_until(lambda: frames(meeting, "b", "a", "video") > 5, 5.0)

        def capped(pid: str) -> bool:
            encoder: Any = video_sender(meeting.clients[pid])._RTCRtpSender__encoder  # type: ignore[attr-defined]
            return encoder is not None and encoder.target_bitrate == 300_000

        # aiortc's VP8 encoder starts at 500 kb/s (and goes no lower than 250); the server's REMB brings each
        # publisher down to the cap
        assert await wait_until(lambda: capped("a") and capped("b"), 3.0)
    finally:
        await meeting.close()


@pytest.mark.asyncio
async def test_viewers_keyframe_requests_reach_the_publisher_at_most_once_per_interval() -> None:
    config = MediaConfig(ice_addresses=("127.0.0.1",), pli_min_interval_s=1.0)
    meeting = Meeting(config)
    try:
        await meeting.join("a", SMALL_VIDEO)
        await meeting.join("b", SMALL_VIDEO)
        await meeting.join("c", SMALL_VIDEO)
        assert await wait_until(lambda: frames(meeting, "b", "a", "video") > 5, 5.0)
        assert await wait_until(lambda: frames(meeting, "c", "a", "video") > 5, 5.0)
        await asyncio.sleep(1.2)  # past the requests the joins made
        requests: list[float] = []
        sender = video_sender(meeting.clients["a"])
        send_keyframe = sender._send_keyframe

        def spy() -> None:
            requests.append(asyncio.get_running_loop().time())
            send_keyframe()

        sender._send_keyframe = spy  # type: ignore[method-assign]
        # two viewers ask at once, one of them five times: the publisher is asked once
        b_receiver, b_ssrc = viewer_receiver(meeting, "b", "a")
        c_receiver, c_ssrc = viewer_receiver(meeting, "c", "a")
        for _ in range(5):
            await b_receiver._send_rtcp_pli(b_ssrc)
        await c_receiver._send_rtcp_pli(c_ssrc)
        assert await wait_until(lambda: len(requests) == 1, 2.0)
        await asyncio.sleep(0.5)
        assert len(requests) == 1
        # after the interval a FIR is relayed too: RFC 5104's, with media SSRC 0 and the target in the FCI
        await asyncio.sleep(0.6)
        rtcp_ssrc = c_receiver._RTCRtpReceiver__rtcp_ssrc  # type: ignore[attr-defined]
        fci = c_ssrc.to_bytes(4, "big") + bytes([1, 0, 0, 0])  # target SSRC, command sequence number
        await c_receiver._send_rtcp(RtcpPsfbPacket(fmt=RTCP_PSFB_FIR, ssrc=rtcp_ssrc, media_ssrc=0, fci=fci))
        assert await wait_until(lambda: len(requests) == 2, 2.0)
        # and the publisher's next keyframe reaches the viewers
        before = frames(meeting, "c", "a", "video")
        assert await wait_until(lambda: frames(meeting, "c", "a", "video") > before + 5, 3.0)
    finally:
        await meeting.close()


@pytest.mark.asyncio
async def test_a_packet_a_viewer_lost_is_retransmitted_and_decodes() -> None:
    # the Python send path, so the test can lose one packet between the server and viewer b
    config = MediaConfig(ice_addresses=("127.0.0.1",), rtp_native_send=False)
    meeting = Meeting(config)
    try:
        await meeting.join("a", SMALL_VIDEO)
        await meeting.join("b", SMALL_VIDEO)
        assert await wait_until(lambda: frames(meeting, "b", "a", "video") > 5, 5.0)
        f = forwarder(meeting, "b", "a")
        output = f._output
        lost: list[int] = []

        def lose_one(data: bytes) -> bool:
            if not lost and len(data) > 100 and data[1] & 0x7F == f._payload_type:
                lost.append(int.from_bytes(data[2:4], "big"))
                return True  # "sent": the network lost it
            return output(data)

        f._output = lose_one
        assert await wait_until(lambda: bool(lost) and f.retransmitted >= 1, 5.0)
        before = frames(meeting, "b", "a", "video")
        assert await wait_until(lambda: frames(meeting, "b", "a", "video") > before + 10, 5.0)
        remote = meeting.clients["b"].stats().by_username("user-a")
        assert remote is not None and remote.packets_lost == 0 and remote.decode_errors == 0
    finally:
        await meeting.close()
