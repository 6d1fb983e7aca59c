"""Every use of aiortc/aioice private internals, in one place (aiortc==1.16.0, aioice==0.13.0,
pylibsrtp==1.0.0: pinned exactly in pyproject.toml).

aiortc has no public way to hand out undecoded RTP, to send RTP on a transceiver's transport, or to answer
RTCP feedback for a sender that has no track. The SFU needs all three, plus control over the ICE host
addresses (aioice never offers 127.0.0.1) and the UDP receive buffer size; and, because it writes forwarded
RTP straight to the SRTP session and the ICE socket (`rtp_output`), it fills in the Sender Reports that the
track-less aiortc sender would otherwise send with zero counts (`intercept_sender_reports`). On the receive
side, `RtpFastPath` takes known publisher RTP off the ICE socket and unprotects it synchronously, past
aioice's queue and aiortc's receive coroutines. Each hook below
names the private attribute it relies on; `self_check()` verifies that all of them exist with the expected
shape and is run at import time, so an aiortc upgrade that breaks one fails loudly instead of silently
forwarding nothing.
"""

from __future__ import annotations

import asyncio
import asyncio.selector_events
import contextlib
import contextvars
import inspect
import logging
import random
import socket
import struct
import threading
import time
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence, Sized
from typing import TYPE_CHECKING, Any

import aioice.ice
import aioice.stun
import aioice.turn
import pylibsrtp
from aiortc import MediaStreamTrack, RTCPeerConnection, RTCRtpReceiver, RTCRtpSender, RTCRtpTransceiver
from aiortc.rtcdtlstransport import RTCDtlsTransport
from aiortc.rtcdtlstransport import State as DtlsState
from aiortc.rtcicetransport import RTCIceTransport
from aiortc.rtcrtpparameters import (
    RTCRtpCodecCapability,
    RTCRtpCodecParameters,
    RTCRtpHeaderExtensionParameters,
)
from aiortc.rtp import (
    RTCP_PSFB_APP,
    RTCP_PSFB_FIR,
    RTCP_PSFB_PLI,
    AnyRtcpPacket,
    HeaderExtensionsMap,
    RtcpByePacket,
    RtcpPsfbPacket,
    RtcpSdesPacket,
    RtcpSenderInfo,
    RtcpSourceInfo,
    RtcpSrPacket,
    RtpPacket,
    pack_remb_fci,
)
from pylibsrtp import SRTP_MAX_TRAILER_LEN as SRTP_MAX_TRAILER_BYTES
from pylibsrtp._binding import ffi as _srtp_ffi
from pylibsrtp._binding import lib as _srtp_lib

if TYPE_CHECKING:
    from server.media._rtpsend import RtpSender

logger = logging.getLogger(__name__)

EXPECTED_AIORTC_VERSION = "1.16.0"
EXPECTED_VERSIONS = {"aiortc": EXPECTED_AIORTC_VERSION, "aioice": "0.13.0", "pylibsrtp": "1.0.0"}
DEFAULT_UDP_RCVBUF_BYTES = 4 * 1024 * 1024

RtpHandler = Callable[[RtpPacket, int], Awaitable[None]]
RtcpHandler = Callable[[AnyRtcpPacket], Awaitable[None]]
# asyncio's UDP transport class (private; see _DatagramOutput)
_SelectorDatagramTransport: Any = asyncio.selector_events._SelectorDatagramTransport  # type: ignore[attr-defined]
RtpOutput = Callable[[bytes], bool]
SenderInfoSource = Callable[[], RtcpSenderInfo | None]
ICE_RTP_COMPONENT = 1


class HookError(RuntimeError):
    """An aiortc/aioice internal that the SFU relies on is missing or changed shape."""


# --- ICE host addresses and UDP buffers (aioice) -------------------------------------------------------

_host_addresses: list[str] | None = None
_original_get_host_addresses = aioice.ice.get_host_addresses


def _configured_host_addresses(use_ipv4: bool, use_ipv6: bool) -> list[str]:
    if _host_addresses is None:
        return _original_get_host_addresses(use_ipv4=use_ipv4, use_ipv6=use_ipv6)
    return list(_host_addresses)


def install_ice_host_addresses(addresses: Sequence[str]) -> None:
    """Make aioice gather host candidates on exactly these addresses (process-wide).

    aioice's `get_host_addresses` skips loopback and offers every other interface address; on a closed
    network the operator chooses the addresses. Server and client share the same setting.
    """
    global _host_addresses
    _host_addresses = list(addresses)
    aioice.ice.get_host_addresses = _configured_host_addresses


def install_udp_rcvbuf(size_bytes: int = DEFAULT_UDP_RCVBUF_BYTES) -> None:
    """Ask for `size_bytes` of UDP receive buffer on every ICE socket (aioice reads this constant per bind).

    The kernel caps the value at net.core.rmem_max unless the process may use SO_RCVBUFFORCE.
    """
    aioice.turn.UDP_SOCKET_BUFFER_SIZE = size_bytes


