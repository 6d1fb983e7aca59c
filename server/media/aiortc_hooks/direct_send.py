"""Forwarded RTP written straight to the SRTP session and the ICE socket: `rtp_output` (the `direct_send`
acceleration; aiortc's `_send_rtp` otherwise) and `arm_rtp_sender` for the C sender (`c_sender`)."""

from __future__ import annotations

import asyncio
import asyncio.selector_events
import socket
from collections.abc import Callable, Sized
from typing import TYPE_CHECKING, Any

import pylibsrtp
from aiortc.rtcdtlstransport import RTCDtlsTransport
from aiortc.rtcdtlstransport import State as DtlsState
from aiortc.rtcicetransport import RTCIceTransport

from server.media.aiortc_hooks.registry import accelerated
from server.media.aiortc_hooks.senders import send_rtp
from server.media.aiortc_hooks.srtp import (
    _SRTP_PROTECT_ADDRESS,
    SRTP_MAX_TRAILER_BYTES,
    _refuse,
    _srtp_ffi,
    srtp_protector,
)

if TYPE_CHECKING:
    from server.media._rtpsend import RtpSender

# asyncio's UDP transport class (private; see _DatagramOutput)
_SelectorDatagramTransport: Any = asyncio.selector_events._SelectorDatagramTransport  # type: ignore[attr-defined]
RtpOutput = Callable[[bytes], bool]
ICE_RTP_COMPONENT = 1


def rtp_output(transport: RTCDtlsTransport) -> RtpOutput:
    """A synchronous `send(serialised_rtp) -> bool` on this DTLS transport, for the forwarding hot path.

    Does what `RTCDtlsTransport._send_rtp` -> `aioice.Connection.sendto` -> `StunProtocol.send_data` do for
    one RTP packet — protect with the transport's tx SRTP session (`_tx_srtp`, see `srtp_protector`), hand the
    datagram to the nominated ICE pair's datagram transport — without their three coroutines and the RTCP
    check. False while DTLS is not connected, ICE has no nominated pair or SRTP refuses the packet. The DTLS
    transport's own tx counters (transport stats) no longer include forwarded RTP; the forwarders count it.
    """
    if not accelerated("direct_send"):
        return _plain_output(transport)
    ice: RTCIceTransport = transport.transport
    nominated = ice._connection._nominated
    connected = DtlsState.CONNECTED
    session: pylibsrtp.Session | None = None
    protect: Callable[[bytes], bytes | None] = _refuse
    pair: object = None
    datagram = _DatagramOutput(None, ("", 0))
    sock_sendto: Callable[[bytes, tuple[str, int]], int] | None = None

    def send(data: bytes) -> bool:
        nonlocal session, protect, pair, datagram, sock_sendto
        if transport._state is not connected:
            return False
        if transport._tx_srtp is not session:
            session = transport._tx_srtp
            protect = srtp_protector(session) if session is not None else _refuse
        nominated_pair = nominated.get(ICE_RTP_COMPONENT)
        if nominated_pair is not pair:
            if nominated_pair is None:
                return False
            pair = nominated_pair
            datagram = _DatagramOutput(nominated_pair.protocol.transport, nominated_pair.remote_addr)
            sock_sendto = datagram.sock.sendto if datagram.sock is not None else None
        protected = protect(data)
        if protected is None:
            return False
        if sock_sendto is not None and not datagram.queue:
            try:
                sock_sendto(protected, datagram.address)
                return True
            except OSError:
                pass  # would block, or an error to report: asyncio queues it or tells the protocol
        datagram.sendto(protected, datagram.address)
        return True

    return send


def _plain_output(transport: RTCDtlsTransport) -> RtpOutput:
    """`rtp_output` the plain way, when its internals changed: each packet goes through aiortc's own
    `_send_rtp` coroutine (a task per packet, in order: slower, nothing lost)."""
    pending: set[asyncio.Task[bool]] = set()

    def send(data: bytes) -> bool:
        if transport.state != "connected":  # the public state
            return False
        task = asyncio.ensure_future(send_rtp(transport, data))
        pending.add(task)
        task.add_done_callback(pending.discard)
        return True

    return send


