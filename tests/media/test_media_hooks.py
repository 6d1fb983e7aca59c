"""The aiortc/aioice internals the SFU relies on still exist and behave (fails loudly after an upgrade)."""

from __future__ import annotations

import asyncio

import aioice
import pytest
from aiortc import RTCPeerConnection, RTCRtpReceiver, RTCRtpSender

from server.media import aiortc_hooks as hooks


def test_self_check_passes_on_the_pinned_aiortc() -> None:
    hooks.self_check()


def test_self_check_fails_when_an_internal_disappears(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delattr(RTCRtpReceiver, "_send_rtcp_pli")
    with pytest.raises(hooks.HookError, match="_send_rtcp_pli"):
        hooks.self_check()


@pytest.mark.asyncio
async def test_ice_gathers_only_on_the_configured_loopback_address() -> None:
    hooks.install_ice_host_addresses(["127.0.0.1"])
    connection = aioice.Connection(ice_controlling=True, components=1)
    try:
        await connection.gather_candidates()
        hosts = {c.host for c in connection.local_candidates}
        assert hosts == {"127.0.0.1"}
    finally:
        await connection.close()


@pytest.mark.asyncio
async def test_pc_offer_carries_only_loopback_candidates() -> None:
    hooks.install_ice_host_addresses(["127.0.0.1"])
    from server.media.config import MediaConfig

    pc = RTCPeerConnection(MediaConfig().rtc_configuration())
    try:
        pc.addTransceiver("audio", direction="recvonly")
        await pc.setLocalDescription(await pc.createOffer())
        candidates = [line for line in pc.localDescription.sdp.splitlines() if line.startswith("a=candidate")]
        assert candidates and all(" 127.0.0.1 " in line for line in candidates)
    finally:
        await pc.close()


def test_udp_receive_buffer_is_raised() -> None:
    hooks.install_udp_rcvbuf(4 * 1024 * 1024)
    assert aioice.turn.UDP_SOCKET_BUFFER_SIZE == 4 * 1024 * 1024
    # the kernel grants at least the default, at most 2 x rmem_max; the request itself is what we control
    assert hooks.effective_udp_rcvbuf_bytes(4 * 1024 * 1024) > 0


@pytest.mark.asyncio
async def test_receiver_and_sender_hooks_attach_to_real_objects() -> None:
    pc = RTCPeerConnection(hooks_config())
    try:
        transceiver = pc.addTransceiver("video", direction="sendrecv")
        seen: list[int] = []

        async def on_rtp(packet: object, arrival_ms: int) -> None:
            seen.append(arrival_ms)

        hooks.intercept_rtp(transceiver.receiver, on_rtp)
        from aiortc.rtp import RtpPacket

        await transceiver.receiver._handle_rtp_packet(RtpPacket(), arrival_time_ms=7)
        assert seen == [7]
        assert hooks.rtx_ssrcs(transceiver.receiver) == {}
        assert isinstance(hooks.sender_ssrc(transceiver.sender), int)
        assert not hooks.decoder_error_flag(transceiver.receiver).is_set()
        idle = hooks.IdleTrack("video")
        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(idle.recv(), timeout=0.05)
        assert isinstance(transceiver.sender, RTCRtpSender)
    finally:
        await pc.close()


def hooks_config():  # type: ignore[no-untyped-def]
    from server.media.config import MediaConfig

    return MediaConfig().rtc_configuration()