def effective_udp_rcvbuf_bytes(size_bytes: int) -> int:
    """What the kernel grants for a requested SO_RCVBUF (it doubles the request and caps at rmem_max)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, size_bytes)
        return int(sock.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF))


# --- ICE consent freshness (aioice) ----------------------------------------------------------------------

# RFC 7675: consent to send expires when no check has been answered for 30 s. aioice 0.13 sends each check
# with no retransmission and counts it failed when its answer takes over 0.5 s (STUN's first RTO), closing the
# connection after 6 such checks in a row: a peer whose answers are late by more than half a second for 30 s
# (a 4G link in a queue, a client process busy with a hundred peers) loses its connection though it
# answered every check. The check below retransmits on STUN's schedule (0.5, 1, 2 s: answered within
# CONSENT_ANSWER_WINDOW_S) and expires consent on time, 30 s after the last answered check, as libnice does.
CONSENT_RETRANSMISSIONS = 2
CONSENT_ANSWER_WINDOW_S = 3.5  # STUN's RTO 0.5 s doubled per retransmission: 0.5 + 1 + 2
_original_query_consent = aioice.ice.Connection.query_consent


async def _query_consent_with_window(self: aioice.ice.Connection) -> None:
    """aioice's Connection.query_consent (uses remote_password, _nominated, build_request, pair.protocol
    .request, _query_consent_task, close; CONSENT_INTERVAL and CONSENT_FAILURES read at each check), with
    retransmitted checks and a time-based expiry."""
    assert self.remote_password is not None
    loop = asyncio.get_running_loop()
    expiry_s = aioice.ice.CONSENT_INTERVAL * aioice.ice.CONSENT_FAILURES  # 30 s with aioice's constants
    answered_at = loop.time()
    while True:
        await asyncio.sleep(aioice.ice.CONSENT_INTERVAL * (0.8 + 0.4 * random.random()))
        for pair in self._nominated.values():
            request = self.build_request(pair, nominate=False)
            try:
                await pair.protocol.request(
                    request,
                    pair.remote_addr,
                    integrity_key=self.remote_password.encode("utf8"),
                    retransmissions=CONSENT_RETRANSMISSIONS,
                )
                answered_at = loop.time()
            except aioice.stun.TransactionError:
                pass
            if loop.time() - answered_at >= expiry_s:
                logger.info("ICE consent expired: no check answered for %.0f s", loop.time() - answered_at)
                self._query_consent_task = None
                return await self.close()


def install_consent_window() -> None:
    """Answered-late consent checks count (process-wide); a no-op while the `consent_window` hook is off."""
    if accelerated("consent_window"):
        aioice.ice.Connection.query_consent = _query_consent_with_window  # type: ignore[method-assign]


def consent_window_installed() -> bool:
    return aioice.ice.Connection.query_consent is _query_consent_with_window  # type: ignore[comparison-overlap]


# --- receivers: raw RTP out, RTCP feedback up ------------------------------------------------------------


def intercept_rtp(receiver: RTCRtpReceiver, handler: RtpHandler) -> None:
    """Replace this receiver's RTP handling (jitter buffer + decoder) by `handler(packet, arrival_ms)`.

    The DTLS transport calls `receiver._handle_rtp_packet(packet, arrival_time_ms=...)` for each routed
    packet; an instance attribute shadows the method, so nothing is decoded on this receiver any more.
    """

    async def _handle(packet: RtpPacket, arrival_time_ms: int) -> None:
        await handler(packet, arrival_time_ms)

    receiver._handle_rtp_packet = _handle  # type: ignore[method-assign]


def rtx_ssrcs(receiver: RTCRtpReceiver) -> Mapping[int, int]:
    """RTX SSRC -> media SSRC, as negotiated for this receiver (empty before `receive()`).

    The receiver's own dict, not a copy (read per packet): callers must not modify it.
    """
    rtx: Mapping[int, int] = receiver._RTCRtpReceiver__rtx_ssrc  # type: ignore[attr-defined]
    return rtx


def receiver_codecs(receiver: RTCRtpReceiver) -> dict[int, RTCRtpCodecParameters]:
    """Payload type -> codec, as negotiated for this receiver (empty before `receive()`)."""
    return dict(receiver._RTCRtpReceiver__codecs)  # type: ignore[attr-defined]


def receiver_codec(receiver: RTCRtpReceiver, payload_type: int) -> RTCRtpCodecParameters | None:
    """The codec negotiated for this payload type on this receiver (no copy: read per packet)."""
    codecs: dict[int, RTCRtpCodecParameters] = receiver._RTCRtpReceiver__codecs  # type: ignore[attr-defined]
    return codecs.get(payload_type)


def route_ssrc(receiver: RTCRtpReceiver, ssrc: int) -> None:
    """Route RTP with this SSRC (e.g. the RTX stream of a bundled video) to `receiver`.

    aiortc routes bundled RTP by SSRC, falling back to payload type when only one receiver has it; two video
    m-lines (camera + screen) share the RTX payload type, so their RTX SSRCs must be registered explicitly.
    """
    receiver.transport._rtp_router.ssrc_table[ssrc] = receiver


FIR_ENTRY_BYTES = 8  # RFC 5104 §4.3.1.1: SSRC of the target, command sequence number, reserved


def route_fir_by_target(transport: RTCDtlsTransport) -> None:
    """Deliver RFC 5104 FIRs to the sender they name.

    A FIR's media-source SSRC is 0; its targets are in the FCI. aiortc routes feedback by the media-source
    SSRC only, so a standard FIR (as libwebrtc writes it) would reach no sender. Idempotent per transport.
    """
    router = transport._rtp_router
    original = router.route_rtcp
    if getattr(original, "routes_fir_by_target", False):
        return

    def route_rtcp(packet: AnyRtcpPacket) -> set[Any]:
        recipients = original(packet)
        if isinstance(packet, RtcpPsfbPacket) and packet.fmt == RTCP_PSFB_FIR:
            fci = packet.fci
            for offset in range(0, len(fci) - FIR_ENTRY_BYTES + 1, FIR_ENTRY_BYTES):
                sender = router.senders.get(int.from_bytes(fci[offset : offset + 4], "big"))
                if sender is not None:
                    recipients.add(sender)
        return recipients

    route_rtcp.routes_fir_by_target = True  # type: ignore[attr-defined]
    router.route_rtcp = route_rtcp  # type: ignore[method-assign]


async def send_pli(receiver: RTCRtpReceiver, media_ssrc: int) -> None:
    """Ask the remote sender of `media_ssrc` for a keyframe (RTCP PSFB PLI)."""
    await receiver._send_rtcp_pli(media_ssrc)


async def send_nack(receiver: RTCRtpReceiver, media_ssrc: int, lost: list[int]) -> None:
    """Ask the remote sender of `media_ssrc` to retransmit these sequence numbers."""
    await receiver._send_rtcp_nack(media_ssrc, lost)


async def send_remb(receiver: RTCRtpReceiver, bitrate_bps: int, media_ssrcs: list[int]) -> None:
    """Cap the remote sender's bitrate (RTCP REMB)."""
    rtcp_ssrc = receiver._RTCRtpReceiver__rtcp_ssrc  # type: ignore[attr-defined]
    if rtcp_ssrc is None:
        return
    packet = RtcpPsfbPacket(
        fmt=RTCP_PSFB_APP, ssrc=rtcp_ssrc, media_ssrc=0, fci=pack_remb_fci(bitrate_bps, media_ssrcs)
    )
    await receiver._send_rtcp(packet)


