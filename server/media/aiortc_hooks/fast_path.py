"""A synchronous fast path for known publisher RTP as it comes off the ICE socket (the `fast_path`
acceleration)."""

from __future__ import annotations

import struct
from collections.abc import Callable
from typing import Any

import aioice.ice
import pylibsrtp
from aiortc.rtcdtlstransport import RTCDtlsTransport
from aiortc.rtcdtlstransport import State as DtlsState

from server.media.aiortc_hooks.registry import accelerated, logger
from server.media.aiortc_hooks.srtp import _refuse, srtp_unprotector

RTP_HEADER_BYTES = 12
SSRC_OFFSET_BYTES = 8
_SSRC = struct.Struct("!L")
FastRtpHandler = Callable[[bytes], None]
DatagramHandler = Callable[[bytes, tuple[Any, ...]], None]


class RtpFastPath:
    """Known publisher RTP of one DTLS transport, handled synchronously as it comes off the ICE socket.

    aiortc's way costs per packet: aioice's `StunProtocol.datagram_received` (a STUN parse that fails),
    `Connection.data_received` into an asyncio.Queue, `RTCIceTransport._recv` awaited by
    `RTCDtlsTransport._recv_next` (SRTP unprotect, `RtpPacket.parse`, routing), then the receiver's
    `_handle_rtp_packet` coroutine. Here an instance attribute shadows `datagram_received` on each protocol of
    the transport's ICE connection (aioice `Connection._protocols`): an SRTP datagram that is RTP (first byte
    128..191 and not RTCP by aiortc's `is_rtcp` rule on the second byte, which SRTP leaves in the clear) and
    whose SSRC is in `routes` is unprotected with the transport's receive session (`_rx_srtp`, see
    `srtp_unprotector`) and handed as plaintext RTP to `routes[ssrc]`, synchronously.

    Everything else takes aiortc's unchanged way: STUN, DTLS, RTCP, SSRCs not routed (so aiortc still routes
    and the room learns new streams), datagrams while DTLS is not connected (`_state`), and datagrams while
    aioice's queue (`Connection._queue`) still holds some, so that nothing overtakes them. The transport's
    receive counters (`__rx_bytes` / `__rx_packets`, its transport stats) count fast-path datagrams too.
    Packets SRTP refuses (replay, authentication) are dropped and counted, as aiortc drops them.
    """

    def __init__(self, transport: RTCDtlsTransport) -> None:
        self.transport = transport
        self.routes: dict[int, FastRtpHandler] = {}
        self.packets = 0  # RTP packets carried by the fast path
        self.refused = 0  # dropped: SRTP refused them (replay, authentication, too long)
        self.failed = 0  # dropped: the handler raised
        self._connection: aioice.Connection = transport.transport._connection
        self._shadowed: list[aioice.ice.StunProtocol] = []
        self._session: pylibsrtp.Session | None = None
        self._unprotect: Callable[[bytes], bytes | None] = _refuse

    def route(self, ssrc: int, handler: FastRtpHandler) -> None:
        """Hand RTP of this SSRC to `handler(plaintext_rtp)` from now on."""
        self.routes[ssrc] = handler

    def unroute(self, ssrc: int, handler: FastRtpHandler | None = None) -> None:
        """Send this SSRC the aiortc way again (only if it is still routed to `handler`, when given)."""
        if handler is None or self.routes.get(ssrc) is handler:
            self.routes.pop(ssrc, None)

    def attach(self) -> None:
        """Shadow `datagram_received` on each protocol of the ICE connection not shadowed yet (idempotent:
        call it again after gathering or when connected). Nothing when the `fast_path` acceleration is off:
        every datagram then takes aiortc's way."""
        if not accelerated("fast_path"):
            return
        for protocol in self._connection._protocols:
            if "datagram_received" not in vars(protocol):
                # asyncio hands datagram protocols bytes (aioice's annotation also allows str)
                shadow = self._shadow(protocol.datagram_received)  # type: ignore[arg-type]
                protocol.datagram_received = shadow  # type: ignore[method-assign, assignment]
                self._shadowed.append(protocol)

    def detach(self) -> None:
        """Back to aiortc's way for every datagram."""
        self.routes.clear()
        for protocol in self._shadowed:
            vars(protocol).pop("datagram_received", None)
        self._shadowed.clear()

    def _shadow(self, original: DatagramHandler) -> DatagramHandler:
        routes = self.routes
        transport = self.transport
        queue = self._connection._queue
        connected = DtlsState.CONNECTED
        receive = self._receive
        ssrc_of = _SSRC.unpack_from

        def datagram_received(data: bytes, addr: tuple[Any, ...]) -> None:
            if (
                len(data) >= RTP_HEADER_BYTES
                and 127 < data[0] < 192
                and not 191 < data[1] < 209  # aiortc's is_rtcp()
                and (handler := routes.get(ssrc_of(data, SSRC_OFFSET_BYTES)[0])) is not None
                and transport._state is connected
                and queue.empty()
            ):
                receive(data, handler)
            else:
                original(data, addr)

        return datagram_received

    def _receive(self, data: bytes, handler: FastRtpHandler) -> None:
        transport = self.transport
        session = transport._rx_srtp
        if session is not self._session:
            self._session = session
            self._unprotect = srtp_unprotector(session) if session is not None else _refuse
        transport._RTCDtlsTransport__rx_bytes += len(data)  # type: ignore[attr-defined]
        transport._RTCDtlsTransport__rx_packets += 1  # type: ignore[attr-defined]
        plain = self._unprotect(data)
        if plain is None:
            self.refused += 1
            return
        self.packets += 1
        try:
            handler(plain)
        except Exception:  # never into asyncio's transport: it would log it for every packet
            self.failed += 1
            logger.exception("RTP fast path: handler failed")
