"""MediaRoom behaviour with real aiortc peers over 127.0.0.1 (server and clients on one event loop)."""

from __future__ import annotations

import asyncio
import time
from dataclasses import replace

import pytest

from server.media.client import ClientConfig
from server.media.config import MediaConfig
from server.media.errors import MalformedSdpError
from server.media.events import ConnectionStateChanged
from tests.media.meeting import LOOPBACK, Meeting, frames, wait_until

SMALL_VIDEO = ClientConfig(video=True, video_size=(160, 120), video_fps=10)


@pytest.mark.asyncio
async def test_late_joiner_gets_video_within_two_seconds_and_server_mute_stops_audio() -> None:
    meeting = Meeting()
    try:
        await meeting.join("a", SMALL_VIDEO)
        await meeting.join("b", SMALL_VIDEO)
        await asyncio.sleep(1.5)  # a's encoder is long past its first keyframe
        await meeting.join("late", SMALL_VIDEO)
        assert await wait_until(lambda: frames(meeting, "late", "a", "video") > 0, 2.0)
        remote = meeting.clients["late"].stats().by_username("user-a")
        assert remote is not None and remote.first_video_ms is not None and remote.first_video_ms < 2000

        assert await wait_until(lambda: frames(meeting, "b", "a", "audio") > 20, 3.0)
        meeting.room.set_audio_forwarding("a", False)
        await asyncio.sleep(0.5)  # drain the jitter buffer
        muted_at = frames(meeting, "b", "a", "audio")
        await asyncio.sleep(1.0)
        assert frames(meeting, "b", "a", "audio") - muted_at <= 2
        assert frames(meeting, "b", "late", "audio") > 0  # others still heard
        tapped = meeting.listener.audio_payloads["a"]
        await asyncio.sleep(0.3)
        assert meeting.listener.audio_payloads["a"] > tapped  # the recording tap keeps running while muted
        meeting.room.set_audio_forwarding("a", True)
        resumed_at = frames(meeting, "b", "a", "audio")
        assert await wait_until(lambda: frames(meeting, "b", "a", "audio") > resumed_at + 10, 2.0)
        states = {
            (e.participant_id, e.state)
            for e in meeting.listener.events
            if isinstance(e, ConnectionStateChanged)
        }
        assert ("late", "connected") in states
    finally:
        await meeting.close()


@pytest.mark.asyncio
async def test_audio_only_viewer_gets_no_video_and_last_n_limits_video_streams() -> None:
    meeting = Meeting(MediaConfig(ice_addresses=("127.0.0.1",), last_n=1))
    try:
        await meeting.join("chair", SMALL_VIDEO)
        await meeting.join("p1", SMALL_VIDEO)
        await meeting.join("p2", SMALL_VIDEO)
        await meeting.join("ears", ClientConfig(video=False), publishes_video=False, audio_only=True)
        with pytest.raises(TypeError):
            meeting.room.set_pinned("chair")  # one id is not a list of them
        meeting.room.set_pinned(["chair"])
        await asyncio.sleep(2.5)
        ears = meeting.clients["ears"].stats()
        assert all(p.video_frames == 0 for p in ears.participants)
        # audio selection: the pinned chair is heard; p1 and p2 send Opus silence, which is not forwarded to
        # anyone, but recorded
        assert frames(meeting, "ears", "chair", "audio") > 30
        assert frames(meeting, "ears", "p1", "audio") == 0 and frames(meeting, "ears", "p2", "audio") == 0
        assert meeting.room.audible() == {"chair"}
        assert all(meeting.listener.audio_payloads[p] > 30 for p in ["p1", "p2", "ears"])
        # last-N = 1: each viewer gets exactly one camera; the pinned chair's for everyone else
        for viewer in ["p1", "p2"]:
            stats = meeting.clients[viewer].stats()
            assert sum(1 for p in stats.participants if p.video_frames > 0) == 1
            assert frames(meeting, viewer, "chair", "video") > 0
        forwarded = [f for f in meeting.room.stats().forwarded if f.kind == "video" and f.forwarding]
        assert {(f.viewer_id, f.publisher_id) for f in forwarded} == {
            ("p1", "chair"),
            ("p2", "chair"),
            ("chair", "p1"),
        }
    finally:
        await meeting.close()