async def send_pli_as(transport: RTCDtlsTransport, sender_ssrc: int, media_ssrc: int) -> None:
    """Send a PLI on `transport` (used by the client to ask for a keyframe without a decoder error)."""
    packet = RtcpPsfbPacket(fmt=RTCP_PSFB_PLI, ssrc=sender_ssrc, media_ssrc=media_ssrc)
    await transport._send_rtp(bytes(packet))


# --- senders: raw RTP in, RTCP feedback intercepted ------------------------------------------------------


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


def negotiated_codecs(transceiver: RTCRtpTransceiver) -> list[RTCRtpCodecParameters]:
    """The codecs negotiated for this transceiver, preferred first (empty before negotiation)."""
    return list(transceiver._codecs)


def negotiated_header_extensions(transceiver: RTCRtpTransceiver) -> list[RTCRtpHeaderExtensionParameters]:
    """The header extensions (id, uri) negotiated for this transceiver (aiortc's defaults before that)."""
    return list(transceiver._headerExtensions)


def header_extensions_map(transceiver: RTCRtpTransceiver) -> HeaderExtensionsMap:
    """A header-extension map configured like the one the transceiver's sender serialises with."""
    from aiortc.rtcrtpparameters import RTCRtpParameters

    ext_map = HeaderExtensionsMap()
    ext_map.configure(RTCRtpParameters(codecs=[], headerExtensions=list(transceiver._headerExtensions)))
    return ext_map


async def send_rtp(transport: RTCDtlsTransport, data: bytes) -> bool:
    """Protect and send one serialised RTP/RTCP packet; False when the transport is not connected."""
    try:
        await transport._send_rtp(data)
    except ConnectionError:
        return False
    return True


def srtp_protector(session: pylibsrtp.Session) -> Callable[[bytes], bytes | None]:
    """`session.protect(packet)` without pylibsrtp's per-call wrapper (None where it would raise).

    pylibsrtp's `Session.protect` checks the argument, allocates a C int, copies the packet into the
    session's buffer (`_cdata` / `_buffer`), calls `srtp_protect(_srtp[0], ...)` and slices the result out:
    about a third of its cost for a forwarded packet is the wrapper. This does the same with the int
    allocated once. The session's buffer is shared with pylibsrtp's own calls: safe on one event-loop thread.
    """
    return _srtp_call(session, _srtp_lib.srtp_protect, SRTP_MAX_TRAILER_BYTES)


def _srtp_call(
    session: pylibsrtp.Session, function: Any, trailer_bytes: int
) -> Callable[[bytes], bytes | None]:
    """`function(srtp, buffer, length)` (srtp_protect / srtp_unprotect) on the session's own buffer: the
    packet copied in, the result sliced out, None where libsrtp refuses or the packet (plus `trailer_bytes` it
    may grow by) does not fit the buffer."""
    srtp = session._srtp[0]
    cdata = session._cdata
    buffer = session._buffer
    max_packet_bytes = len(cdata) - trailer_bytes
    length = _srtp_ffi.new("int *")

    # `_keep` holds the session: `srtp` is a raw pointer that its collection would free
    def run(packet: bytes, _keep: pylibsrtp.Session = session) -> bytes | None:
        size = len(packet)
        if size > max_packet_bytes:
            return None
        buffer[0:size] = packet
        length[0] = size
        if function(srtp, cdata, length):
            return None
        result: bytes = buffer[0 : length[0]]
        return result

    return run


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


def _srtp_function_address(name: str) -> int:
    """The address of a libsrtp function in pylibsrtp's binding, for the C sender (0 when it cannot be had:
    arming then fails and the Python path is used; `self_check` names the problem)."""
    try:
        return int(_srtp_ffi.cast("uintptr_t", _srtp_ffi.addressof(_srtp_lib, name)))
    except (AttributeError, TypeError, _srtp_ffi.error):
        return 0


_SRTP_PROTECT_ADDRESS = _srtp_function_address("srtp_protect")


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


def _refuse(packet: bytes) -> bytes | None:
    return None


def _drop(data: bytes, address: tuple[str, int]) -> None:
    return None


# --- receivers: a synchronous fast path for known publisher RTP ------------------------------------------

RTP_HEADER_BYTES = 12
SSRC_OFFSET_BYTES = 8
_SSRC = struct.Struct("!L")
FastRtpHandler = Callable[[bytes], None]
DatagramHandler = Callable[[bytes, tuple[Any, ...]], None]


