"""RTCP of a `MediaRoom` (room.py, layers in room_core.py): key frame requests (PLI, rate-limited) and REMB to
publishers, sent from the synchronous media path by tasks; viewers' NACKs (retransmission), PLI / FIR, REMB
and receiver reports; each viewer's downlink adaptation (server/media/downlink.py) and each publisher's uplink
estimate (server/media/uplink.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Coroutine
from typing import Any

from aiortc import RTCRtpReceiver, RTCRtpTransceiver
from aiortc.rtp import (
    RTCP_PSFB_APP,
    RTCP_PSFB_FIR,
    RTCP_PSFB_PLI,
    RTCP_RTPFB_NACK,
    AnyRtcpPacket,
    RtcpPsfbPacket,
    RtcpRrPacket,
    RtcpRtpfbPacket,
    RtcpSrPacket,
    unpack_remb_fci,
)

from server.media import aiortc_hooks as hooks
from server.media.incoming import ReceptionStats
from server.media.participants import PublishedStream
from server.media.room_core import RoomCore, logger


class RoomFeedback(RoomCore):
    """RTCP to publishers and from viewers."""

    def _spawn(self, feedback: Coroutine[Any, Any, None], what: str) -> None:
        """Send RTCP feedback from the synchronous media path (the task is kept referenced until done)."""
        task = asyncio.get_running_loop().create_task(self._send_feedback(feedback, what))
        self._feedback.add(task)
        task.add_done_callback(self._feedback.discard)

    async def _send_feedback(self, feedback: Coroutine[Any, Any, None], what: str) -> None:
        try:
            await feedback
        except ConnectionError:
            logger.debug("room %s: %s not sent, transport closed", self.room_id, what)
        except Exception:
            logger.exception("room %s: sending %s failed", self.room_id, what)

    async def _request_keyframe(
        self, stream: PublishedStream, receiver: RTCRtpReceiver | None = None
    ) -> None:
        target = self._keyframe_target(stream, receiver)
        if target is not None:
            await hooks.send_pli(*target)

    def _keyframe_target(
        self, stream: PublishedStream, receiver: RTCRtpReceiver | None = None
    ) -> tuple[RTCRtpReceiver, int] | None:
        """Where to send a PLI for `stream` now (counted as sent); None when rate-limited or nowhere to."""
        now = time.monotonic()
        if stream.media_ssrc is None or now - stream.last_keyframe_request_s < self.config.pli_min_interval_s:
            return None
        if receiver is None:
            if stream.transceiver is None:
                return None
            receiver = stream.transceiver.receiver
        stream.last_keyframe_request_s = now
        stream.keyframes_requested += 1
        return receiver, stream.media_ssrc

    def _rtcp_handler(self, viewer_id: str, transceiver: RTCRtpTransceiver):  # type: ignore[no-untyped-def]
        async def handle(packet: AnyRtcpPacket) -> None:
            viewer = self._participants.get(viewer_id)
            if viewer is None:
                return
            slot = next((s for s in viewer.slots if s.transceiver is transceiver), None)
            if slot is None or slot.stream is None or slot.forwarder is None:
                return
            try:
                if isinstance(packet, RtcpRtpfbPacket) and packet.fmt == RTCP_RTPFB_NACK:
                    slot.forwarder.retransmit(list(packet.lost))
                    self._downlink.nack(viewer_id, packet.media_ssrc, packet.lost, time.monotonic())
                elif isinstance(packet, RtcpPsfbPacket) and packet.fmt in (RTCP_PSFB_PLI, RTCP_PSFB_FIR):
                    stream = self._streams.get(slot.stream)
                    if stream is not None:
                        await self._request_keyframe(stream)
                elif isinstance(packet, RtcpPsfbPacket) and packet.fmt == RTCP_PSFB_APP:
                    with contextlib.suppress(ValueError):  # not a REMB
                        bitrate, ssrcs = unpack_remb_fci(packet.fci)  # the viewer's estimate of its downlink
                        self._downlink.remb(viewer_id, bitrate, ssrcs, time.monotonic())
                elif isinstance(packet, RtcpRrPacket | RtcpSrPacket):
                    ssrc = hooks.sender_ssrc(transceiver.sender)
                    for report in packet.reports:
                        if report.ssrc == ssrc:
                            slot.reports.received(report)  # round trip and loss (server/media/quality.py)
            except Exception:
                logger.exception("room %s: RTCP from %s failed", self.room_id, viewer_id)

        return handle

    def _adapt_downlinks(self, now_s: float) -> bool:
        """One interval of every viewer's link; True when any viewer's video cap changed."""
        changed = False
        for viewer in self._participants.values():
            if self._downlink.tick(viewer.participant_id, viewer.slots, now_s):
                link = self._downlink.link(viewer.participant_id)
                logger.info(
                    "room %s: %s at step %s of %d (loss %s, sent %.0f kb/s, REMB %s)",
                    self.room_id,
                    viewer.participant_id,
                    link.level or 0,
                    len(link.ladder) - 1,
                    "?" if link.loss is None else f"{link.loss:.1%}",
                    (link.sent_bps or 0) / 1000,
                    "-" if link.remb_bps is None else f"{link.remb_bps / 1000:.0f} kb/s",
                )
                changed = True
        return changed

    def _uplink_bps(self, stream: PublishedStream, now_s: float) -> int:
        """The bitrate to ask of this video publisher (REMB): the cap, less when its packets are lost."""
        stats = None
        if stream.transceiver is not None and stream.media_ssrc is not None:
            stats = hooks.reception_statistics(stream.transceiver.receiver).get(stream.media_ssrc)
        if not isinstance(stats, ReceptionStats):
            return self.config.video_bitrate_cap_bps
        return self._uplink.update((stream.key, stream.media_ssrc), stats.expected, stats.received, now_s)
