"""The start-up check (`self_check`, run when the package is imported): the internals every required hook
relies on (HookError when one changed) and those of each acceleration (switched off with a warning)."""

from __future__ import annotations

import asyncio
import asyncio.selector_events
import inspect
from collections.abc import Callable

import aioice.ice
import aioice.turn
import pylibsrtp
from aiortc import RTCRtpReceiver, RTCRtpSender, RTCRtpTransceiver
from aiortc.rtcdtlstransport import RTCDtlsTransport
from aiortc.rtcicetransport import RTCIceTransport
from aiortc.rtp import RtcpSrPacket
from pylibsrtp._binding import ffi as _srtp_ffi
from pylibsrtp._binding import lib as _srtp_lib

from server.media.aiortc_hooks import registry
from server.media.aiortc_hooks.consent import _original_query_consent
from server.media.aiortc_hooks.direct_send import _SelectorDatagramTransport
from server.media.aiortc_hooks.ice import udp_drain_problems
from server.media.aiortc_hooks.registry import EXPECTED_VERSIONS, HookError, logger


def _srtp_protect_type() -> str:
    """The C type of pylibsrtp's srtp_protect, as cffi spells it ("" when it cannot tell)."""
    try:
        return str(_srtp_ffi.getctype(_srtp_ffi.typeof(_srtp_ffi.addressof(_srtp_lib, "srtp_protect"))))
    except (AttributeError, TypeError, _srtp_ffi.error):
        return ""


def self_check() -> None:
    """Raise HookError if an internal the SFU requires is missing or has changed shape; switch off (with a
    warning) each acceleration whose internals changed (`accelerated`, `disabled_accelerations`)."""
    required = _required_problems()
    if required:
        raise HookError("aiortc internals changed: " + "; ".join(required))
    registry._disabled.clear()
    for name, problems in _acceleration_problems().items():
        if problems:
            registry._disabled[name] = problems
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
        "udp_drain": udp_drain_problems(),
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