def srtp_unprotector(session: pylibsrtp.Session) -> Callable[[bytes], bytes | None]:
    """`session.unprotect(packet)` without pylibsrtp's per-call wrapper (None where it would raise).

    The same internals as `srtp_protector` (`_srtp`, `_cdata`, `_buffer`) with `srtp_unprotect`, which checks
    the authentication tag and the replay window and decrypts in place. Safe on one event-loop thread.
    """
    return _srtp_call(session, _srtp_lib.srtp_unprotect, 0)


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


def intercept_sender_reports(sender: RTCRtpSender, source: SenderInfoSource) -> None:
    """Fill this sender's RTCP Sender Reports from `source()` (None: leave aiortc's values).

    aiortc's sender builds its SR from what it sent itself: nothing, since forwarded RTP bypasses it, so the
    viewer would get zero packet/octet counts and NTP/RTP timestamps of 0 (Chromium uses them for A/V sync
    and stats). The SR is built in `_run_rtcp` and handed to `_send_rtcp`; an instance attribute shadows the
    latter and replaces the sender info of SRs for this sender's SSRC.
    """
    original = sender._send_rtcp

    async def _send(packets: list[AnyRtcpPacket]) -> None:
        for packet in packets:
            if isinstance(packet, RtcpSrPacket) and packet.ssrc == sender._ssrc:
                info = source()
                if info is not None:
                    packet.sender_info = info
        await original(packets)

    sender._send_rtcp = _send  # type: ignore[method-assign]


def report_every(sender: RTCRtpSender, interval_s: float) -> None:
    """Send this sender's RTCP Sender Reports every `interval_s` on average instead of aiortc's 1 s.

    aiortc's `_run_rtcp` sends SR + SDES every 0.5-1.5 s per sender; an SFU has one sender per forwarded
    stream per viewer (180 in a meeting of 10), each SR going through several coroutines. libwebrtc reports
    audio every 5 s and video every 1 s. `send()` starts `self._run_rtcp()`, so an instance attribute set
    before it runs replaces the loop: the same steps as aiortc's (the started/exited events `stop()` waits
    for, the last-SR fields its RTT estimate reads, SDES cname, BYE on stop) with this interval.
    """
    if not accelerated("report_interval"):
        return  # aiortc's own loop reports every ~1 s
    started: asyncio.Event = sender._RTCRtpSender__rtcp_started  # type: ignore[attr-defined]
    exited: asyncio.Event = sender._RTCRtpSender__rtcp_exited  # type: ignore[attr-defined]

    async def _run_rtcp() -> None:
        started.set()
        try:
            while True:
                await asyncio.sleep(interval_s * (0.5 + random.random()))
                ntp_timestamp: int = sender._RTCRtpSender__ntp_timestamp  # type: ignore[attr-defined]
                packets: list[AnyRtcpPacket] = [
                    RtcpSrPacket(
                        ssrc=sender._ssrc,
                        sender_info=RtcpSenderInfo(
                            ntp_timestamp=ntp_timestamp,
                            rtp_timestamp=sender._RTCRtpSender__rtp_timestamp,  # type: ignore[attr-defined]
                            packet_count=sender._RTCRtpSender__packet_count & 0xFFFFFFFF,  # type: ignore[attr-defined]
                            octet_count=sender._RTCRtpSender__octet_count & 0xFFFFFFFF,  # type: ignore[attr-defined]
                        ),
                    )
                ]
                sender._RTCRtpSender__lsr = (ntp_timestamp >> 16) & 0xFFFFFFFF  # type: ignore[attr-defined]
                sender._RTCRtpSender__lsr_time = time.time()  # type: ignore[attr-defined]
                cname: str | None = sender._RTCRtpSender__cname  # type: ignore[attr-defined]
                if cname is not None:
                    chunk = RtcpSourceInfo(ssrc=sender._ssrc, items=[(1, cname.encode("utf8"))])
                    packets.append(RtcpSdesPacket(chunks=[chunk]))
                await sender._send_rtcp(packets)
        except asyncio.CancelledError:
            pass
        await sender._send_rtcp([RtcpByePacket(sources=[sender._ssrc])])
        exited.set()

    sender._run_rtcp = _run_rtcp  # type: ignore[method-assign]


# --- client-side counting without decoding --------------------------------------------------------------


def decoder_error_flag(receiver: RTCRtpReceiver) -> threading.Event:
    """Set by aiortc's decoder thread when a frame failed to decode (cleared by the next RTP packet)."""
    flag: threading.Event = receiver._RTCRtpReceiver__decoder_error  # type: ignore[attr-defined]
    return flag


def stop_decoder(receiver: RTCRtpReceiver) -> None:
    """Stop the receiver's decoder thread (used when a client counts RTP instead of decoding)."""
    receiver._RTCRtpReceiver__stop_decoder()  # type: ignore[attr-defined]


# --- self-check ------------------------------------------------------------------------------------------


def _srtp_protect_type() -> str:
    """The C type of pylibsrtp's srtp_protect, as cffi spells it ("" when it cannot tell)."""
    try:
        return str(_srtp_ffi.getctype(_srtp_ffi.typeof(_srtp_ffi.addressof(_srtp_lib, "srtp_protect"))))
    except (AttributeError, TypeError, _srtp_ffi.error):
        return ""


# What only accelerates: each name below is a faster way to do what aiortc does; when its internals changed,
# the feature is switched off with a warning and the plain aiortc path does the work (the SFU is slower, not
# broken). Everything else self_check() verifies is required: without it the SFU cannot forward at all.
# `consent_window` is a tolerance rather than a speed-up, switched off the same way: aioice's stricter checks.
ACCELERATIONS = ("direct_send", "c_sender", "fast_path", "report_interval", "consent_window")
_disabled: dict[str, list[str]] = {}


def accelerated(name: str) -> bool:
    """True while the acceleration `name` (one of ACCELERATIONS) is usable on the installed internals."""
    return name not in _disabled


