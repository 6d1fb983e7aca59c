"""Receivers: raw RTP out (no jitter buffer, no decoder), routing by SSRC, RTCP feedback up (PLI, NACK,
REMB, FIR routed by target), and a client's receiver counting RTP without decoding."""

from __future__ import annotations

import threading
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from aiortc import RTCRtpReceiver
from aiortc.rtcdtlstransport import RTCDtlsTransport
from aiortc.rtcrtpparameters import RTCRtpCodecParameters
from aiortc.rtp import (
    RTCP_PSFB_APP,
    RTCP_PSFB_FIR,
    RTCP_PSFB_PLI,
    AnyRtcpPacket,
    RtcpPsfbPacket,
    RtpPacket,
    pack_remb_fci,
)

RtpHandler = Callable[[RtpPacket, int], Awaitable[None]]


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


# --- client-side counting without decoding --------------------------------------------------------------


def decoder_error_flag(receiver: RTCRtpReceiver) -> threading.Event:
    """Set by aiortc's decoder thread when a frame failed to decode (cleared by the next RTP packet)."""
    flag: threading.Event = receiver._RTCRtpReceiver__decoder_error  # type: ignore[attr-defined]
    return flag


def stop_decoder(receiver: RTCRtpReceiver) -> None:
    """Stop the receiver's decoder thread (used when a client counts RTP instead of decoding)."""
    receiver._RTCRtpReceiver__stop_decoder()  # type: ignore[attr-defined]
