"""Echo peers for the technician's pre-join check: the real media path (ICE over UDP to the server, DTLS,
SCTP), measured from the browser.

The browser offers a peer connection with one unordered, unreliable data channel (``maxRetransmits: 0``:
what is lost stays lost, as RTP); the server answers and sends every message back as it arrives. The browser
counts what comes back (loss), times it (round trip, and ``getStats``' candidate pair) and how much per second
(bitrate). Each peer closes after ``lifetime_s``; at most ``max_peers`` at once (a check is seconds long).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from aiortc import RTCDataChannel, RTCPeerConnection, RTCSessionDescription

from server.media import aiortc_hooks as hooks
from server.media.config import MediaConfig
from server.media.errors import MalformedSdpError

logger = logging.getLogger(__name__)

MAX_PEERS = 4
LIFETIME_S = 20.0
MAX_MESSAGE_BYTES = 1200  # larger messages are not echoed (the check sends ~1000 bytes)


class EchoBusy(Exception):
    """Too many checks at once."""


class EchoPeers:
    def __init__(
        self, config: MediaConfig, max_peers: int = MAX_PEERS, lifetime_s: float = LIFETIME_S
    ) -> None:
        self.config = config
        self.max_peers = max_peers
        self.lifetime_s = lifetime_s
        self._peers: dict[RTCPeerConnection, asyncio.Task[None]] = {}
        self.echoed = 0  # messages sent back (all peers, measurements)
        hooks.install_ice_host_addresses(config.ice_addresses)
        hooks.install_udp_rcvbuf(config.udp_rcvbuf_bytes)
        hooks.install_udp_drain()
        hooks.install_consent_window()

    def __len__(self) -> int:
        return len(self._peers)

    async def answer(self, offer_sdp: str) -> str:
        """Answer the browser's offer; the peer echoes its data channels until it closes or its time is up."""
        if "m=application " not in offer_sdp:
            raise MalformedSdpError("the check's offer has no data channel (m=application)")
        if len(self._peers) >= self.max_peers:
            raise EchoBusy
        pc = RTCPeerConnection(configuration=self.config.rtc_configuration())

        @pc.on("datachannel")
        def on_channel(channel: RTCDataChannel) -> None:
            @channel.on("message")
            def on_message(message: str | bytes) -> None:
                if len(message) > MAX_MESSAGE_BYTES or channel.readyState != "open":
                    return
                try:
                    channel.send(message)
                    self.echoed += 1
                except Exception:  # noqa: BLE001 - closing meanwhile
                    pass

        @pc.on("connectionstatechange")
        async def on_state() -> None:
            if pc.connectionState in ("failed", "closed"):
                await self._close(pc)

        self._peers[pc] = asyncio.get_running_loop().create_task(self._expire(pc))
        try:
            await pc.setRemoteDescription(RTCSessionDescription(sdp=offer_sdp, type="offer"))
            await pc.setLocalDescription(await pc.createAnswer())
        except Exception as exc:
            await self._close(pc)
            raise MalformedSdpError(str(exc)) from exc
        return str(pc.localDescription.sdp)

    async def _expire(self, pc: RTCPeerConnection) -> None:
        await asyncio.sleep(self.lifetime_s)
        await self._close(pc, expired=True)

    async def _close(self, pc: RTCPeerConnection, expired: bool = False) -> None:
        task = self._peers.pop(pc, None)
        if task is not None and not expired:
            task.cancel()
        with contextlib.suppress(Exception):
            await pc.close()

    async def close(self) -> None:
        for pc in list(self._peers):
            await self._close(pc)