def disabled_accelerations() -> dict[str, list[str]]:
    """The accelerations switched off at import, each with the internals that changed (for /api/health)."""
    return {name: list(problems) for name, problems in _disabled.items()}


def self_check() -> None:
    """Raise HookError if an internal the SFU requires is missing or has changed shape; switch off (with a
    warning) each acceleration whose internals changed (`accelerated`, `disabled_accelerations`)."""
    required = _required_problems()
    if required:
        raise HookError("aiortc internals changed: " + "; ".join(required))
    _disabled.clear()
    for name, problems in _acceleration_problems().items():
        if problems:
            _disabled[name] = problems
            logger.warning(
                "aiortc internals changed: %s switched off, the plain aiortc path is used (%s)",
                name,
                "; ".join(problems),
            )


def _has_params(problems: list[str]) -> Callable[[object, str, list[str]], None]:
    def has_params(obj: object, name: str, params: list[str]) -> None:
        func = getattr(obj, name, None)
        if func is None:
            problems.append(f"{getattr(obj, '__name__', obj)}.{name} is missing")
            return
        found = list(inspect.signature(func).parameters)
        if found[: len(params)] != params:
            problems.append(f"{getattr(obj, '__name__', obj)}.{name}{tuple(found)} expected {tuple(params)}")

    return has_params


def _required_problems() -> list[str]:
    """The internals every hook the SFU cannot do without relies on."""
    problems: list[str] = []
    for dist, expected in EXPECTED_VERSIONS.items():
        installed = _installed_version(dist)
        if installed != expected:
            problems.append(f"{dist} {installed} installed, hooks written for {expected}")
    has_params = _has_params(problems)
    has_params(aioice.ice, "get_host_addresses", ["use_ipv4", "use_ipv6"])
    if not isinstance(getattr(aioice.turn, "UDP_SOCKET_BUFFER_SIZE", None), int):
        problems.append("aioice.turn.UDP_SOCKET_BUFFER_SIZE is missing")
    has_params(RTCRtpReceiver, "_handle_rtp_packet", ["self", "packet", "arrival_time_ms"])
    has_params(RTCRtpReceiver, "_send_rtcp_pli", ["self", "media_ssrc"])
    has_params(RTCRtpReceiver, "_send_rtcp_nack", ["self", "media_ssrc", "lost"])
    has_params(RTCRtpReceiver, "_send_rtcp", ["self", "packet"])
    has_params(RTCRtpReceiver, "_RTCRtpReceiver__stop_decoder", ["self"])
    has_params(RTCRtpSender, "_handle_rtcp_packet", ["self", "packet"])
    has_params(RTCDtlsTransport, "_send_rtp", ["self", "data"])
    has_params(RTCRtpSender, "_send_rtcp", ["self", "packets"])
    if "self._send_rtcp(packets)" not in inspect.getsource(RTCRtpSender._run_rtcp) or "RtcpSrPacket(" not in (
        inspect.getsource(RTCRtpSender._run_rtcp)
    ):
        problems.append("RTCRtpSender._run_rtcp no longer hands its SR to _send_rtcp")
    if "sender_info" not in inspect.signature(RtcpSrPacket).parameters:
        problems.append("RtcpSrPacket.sender_info is missing")
    init_src = inspect.getsource(RTCRtpReceiver.__init__)
    for attr in ("self.__rtx_ssrc", "self.__codecs", "self.__rtcp_ssrc", "self.__decoder_error"):
        if attr not in init_src:
            problems.append(f"RTCRtpReceiver no longer sets {attr}")
    sender_src = inspect.getsource(RTCRtpSender.__init__)
    for attr in ("self._ssrc", "self._rtx_ssrc"):
        if attr not in sender_src:
            problems.append(f"RTCRtpSender no longer sets {attr}")
    transceiver_src = inspect.getsource(RTCRtpTransceiver.__init__)
    for attr in ("self._codecs", "self._headerExtensions"):
        if attr not in transceiver_src:
            problems.append(f"RTCRtpTransceiver no longer sets {attr}")
    dtls_src = inspect.getsource(RTCDtlsTransport)
    if "self._rtp_router" not in dtls_src or "ssrc_table" not in inspect.getsource(
        __import__("aiortc.rtcdtlstransport", fromlist=["RtpRouter"]).RtpRouter
    ):
        problems.append("RTCDtlsTransport._rtp_router.ssrc_table is missing")
    router_cls = __import__("aiortc.rtcdtlstransport", fromlist=["RtpRouter"]).RtpRouter
    if "self._rtp_router.route_rtcp(packet)" not in inspect.getsource(RTCDtlsTransport._handle_rtcp_data) or (
        "self.senders" not in inspect.getsource(router_cls.__init__)
    ):
        problems.append("RTCDtlsTransport no longer routes RTCP through _rtp_router.route_rtcp / senders")
    rtp_loop = inspect.getsource(RTCRtpSender._run_rtp)
    if "if not self.__track" not in rtp_loop or "self.__track.recv()" not in inspect.getsource(
        RTCRtpSender._next_encoded_frame
    ):
        problems.append("RTCRtpSender._run_rtp no longer reads its track (IdleTrack would not park it)")
    if "get_host_addresses(" not in inspect.getsource(aioice.ice.Connection.gather_candidates):
        problems.append("aioice Connection.gather_candidates no longer calls get_host_addresses")
    if "turn.UDP_SOCKET_BUFFER_SIZE" not in inspect.getsource(aioice.ice.Connection.get_component_candidates):
        problems.append("aioice no longer reads turn.UDP_SOCKET_BUFFER_SIZE when binding")
    return problems


