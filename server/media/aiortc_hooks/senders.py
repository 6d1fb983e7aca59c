"""Senders: raw RTP in (a parked track, `send_rtp` on the transport), RTCP feedback intercepted, the
negotiated SSRCs."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from aiortc import MediaStreamTrack, RTCRtpSender
from aiortc.rtcdtlstransport import RTCDtlsTransport
from aiortc.rtp import AnyRtcpPacket

RtcpHandler = Callable[[AnyRtcpPacket], Awaitable[None]]


class IdleTrack(MediaStreamTrack):
    """A track whose `recv()` never returns: parks the sender's own RTP loop, which would otherwise poll
    every 20 ms per sender when it has no track. The SFU writes RTP to the transport directly."""

    def __init__(self, kind: str) -> None:
        super().__init__()
        self.kind = kind
        self._never: asyncio.Future[None] = asyncio.get_event_loop().create_future()

    async def recv(self) -> None:  # type: ignore[override]
        await asyncio.shield(self._never)


def intercept_rtcp(sender: RTCRtpSender, handler: RtcpHandler) -> None:
    """Feed RTCP addressed to this sender (NACK, PLI, FIR, REMB, RR) to `handler` instead of aiortc."""
    original = sender._handle_rtcp_packet

    async def _handle(packet: AnyRtcpPacket) -> None:
        await handler(packet)
        await original(packet)

    sender._handle_rtcp_packet = _handle  # type: ignore[method-assign]


def sender_ssrc(sender: RTCRtpSender) -> int:
    return int(sender._ssrc)


def sender_rtx_ssrc(sender: RTCRtpSender) -> int:
    return int(sender._rtx_ssrc)


async def send_rtp(transport: RTCDtlsTransport, data: bytes) -> bool:
    """Protect and send one serialised RTP/RTCP packet; False when the transport is not connected."""
    try:
        await transport._send_rtp(data)
    except ConnectionError:
        return False
    return True