@pytest.mark.asyncio
async def test_screen_share_arrives_as_a_second_video_stream() -> None:
    meeting = Meeting()
    try:
        await meeting.join("presenter", SMALL_VIDEO)
        await meeting.join("viewer", SMALL_VIDEO)
        offer = await meeting.room.start_screen_share("presenter")
        assert {s.source for s in offer.streams if s.participant_id == "presenter"} == {
            "microphone",
            "camera",
            "screen",
        }
        answer = await meeting.clients["presenter"].accept_offer(offer)
        # the presenter sends on the new m-line at once; the server applies the answer later (a browser's
        # answer crosses the signaling socket): the early screen packets must not be taken for the camera
        await asyncio.sleep(0.5)
        await meeting.room.answer("presenter", answer)
        await meeting.settle()
        presenter = next(p for p in meeting.room.stats().participants if p.participant_id == "presenter")
        assert presenter.packets_foreign > 0
        viewer = meeting.clients["viewer"]
        assert await wait_until(lambda: viewer.video_frames_by_source("presenter").get("screen", 0) > 5, 3.0)
        # the camera goes on beside the screen (after the renegotiation it may wait for its next keyframe)
        assert await wait_until(lambda: viewer.video_frames_by_source("presenter").get("camera", 0) > 5, 3.0)
        remote = viewer.stats().by_username("user-presenter")
        assert remote is not None and remote.video_streams == 2
    finally:
        await meeting.close()


@pytest.mark.asyncio
async def test_withdrawn_screen_share_stops_at_the_server_whatever_the_client_does() -> None:
    meeting = Meeting()
    try:
        await meeting.join("presenter", SMALL_VIDEO)
        await meeting.join("viewer", SMALL_VIDEO)
        offer = await meeting.room.start_screen_share("presenter")
        await meeting.room.answer("presenter", await meeting.clients["presenter"].accept_offer(offer))
        await meeting.settle()
        viewer = meeting.clients["viewer"]
        assert await wait_until(lambda: viewer.video_frames_by_source("presenter").get("screen", 0) > 5, 3.0)
        meeting.listener.renegotiate.clear()
        # the chair withdraws the permission; the presenter's client goes on sending its screen track
        meeting.room.withdraw_screen_share("presenter")
        assert "presenter" in meeting.listener.renegotiate and "viewer" in meeting.listener.renegotiate
        await asyncio.sleep(0.3)
        stopped_at = viewer.video_frames_by_source("presenter").get("screen", 0)
        await asyncio.sleep(1.5)
        assert viewer.video_frames_by_source("presenter").get("screen", 0) == stopped_at
        assert not any(
            s.source == "screen" for s in (await meeting.room.renegotiate("viewer")).streams
        )
        # the camera goes on
        camera = viewer.video_frames_by_source("presenter").get("camera", 0)
        assert await wait_until(
            lambda: viewer.video_frames_by_source("presenter").get("camera", 0) > camera + 5, 3.0
        )
    finally:
        await meeting.close()


@pytest.mark.asyncio
async def test_reconnect_with_same_id_gets_a_fresh_connection() -> None:
    meeting = Meeting()
    try:
        await meeting.join("a", SMALL_VIDEO)
        await meeting.join("b", SMALL_VIDEO)
        assert await wait_until(lambda: frames(meeting, "a", "b", "video") > 3, 3.0)
        old_client = meeting.clients["b"]
        await old_client.close()
        await meeting.join("b", SMALL_VIDEO)  # same identity, new MediaClient and PeerConnection
        assert meeting.room.participant_ids().count("b") == 1
        before = frames(meeting, "a", "b", "video")
        assert await wait_until(lambda: frames(meeting, "a", "b", "video") > before + 3, 3.0)
        assert await wait_until(lambda: frames(meeting, "b", "a", "video") > 3, 3.0)
        assert await wait_until(lambda: frames(meeting, "b", "a", "audio") > 20, 3.0)
    finally:
        await meeting.close()


@pytest.mark.asyncio
async def test_malformed_sdp_raises_media_error_and_others_keep_receiving() -> None:
    meeting = Meeting()
    try:
        await meeting.join("a", SMALL_VIDEO)
        await meeting.join("b", SMALL_VIDEO)
        await meeting.room.join("broken", username="user-broken", unit="X")
        with pytest.raises(MalformedSdpError, match="broken"):
            await meeting.room.answer("broken", "v=0\r\nthis is not sdp\r\n")
        await meeting.room.leave("broken")
        await meeting.settle()
        before = frames(meeting, "b", "a", "audio")
        assert await wait_until(lambda: frames(meeting, "b", "a", "audio") > before + 20, 3.0)
        before_video = frames(meeting, "a", "b", "video")
        assert await wait_until(lambda: frames(meeting, "a", "b", "video") > before_video + 3, 3.0)
    finally:
        await meeting.close()


@pytest.mark.asyncio
async def test_offer_is_browser_friendly() -> None:
    meeting = Meeting()
    try:
        await meeting.join("a", SMALL_VIDEO)
        offer = await meeting.room.join("b", username="user-b", unit="B")
        sdp = offer.sdp
        assert "a=group:BUNDLE" in sdp and "a=rtcp-mux" in sdp
        assert "opus/48000/2" in sdp and "VP8/90000" in sdp and "H264" not in sdp and "PCMU" not in sdp
        assert sdp.count("a=recvonly") == 2 and sdp.count("a=sendonly") == 2
        assert all(" 127.0.0.1 " in line for line in sdp.splitlines() if line.startswith("a=candidate"))
        assert {(s.participant_id, s.source) for s in offer.streams} == {
            ("b", "microphone"),
            ("b", "camera"),
            ("a", "microphone"),
            ("a", "camera"),
        }
    finally:
        await meeting.close()


