"""Every use of aiortc/aioice private internals, in one package (aiortc==1.16.0, aioice==0.13.0,
pylibsrtp==1.0.0: pinned exactly in pyproject.toml).

aiortc has no public way to hand out undecoded RTP, to send RTP on a transceiver's transport, or to answer
RTCP feedback for a sender that has no track. The SFU needs all three, plus control over the ICE host
addresses (aioice never offers 127.0.0.1) and the UDP receive buffer size; and, because it writes forwarded
RTP straight to the SRTP session and the ICE socket (`rtp_output`), it fills in the Sender Reports that the
track-less aiortc sender would otherwise send with zero counts (`intercept_sender_reports`). On the receive
side, `RtpFastPath` takes known publisher RTP off the ICE socket and unprotects it synchronously, past
aioice's queue and aiortc's receive coroutines. Each hook names the private attribute it relies on;
`self_check()` verifies that all of them exist with the expected shape and is run when this package is
imported (with the Opus FEC and RED checks), so an aiortc upgrade that breaks one fails loudly instead of
silently forwarding nothing.

One concept per module; every name is re-exported here (`from server.media.aiortc_hooks import X`):

- registry: pinned versions, `HookError`, `ACCELERATIONS` and which are switched off (`accelerated`)
- checks: `self_check()`, the internals each hook and acceleration relies on
- ice: ICE host addresses, UDP receive buffers, ICE sockets drained each turn of the loop
- consent: ICE consent freshness with an answer window (`consent_window`)
- receivers: raw RTP out of a receiver, SSRC routing, RTCP feedback (PLI, NACK, REMB, FIR), decoder control
- senders: parked tracks, RTCP feedback to a sender intercepted, SSRCs, `send_rtp`
- reports: RTCP Sender Reports filled and paced (`report_interval`), receiver statistics for the RRs
- srtp: pylibsrtp protect/unprotect without the per-call wrapper
- direct_send: `rtp_output` (`direct_send`) and arming the C sender (`c_sender`)
- fast_path: `RtpFastPath`, the synchronous receive path (`fast_path`)
- sdp_codecs: negotiated codecs and header extensions, Opus in-band FEC, RED

A test that replaces a name with monkeypatch must patch it in the module that uses it (e.g.
`checks._installed_version`, `registry._disabled`, `direct_send.send_rtp`): the names here are copies.
"""

from __future__ import annotations

from server.media.aiortc_hooks.checks import self_check
from server.media.aiortc_hooks.consent import (
    CONSENT_ANSWER_WINDOW_S,
    CONSENT_RETRANSMISSIONS,
    consent_window_installed,
    install_consent_window,
)
from server.media.aiortc_hooks.consent import _original_query_consent as _original_query_consent
from server.media.aiortc_hooks.direct_send import (
    ICE_RTP_COMPONENT,
    DtlsState,
    RtpOutput,
    arm_rtp_sender,
    rtp_output,
)
from server.media.aiortc_hooks.fast_path import (
    RTP_HEADER_BYTES,
    SSRC_OFFSET_BYTES,
    DatagramHandler,
    FastRtpHandler,
    RtpFastPath,
)
from server.media.aiortc_hooks.ice import (
    DEFAULT_UDP_RCVBUF_BYTES,
    effective_udp_rcvbuf_bytes,
    install_ice_host_addresses,
    install_udp_drain,
    install_udp_rcvbuf,
    udp_drain_installed,
    udp_drain_problems,
)
from server.media.aiortc_hooks.receivers import (
    FIR_ENTRY_BYTES,
    RtpHandler,
    decoder_error_flag,
    intercept_rtp,
    receiver_codec,
    receiver_codecs,
    route_fir_by_target,
    route_ssrc,
    rtx_ssrcs,
    send_nack,
    send_pli,
    send_pli_as,
    send_remb,
    stop_decoder,
)
from server.media.aiortc_hooks.registry import (
    ACCELERATIONS,
    EXPECTED_AIORTC_VERSION,
    EXPECTED_VERSIONS,
    HookError,
    accelerated,
    disabled_accelerations,
)
from server.media.aiortc_hooks.reports import (
    SenderInfoSource,
    intercept_sender_reports,
    reception_statistics,
    report_every,
)
from server.media.aiortc_hooks.sdp_codecs import (
    OPUS_FEC_PACKET_LOSS_PERCENT,
    RED_MIME_TYPE,
    RED_PAYLOAD_TYPE,
    advertise_opus_fec,
    check_opus_fec,
    check_red_and_reports,
    enable_opus_encoder_fec,
    header_extensions_map,
    install_red_codec,
    negotiated_codecs,
    negotiated_header_extensions,
    offering_red,
    prefer_red_opus,
    red_codec,
)
from server.media.aiortc_hooks.senders import (
    IdleTrack,
    RtcpHandler,
    intercept_rtcp,
    send_rtp,
    sender_rtx_ssrc,
    sender_ssrc,
)
from server.media.aiortc_hooks.srtp import _SRTP_PROTECT_ADDRESS as _SRTP_PROTECT_ADDRESS
from server.media.aiortc_hooks.srtp import _srtp_ffi as _srtp_ffi
from server.media.aiortc_hooks.srtp import srtp_protector, srtp_unprotector

__all__ = [
    "ACCELERATIONS",
    "CONSENT_ANSWER_WINDOW_S",
    "CONSENT_RETRANSMISSIONS",
    "DEFAULT_UDP_RCVBUF_BYTES",
    "DatagramHandler",
    "DtlsState",
    "EXPECTED_AIORTC_VERSION",
    "EXPECTED_VERSIONS",
    "FIR_ENTRY_BYTES",
    "FastRtpHandler",
    "HookError",
    "ICE_RTP_COMPONENT",
    "IdleTrack",
    "OPUS_FEC_PACKET_LOSS_PERCENT",
    "RED_MIME_TYPE",
    "RED_PAYLOAD_TYPE",
    "RTP_HEADER_BYTES",
    "RtcpHandler",
    "RtpFastPath",
    "RtpHandler",
    "RtpOutput",
    "SSRC_OFFSET_BYTES",
    "SenderInfoSource",
    "accelerated",
    "advertise_opus_fec",
    "arm_rtp_sender",
    "check_opus_fec",
    "check_red_and_reports",
    "consent_window_installed",
    "decoder_error_flag",
    "disabled_accelerations",
    "effective_udp_rcvbuf_bytes",
    "enable_opus_encoder_fec",
    "header_extensions_map",
    "install_consent_window",
    "install_ice_host_addresses",
    "install_red_codec",
    "install_udp_drain",
    "install_udp_rcvbuf",
    "udp_drain_installed",
    "udp_drain_problems",
    "intercept_rtcp",
    "intercept_rtp",
    "intercept_sender_reports",
    "negotiated_codecs",
    "negotiated_header_extensions",
    "offering_red",
    "prefer_red_opus",
    "receiver_codec",
    "receiver_codecs",
    "reception_statistics",
    "red_codec",
    "report_every",
    "route_fir_by_target",
    "route_ssrc",
    "rtp_output",
    "rtx_ssrcs",
    "self_check",
    "send_nack",
    "send_pli",
    "send_pli_as",
    "send_remb",
    "send_rtp",
    "sender_rtx_ssrc",
    "sender_ssrc",
    "srtp_protector",
    "srtp_unprotector",
    "stop_decoder",
]

self_check()
check_opus_fec()
advertise_opus_fec()
check_red_and_reports()