def arm_rtp_sender(sender: RtpSender, transport: RTCDtlsTransport) -> bool:
    """Point a C `RtpSender` (server/media/_rtpsend.c) at this DTLS transport: what `rtp_output`'s `send`
    does, with the objects it looks at turned into guards that the sender checks before every packet.

    Arms only where `send` would call `sock.sendto` itself: DTLS connected, a tx SRTP session, a nominated
    pair on an unconnected asyncio UDP transport that is open with nothing queued. The guards: the DTLS
    state and session, the ICE transport's aioice connection, its nominated pair, the UDP transport's
    `_closing` flag (set before asyncio closes the socket, so the fd is never a reused one) and its queue.
    False (and the sender disarmed) when it cannot arm: the Python path then does the work.
    """
    from server.media import _rtpsend  # built, since there is a sender

    sender.disarm()
    if not accelerated("c_sender"):
        return False
    if transport._state is not DtlsState.CONNECTED or transport._tx_srtp is None:
        return False
    session = transport._tx_srtp
    ice: RTCIceTransport = transport.transport
    connection = ice._connection
    nominated = connection._nominated
    pair = nominated.get(ICE_RTP_COMPONENT)
    if pair is None:
        return False
    datagram_transport = pair.protocol.transport
    output = _DatagramOutput(datagram_transport, pair.remote_addr)
    if output.sock is None or len(output.queue) or getattr(datagram_transport, "_closing", True) is not False:
        return False
    address = pair.remote_addr
    if not (isinstance(address, tuple) and len(address) == 2):
        return False  # e.g. an IPv6 address with flow info / scope: the Python path handles it
    try:
        sender.arm(
            output.sock.fileno(),
            output.sock.family,
            address,
            output.sendto,
            session,
            int(_srtp_ffi.cast("uintptr_t", session._srtp[0])),
            _SRTP_PROTECT_ADDRESS,
            len(session._cdata) - SRTP_MAX_TRAILER_BYTES,
            (
                (transport, "_state", DtlsState.CONNECTED, _rtpsend.GUARD_ATTR_IS),
                (transport, "_tx_srtp", session, _rtpsend.GUARD_ATTR_IS),
                (ice, "_connection", connection, _rtpsend.GUARD_ATTR_IS),
                (nominated, ICE_RTP_COMPONENT, pair, _rtpsend.GUARD_ITEM_IS),
                (datagram_transport, "_closing", False, _rtpsend.GUARD_ATTR_IS),
                (datagram_transport, "_buffer", None, _rtpsend.GUARD_ATTR_EMPTY),
            ),
        )
    except (ValueError, OSError):
        return False
    return True


class _DatagramOutput:
    """The nominated pair's datagram transport and remote address, cached by `rtp_output`.

    For asyncio's selector datagram transport, `sock` / `queue` are its socket and its queue of unsent
    datagrams (`_sock`, `_buffer`): while the queue is empty, `sendto` would call `sock.sendto` right away, so
    the hot path does that itself (asyncio's own `sendto` handles the rest: a full socket buffer, errors).
    Other transports (TURN) have sock None and are always used through `sendto`.
    """

    __slots__ = ("address", "queue", "sendto", "sock")

    def __init__(self, datagram_transport: asyncio.BaseTransport | None, address: tuple[str, int]) -> None:
        self.address = address
        self.sendto: Callable[[bytes, tuple[str, int]], None] = getattr(datagram_transport, "sendto", _drop)
        self.sock: socket.socket | None = None
        self.queue: Sized = ()
        unconnected = datagram_transport is not None and datagram_transport.get_extra_info("peername") is None
        if unconnected and isinstance(datagram_transport, _SelectorDatagramTransport):
            self.sock = getattr(datagram_transport, "_sock", None)
            self.queue = getattr(datagram_transport, "_buffer", ())
            if self.sock is None or not isinstance(self.queue, Sized):
                self.sock, self.queue = None, ()


def _drop(data: bytes, address: tuple[str, int]) -> None:
    return None
