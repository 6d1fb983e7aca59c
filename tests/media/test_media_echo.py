"""The pre-join check's echo peer (server/media/echo.py) with a real aiortc peer over 127.0.0.1: what the
browser sends on its unreliable data channel comes back, the number of checks at once is capped, a peer is
closed when its time is up, and a malformed offer is refused without a peer left behind."""

from __future__ import annotations

import asyncio

import pytest
from aiortc import RTCPeerConnection, RTCSessionDescription

from server.media.config import MediaConfig
from server.media.echo import EchoBusy, EchoPeers
from server.media.errors import MalformedSdpError
from tests.media.meeting import wait_until

CONFIG = MediaConfig(ice_addresses=("127.0.0.1",))


async def offer_with_channel() -> tuple[RTCPeerConnection, object]:
    pc = RTCPeerConnection(configuration=CONFIG.rtc_configuration())
    channel = pc.createDataChannel("path-check", ordered=False, maxRetransmits=0)
    await pc.setLocalDescription(await pc.createOffer())
    return pc, channel


@pytest.mark.asyncio
async def test_messages_come_back_and_busy_beyond_the_cap() -> None:
    peers = EchoPeers(CONFIG, max_peers=1, lifetime_s=30.0)
    pc, channel = await offer_with_channel()
    got: list[bytes] = []
    channel.on("message", got.append)  # type: ignore[attr-defined]
    try:
        answer = await peers.answer(pc.localDescription.sdp)
        await pc.setRemoteDescription(RTCSessionDescription(sdp=answer, type="answer"))
        assert await wait_until(lambda: channel.readyState == "open", 15.0)  # type: ignore[attr-defined]
        sent = [bytes([k]) * 1000 for k in range(60)]
        for message in sent:
            channel.send(message)  # type: ignore[attr-defined]
            await asyncio.sleep(0.005)
        assert await wait_until(lambda: len(got) == len(sent), 10.0), len(got)
        assert sorted(got) == sorted(sent) and peers.echoed == len(sent)
        channel.send(b"x" * 5000)  # type: ignore[attr-defined]  # not a check's message: not echoed
        await asyncio.sleep(0.5)
        assert len(got) == len(sent)
        other, _ = await offer_with_channel()
        with pytest.raises(EchoBusy):
            await peers.answer(other.localDescription.sdp)
        await other.close()
    finally:
        await pc.close()
        await peers.close()
    assert len(peers) == 0


@pytest.mark.asyncio
async def test_a_peer_ends_when_its_time_is_up_and_a_bad_offer_leaves_none() -> None:
    peers = EchoPeers(CONFIG, max_peers=2, lifetime_s=0.5)
    with pytest.raises(MalformedSdpError):
        await peers.answer("v=0\r\nthis is not an offer\r\n")
    assert len(peers) == 0
    pc, _ = await offer_with_channel()
    try:
        await peers.answer(pc.localDescription.sdp)
        assert len(peers) == 1
        assert await wait_until(lambda: len(peers) == 0, 5.0)
    finally:
        await pc.close()
        await peers.close()
