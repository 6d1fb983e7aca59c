"""RTCP reports: the SFU's Sender Reports filled from what it forwarded (`intercept_sender_reports`) and sent
at libwebrtc's interval (`report_every`: the `report_interval` acceleration); the receiver statistics that
aiortc's Receiver Reports read (`reception_statistics`, checked with RED's internals by
`sdp_codecs.check_red_and_reports`)."""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable
from typing import Any

from aiortc import RTCRtpReceiver, RTCRtpSender
from aiortc.rtp import (
    AnyRtcpPacket,
    RtcpByePacket,
    RtcpSdesPacket,
    RtcpSenderInfo,
    RtcpSourceInfo,
    RtcpSrPacket,
)

from server.media.aiortc_hooks.registry import accelerated

SenderInfoSource = Callable[[], RtcpSenderInfo | None]


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


def reception_statistics(receiver: RTCRtpReceiver) -> dict[int, Any]:
    """SSRC -> statistics that aiortc's receiver RTCP loop (`_run_rtcp`) turns into the report blocks of its
    Receiver Reports (it reads `fraction_lost`, `packets_lost`, `max_seq`, `jitter`; LSR/DLSR are its own).

    `intercept_rtp` replaces `_handle_rtp_packet`, which is where aiortc fills this dict: without feeding it
    the server sends no RR for a published stream at all. The receiver's own dict (callers add entries).
    """
    streams: dict[int, Any] = receiver._RTCRtpReceiver__remote_streams  # type: ignore[attr-defined]
    return streams