def _acceleration_problems() -> dict[str, list[str]]:
    """For each of ACCELERATIONS, the internals it relies on that changed (empty: usable)."""
    session: list[str] = []  # pylibsrtp's session buffer, used by srtp_protector / srtp_unprotector
    protect_src = inspect.getsource(pylibsrtp.Session)
    for needle in ("self._cdata = ffi.new(", "self._buffer = ffi.buffer(", "self._srtp = ffi.gc("):
        if needle not in protect_src:
            session.append(f"pylibsrtp Session no longer sets {needle!r}")
    direct = list(session)  # rtp_output: what RTCDtlsTransport._send_rtp and aioice do, synchronously
    send_rtp_src = inspect.getsource(RTCDtlsTransport._send_rtp)
    needles = ("self._state != State.CONNECTED", "self._tx_srtp.protect(data)", "self.transport._send(data)")
    for needle in needles:
        if needle not in send_rtp_src:
            direct.append(f"RTCDtlsTransport._send_rtp no longer does {needle!r}")
    if "self._send = self._connection.send" not in inspect.getsource(RTCIceTransport.__init__):
        direct.append("RTCIceTransport no longer sends through its aioice connection (_connection)")
    if "self._nominated" not in inspect.getsource(aioice.ice.Connection.__init__) or (
        "active_pair.protocol.send_data(data, active_pair.remote_addr)"
        not in inspect.getsource(aioice.ice.Connection.sendto)
    ):
        direct.append("aioice Connection.sendto no longer sends on _nominated[component]")
    if "self.transport.sendto(data, addr)" not in inspect.getsource(aioice.ice.StunProtocol.send_data):
        direct.append("aioice StunProtocol.send_data no longer writes to its datagram transport")
    asyncio_sendto = inspect.getsource(_SelectorDatagramTransport.sendto)
    if "if not self._buffer:" not in asyncio_sendto or "self._sock.sendto(data, addr)" not in asyncio_sendto:
        direct.append("asyncio's datagram transport no longer sends at once on _sock when _buffer is empty")
    if not hasattr(_srtp_lib, "srtp_protect"):
        direct.append("pylibsrtp._binding.lib.srtp_protect is missing")
    c_sender = list(direct)  # the C RtpSender does what rtp_output does, guarded
    if hasattr(_srtp_lib, "srtp_protect") and (
        _srtp_protect_type() != "srtp_err_status_t(*)(struct srtp_ctx_t_ *, void *, int *)"
    ):
        # the C RtpSender calls it as int (*)(void *ctx, void *rtp, int *len): the enum is an int
        c_sender.append("pylibsrtp srtp_protect is no longer srtp_err_status_t (*)(srtp_t, void *, int *)")
    transport_src = inspect.getsource(asyncio.selector_events._SelectorTransport)  # type: ignore[attr-defined]
    if "self._closing = True" not in transport_src or "self._closing = False" not in transport_src:
        c_sender.append("asyncio's selector transport no longer flags _closing before closing its socket")
    fast_path = list(session)
    _check_fast_path(fast_path, _has_params(fast_path))
    report: list[str] = []
    run_rtcp_src = inspect.getsource(RTCRtpSender._run_rtcp)
    for needle in (
        "self.__rtcp_started.set()",
        "self.__rtcp_exited.set()",
        "self.__lsr = ((self.__ntp_timestamp) >> 16) & 0xFFFFFFFF",
        "self.__lsr_time = time.time()",
        "rtp_timestamp=self.__rtp_timestamp",
        "packet_count=self.__packet_count & 0xFFFFFFFF",
        "octet_count=self.__octet_count & 0xFFFFFFFF",
        'items=[(1, self.__cname.encode("utf8"))]',
        "RtcpByePacket(sources=[self._ssrc])",
    ):
        if needle not in run_rtcp_src:  # report_every does what _run_rtcp does, with another interval
            report.append(f"RTCRtpSender._run_rtcp no longer does {needle!r}")
    starts_rtcp = "self.__rtcp_task = asyncio.ensure_future(self._run_rtcp())"
    if starts_rtcp not in inspect.getsource(RTCRtpSender.send):
        report.append("RTCRtpSender.send no longer starts self._run_rtcp() (report_every shadows it)")
    consent: list[str] = []
    consent_src = inspect.getsource(_original_query_consent)
    for needle in (
        "self.remote_password",
        "self._nominated.values()",
        "self.build_request(pair, nominate=False)",
        "pair.protocol.request(",
        "retransmissions=0",
        "except stun.TransactionError",
        "self._query_consent_task = None",
        "await self.close()",
        "CONSENT_INTERVAL",
        "CONSENT_FAILURES",
    ):
        if needle not in consent_src:  # _query_consent_with_window does what it does, with a window
            consent.append(f"aioice Connection.query_consent no longer does {needle!r}")
    if "self.query_consent()" not in inspect.getsource(aioice.ice.Connection):
        consent.append("aioice Connection no longer starts query_consent()")
    return {
        "direct_send": direct,
        "c_sender": c_sender,
        "fast_path": fast_path,
        "report_interval": report,
        "consent_window": consent,
    }