@pytest.mark.asyncio
async def test_viewers_get_sender_reports_with_the_forwarded_counts() -> None:
    """The server writes RTP past aiortc's sender, so the SRs it sends must come from the forwarders."""
    from aiortc.rtp import RtcpSrPacket

    meeting = Meeting(replace(LOOPBACK, audio_report_interval_s=1.0))
    try:
        await meeting.join("a", SMALL_VIDEO)
        viewer = await meeting.join("b", SMALL_VIDEO)
        reports: dict[int, list[RtcpSrPacket]] = {}
        for transceiver in viewer.pc.getTransceivers():
            receiver = transceiver.receiver
            original = receiver._handle_rtcp_packet

            async def on_rtcp(packet: object, original=original) -> None:  # type: ignore[no-untyped-def]
                if isinstance(packet, RtcpSrPacket):
                    reports.setdefault(packet.ssrc, []).append(packet)
                await original(packet)

            receiver._handle_rtcp_packet = on_rtcp  # type: ignore[method-assign]
        assert await wait_until(lambda: frames(meeting, "b", "a", "video") > 10, 3.0)
        assert await wait_until(lambda: len(reports) >= 2 and all(len(r) >= 2 for r in reports.values()), 5.0)
        forwarded = {
            f.kind: f for f in meeting.room.stats().forwarded if f.viewer_id == "b" and f.publisher_id == "a"
        }
        for ssrc_reports in reports.values():
            first, last = ssrc_reports[0], ssrc_reports[-1]
            assert 0 < first.sender_info.packet_count < last.sender_info.packet_count
            assert last.sender_info.octet_count > first.sender_info.octet_count
            assert last.sender_info.ntp_timestamp > first.sender_info.ntp_timestamp
            assert last.sender_info.rtp_timestamp != first.sender_info.rtp_timestamp
            assert last.sender_info.packet_count <= max(f.packets_sent for f in forwarded.values())
    finally:
        await meeting.close()


@pytest.mark.asyncio
async def test_sender_reports_come_at_the_configured_interval_per_kind() -> None:
    """One SR stream per forwarded stream per viewer: audio less often than video (libwebrtc: 5 s / 1 s)."""
    from aiortc.rtp import RtcpByePacket, RtcpSrPacket

    meeting = Meeting(replace(LOOPBACK, audio_report_interval_s=2.0, video_report_interval_s=0.2))
    try:
        await meeting.join("a", SMALL_VIDEO)
        viewer = await meeting.join("b", SMALL_VIDEO)
        reports: dict[str, list[float]] = {"audio": [], "video": []}
        byes: list[str] = []
        for transceiver in viewer.pc.getTransceivers():
            receiver = transceiver.receiver
            original = receiver._handle_rtcp_packet

            async def on_rtcp(  # type: ignore[no-untyped-def]
                packet: object, original=original, kind=transceiver.kind
            ) -> None:
                if isinstance(packet, RtcpSrPacket):
                    reports[kind].append(time.monotonic())
                elif isinstance(packet, RtcpByePacket):
                    byes.append(kind)
                await original(packet)

            receiver._handle_rtcp_packet = on_rtcp  # type: ignore[method-assign]
        assert await wait_until(lambda: frames(meeting, "b", "a", "video") > 10, 3.0)
        start = time.monotonic()
        await asyncio.sleep(3.5)
        video, audio = (len([t for t in reports[k] if t >= start]) for k in ("video", "audio"))
        assert video >= 9, reports  # every 0.1-0.3 s (aiortc's own loop: every 0.5-1.5 s)
        assert 1 <= audio <= 4 and video >= 2 * audio, reports  # every 1-3 s
        # the replaced loop still ends with a BYE when the server stops forwarding to b
        await meeting.room.leave("b")
        assert await wait_until(lambda: {"audio", "video"} <= set(byes), 3.0), byes
    finally:
        await meeting.close()


@pytest.mark.asyncio
async def test_audio_only_offer_has_no_video_m_lines_and_switching_renegotiates() -> None:
    meeting = Meeting()
    try:
        await meeting.join("a", SMALL_VIDEO)
        offer = await meeting.room.join("ears", username="user-ears", unit="E", audio_only=True)
        streams = {(s.participant_id, s.kind) for s in offer.streams}
        assert streams == {("ears", "audio"), ("ears", "video"), ("a", "audio")}
        assert offer.sdp.count("m=video") == 1  # its own camera (recv-only at the server), nothing of a's
        meeting.listener.renegotiate.clear()
        meeting.room.set_audio_only("ears", False)
        assert "ears" in meeting.listener.renegotiate
        meeting.room.set_audio_only("a", False)  # unchanged: no renegotiation
        assert "a" not in meeting.listener.renegotiate
    finally:
        await meeting.close()