def _check_fast_path(problems: list[str], has_params: Callable[[object, str, list[str]], None]) -> None:
    """The internals RtpFastPath and srtp_unprotector rely on (the `fast_path` acceleration)."""
    from aiortc.rtp import is_rtcp

    stun_protocol = aioice.ice.StunProtocol
    has_params(RTCDtlsTransport, "_handle_rtp_data", ["self", "data", "arrival_time_ms"])
    has_params(stun_protocol, "datagram_received", ["self", "data", "addr"])
    if not stun_protocol.__dictoffset__:
        problems.append(
            "aioice StunProtocol instances have no __dict__: datagram_received cannot be shadowed"
        )
    needle = "self.receiver.data_received(data, self.local_candidate.component)"
    if needle not in _source(stun_protocol, "datagram_received"):
        problems.append(
            "aioice StunProtocol.datagram_received no longer hands non-STUN data to its Connection"
        )
    connection_init = _source(aioice.ice.Connection, "__init__")
    for attr in ("self._protocols", "self._queue"):
        if attr not in connection_init:
            problems.append(f"aioice Connection no longer sets {attr}")
    if "self._queue.put_nowait((data, component))" not in _source(aioice.ice.Connection, "data_received"):
        problems.append("aioice Connection.data_received no longer queues datagrams on _queue")
    if "self._recv = self._connection.recv" not in _source(RTCIceTransport, "__init__"):
        problems.append("RTCIceTransport no longer receives from its aioice connection (_connection)")
    dtls_init = _source(RTCDtlsTransport, "__init__")
    for attr in ("self._rx_srtp", "self.__rx_bytes", "self.__rx_packets", "self._state"):
        if attr not in dtls_init:
            problems.append(f"RTCDtlsTransport no longer sets {attr}")
    recv_src = _source(RTCDtlsTransport, "_recv_next")
    needles = (
        "self.__rx_bytes += len(data)",
        "self.__rx_packets += 1",
        "first_byte > 127 and first_byte < 192 and self._rx_srtp",
        "if is_rtcp(data):",
        "data = self._rx_srtp.unprotect(data)",
        "await self._handle_rtp_data(data, arrival_time_ms=arrival_time_ms)",
        "except pylibsrtp.Error",
    )
    for needle in needles:
        if needle not in recv_src:
            problems.append(f"RTCDtlsTransport._recv_next no longer does {needle!r}")
    if [second for second in (191, 192, 208, 209) if is_rtcp(bytes((0x80, second)))] != [192, 208]:
        problems.append("aiortc's is_rtcp() no longer means a second byte of 192..208")
    if not hasattr(_srtp_lib, "srtp_unprotect"):
        problems.append("pylibsrtp._binding.lib.srtp_unprotect is missing")
    if "lib.srtp_unprotect)" not in _source(pylibsrtp.Session, "unprotect"):
        problems.append("pylibsrtp Session.unprotect no longer calls srtp_unprotect on its buffer")


def _installed_version(dist: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(dist)
    except PackageNotFoundError:
        return "(none)"


def _source(owner: object, name: str) -> str:
    """The source of owner.name, or "" when it is missing (reported by the check that needs it)."""
    member = getattr(owner, name, None)
    if member is None:
        return ""
    try:
        return inspect.getsource(member)
    except (OSError, TypeError):
        return ""


self_check()


# ---- Opus in-band FEC: our own client sends the redundancy a browser does --------------------------------

OPUS_FEC_PACKET_LOSS_PERCENT = 10  # links lose a few % (5 % measured); libopus adds LBRR only when > 0
_OPUS_FEC_MARK = "_giaoban_opus_fec"


def _opus_codecs() -> list[RTCRtpCodecParameters]:
    import aiortc.codecs

    return [c for c in aiortc.codecs.CODECS.get("audio", []) if c.mimeType.lower() == "audio/opus"]


def advertise_opus_fec() -> None:
    """Say ``useinbandfec=1`` in every Opus fmtp this process offers or answers (RFC 7587: absent means 0).

    aiortc's Opus codec has no fmtp parameters; its ``aiortc.codecs.CODECS`` entry is the dict that
    ``getCapabilities`` and every offer/answer copy, so one entry changes them all. A browser publishing to a
    peer that says it decodes FEC turns its encoder's FEC on (Chromium reads the remote fmtp).
    """
    for codec in _opus_codecs():
        codec.parameters["useinbandfec"] = 1


def enable_opus_encoder_fec(packet_loss_percent: int = OPUS_FEC_PACKET_LOSS_PERCENT) -> None:
    """Turn libopus' in-band FEC on in aiortc's Opus encoder (``aiortc.codecs.opus.OpusEncoder``, PyAV's
    libopus with ``application=voip``, FEC off and 0 % expected loss): its ``__init__`` is wrapped to add the
    encoder options ``fec=1`` and ``packet_loss`` (FFmpeg's libopusenc). Process-wide, idempotent."""
    from aiortc.codecs import opus

    init = opus.OpusEncoder.__init__
    if getattr(init, _OPUS_FEC_MARK, None) == packet_loss_percent:
        return
    original = getattr(init, "__wrapped__", init)

    def __init__(self: opus.OpusEncoder) -> None:
        original(self)
        self.codec.options = {**dict(self.codec.options), "fec": "1", "packet_loss": str(packet_loss_percent)}

    __init__.__wrapped__ = original  # type: ignore[attr-defined]
    setattr(__init__, _OPUS_FEC_MARK, packet_loss_percent)
    opus.OpusEncoder.__init__ = __init__  # type: ignore[method-assign]


def check_opus_fec() -> None:
    """Raise HookError if aiortc's Opus codec entry or encoder no longer has the shape the FEC hooks use."""
    from aiortc.codecs import opus

    problems: list[str] = []
    codecs = _opus_codecs()
    if len(codecs) != 1 or not isinstance(codecs[0].parameters, dict):
        problems.append("aiortc.codecs.CODECS['audio'] no longer holds one Opus entry with a parameters dict")
    original = getattr(opus.OpusEncoder.__init__, "__wrapped__", opus.OpusEncoder.__init__)
    try:
        init_src = inspect.getsource(original)
    except (OSError, TypeError):
        init_src = ""
    for needle in ('self.codec = CodecContext.create("libopus", "w")', "self.codec.options = {"):
        if needle not in init_src:
            problems.append(f"aiortc OpusEncoder.__init__ no longer does {needle!r}")
    if problems:
        raise HookError("aiortc internals changed: " + "; ".join(problems))


check_opus_fec()
advertise_opus_fec()


# ---- RED (RFC 2198) for audio: offered by the server's peer connections only ------------------------------

RED_PAYLOAD_TYPE = 63  # Chromium's own number for red/48000/2; outside the video codecs' 97..102 (BUNDLE)
RED_MIME_TYPE = "audio/red"
_red_offered: contextvars.ContextVar[bool] = contextvars.ContextVar("giaoban_red_offered", default=False)


def red_codec() -> RTCRtpCodecParameters:
    """``red/48000/2`` whose fmtp names Opus as primary and redundant format (``96/96``: aiortc's Opus PT)."""
    opus_pt = _opus_codecs()[0].payloadType
    return RTCRtpCodecParameters(
        mimeType=RED_MIME_TYPE,
        clockRate=48000,
        channels=2,
        payloadType=RED_PAYLOAD_TYPE,
        parameters={f"{opus_pt}/{opus_pt}": None},
    )


class _CodecTable(dict[str, list[RTCRtpCodecParameters]]):
    """aiortc's codec table as `aiortc.rtcpeerconnection` reads it (``CODECS[kind]`` in createOffer and in
    setRemoteDescription's negotiation), with RED added to the audio codecs inside `offering_red()` only.

    aiortc cannot encode or decode RED; the server only forwards and records it. A process-wide entry would
    make aiortc peers in the same process (the bot, tests' clients) accept RED as answerers and then fail to
    decode it, so the entry exists only while the server's own peer connection negotiates.
    """

    def __getitem__(self, kind: str) -> list[RTCRtpCodecParameters]:
        codecs = super().__getitem__(kind)
        if kind == "audio" and _red_offered.get():
            return [red_codec(), *codecs]
        return codecs


@contextlib.contextmanager
def offering_red() -> Iterator[None]:
    """Inside: this task's createOffer / setRemoteDescription know ``red/48000/2`` (see `_CodecTable`)."""
    token = _red_offered.set(True)
    try:
        yield
    finally:
        _red_offered.reset(token)


def install_red_codec() -> None:
    """Put `_CodecTable` in place of the codec table aiortc's peer connection module reads (idempotent)."""
    import aiortc.codecs
    import aiortc.rtcpeerconnection

    table = aiortc.rtcpeerconnection.CODECS
    if not isinstance(table, _CodecTable):
        # the same lists as aiortc.codecs.CODECS (advertise_opus_fec's fmtp change is seen through them)
        aiortc.rtcpeerconnection.CODECS = _CodecTable(aiortc.codecs.CODECS)  # type: ignore[attr-defined]


def prefer_red_opus(transceiver: RTCRtpTransceiver) -> None:
    """Offer ``red/48000/2`` first, then Opus, on this audio transceiver (aiortc's `setCodecPreferences`
    refuses codecs outside `getCapabilities`, which has no RED: the preference list is set directly)."""
    install_red_codec()
    red = red_codec()
    opus = _opus_codecs()[0]
    transceiver._preferred_codecs = [  # type: ignore[attr-defined]
        RTCRtpCodecCapability(
            mimeType=c.mimeType, clockRate=c.clockRate, channels=c.channels, parameters=c.parameters
        )
        for c in (red, opus)
    ]


def reception_statistics(receiver: RTCRtpReceiver) -> dict[int, Any]:
    """SSRC -> statistics that aiortc's receiver RTCP loop (`_run_rtcp`) turns into the report blocks of its
    Receiver Reports (it reads `fraction_lost`, `packets_lost`, `max_seq`, `jitter`; LSR/DLSR are its own).

    `intercept_rtp` replaces `_handle_rtp_packet`, which is where aiortc fills this dict: without feeding it
    the server sends no RR for a published stream at all. The receiver's own dict (callers add entries).
    """
    streams: dict[int, Any] = receiver._RTCRtpReceiver__remote_streams  # type: ignore[attr-defined]
    return streams


def check_red_and_reports() -> None:
    """Raise HookError if the internals the RED and receiver-report hooks use changed shape."""
    import aiortc.rtcpeerconnection

    problems: list[str] = []
    if "CODECS[transceiver.kind][:]" not in _source(RTCPeerConnection, "createOffer"):
        problems.append("RTCPeerConnection.createOffer no longer reads CODECS[transceiver.kind]")
    if "find_common_codecs(CODECS[media.kind]" not in _source(RTCPeerConnection, "setRemoteDescription"):
        problems.append("RTCPeerConnection.setRemoteDescription no longer negotiates from CODECS[media.kind]")
    if not isinstance(getattr(aiortc.rtcpeerconnection, "CODECS", None), dict):
        problems.append("aiortc.rtcpeerconnection.CODECS is missing")
    if "self._preferred_codecs" not in _source(RTCRtpTransceiver, "__init__"):
        problems.append("RTCRtpTransceiver no longer sets _preferred_codecs")
    if "self.__remote_streams" not in _source(RTCRtpReceiver, "__init__"):
        problems.append("RTCRtpReceiver no longer sets __remote_streams")
    run_rtcp = _source(RTCRtpReceiver, "_run_rtcp")
    for needle in (
        "for ssrc, stream in self.__remote_streams.items()",
        "fraction_lost=stream.fraction_lost",
        "packets_lost=stream.packets_lost",
        "highest_sequence=stream.max_seq",
        "jitter=stream.jitter",
    ):
        if needle not in run_rtcp:
            problems.append(f"RTCRtpReceiver._run_rtcp no longer does {needle!r}")
    if problems:
        raise HookError("aiortc internals changed: " + "; ".join(problems))


check_red_and_reports()
