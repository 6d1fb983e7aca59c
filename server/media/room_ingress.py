"""The receive path of a `MediaRoom` (room.py, layers in room_core.py), as server/media/__init__.py tells.

aiortc's way (`_on_rtp`) and the fast path (`_on_rtp_bytes`) meet in `_on_packet`: RTX unwrap, NACKs,
reception statistics, the recording tap and speaker levels (`_tap`), audio selection with its pre-roll
(`_select_audio`), key frames, forwarding to every viewer's `StreamForwarder` (a thumbnail also to the camera
m-lines that take it as their low layer, `PublishedStream.layered`).
"""

from __future__ import annotations

import time
from functools import partial

from aiortc import RTCRtpReceiver
from aiortc.rtp import RtpPacket

from server.media import aiortc_hooks as hooks
from server.media.forwarding import ABS_SEND_TIME_URI, AUDIO_LEVEL_URI
from server.media.incoming import RTX_OSN_BYTES, IncomingPacket, ReceptionStats
from server.media.nack import NackTracker
from server.media.participants import Participant, PublishedStream
from server.media.room_core import AUDIO_CLOCK_RATE_HZ, VIDEO_CLOCK_RATE_HZ, logger
from server.media.room_slots import RoomSlots
from server.media.sdp import declared_ssrcs
from server.media.speakers import loudness_from_extension, loudness_from_opus_size
from server.media.vp8 import is_keyframe_start


class RoomIngress(RoomSlots):
    """Publisher packets in, forwarded packets out."""

    def _bind_receiver(self, stream: PublishedStream, receiver: RTCRtpReceiver) -> None:
        """aiortc's way in: every packet of this receiver that the fast path does not take (all when off)."""

        async def on_rtp(packet: RtpPacket, arrival_ms: int) -> None:
            try:
                self._on_rtp(stream, receiver, packet)
            except Exception:
                logger.exception("room %s: forwarding %s/%s failed", self.room_id, *stream.key)

        hooks.intercept_rtp(receiver, on_rtp)

    def _on_rtp(self, stream: PublishedStream, receiver: RTCRtpReceiver, packet: RtpPacket) -> None:
        """A publisher packet parsed by aiortc; its SSRC is then routed to the fast path."""
        if stream.declared_ssrcs and packet.ssrc not in stream.declared_ssrcs:
            publisher = self._participants.get(stream.participant_id)
            if (
                publisher is None
                or publisher.offer_pending
                or self._declared_elsewhere(publisher, stream, packet)
            ):
                # a new m-line's, sent before the answer that declares it: aiortc routed it here by payload
                # type alone, possibly before that answer was applied but handled after it
                stream.foreign_packets += 1
                return
        incoming = IncomingPacket.from_rtp(packet, False, time.time())
        if self._on_packet(stream, receiver, incoming) and self.config.rtp_fast_path:
            self._route_fast(stream, receiver, packet.ssrc)

    @staticmethod
    def _declared_elsewhere(publisher: Participant, stream: PublishedStream, packet: RtpPacket) -> bool:
        """Whether the publisher's answer declares this packet's SSRC on another m-line than `stream`'s:
        forwarding it as `stream` would hand another track's packets (a screen's) to this one's viewers and
        route that SSRC's fast path here for good."""
        mid = publisher.ssrc_mids.get(packet.ssrc)
        return mid is not None and stream.transceiver is not None and mid != stream.transceiver.mid

    def _on_rtp_bytes(
        self,
        fast_path: hooks.RtpFastPath,
        stream: PublishedStream,
        receiver: RTCRtpReceiver,
        abs_send_time_id: int,
        audio_level_id: int,
        data: bytes,
    ) -> None:
        """A publisher packet from the fast path: plaintext RTP of an SSRC that `_route_fast` routed."""
        try:
            packet = IncomingPacket.parse(data, abs_send_time_id, audio_level_id, time.time())
        except ValueError as exc:
            logger.debug("room %s: RTP of %s/%s unreadable: %s", self.room_id, *stream.key, exc)
            return
        ssrc = packet.ssrc
        try:
            if not self._on_packet(stream, receiver, packet):
                fast_path.unroute(ssrc)  # the stream was replaced: aiortc's way finds the current one
        except Exception:
            logger.exception("room %s: forwarding %s/%s failed", self.room_id, *stream.key)

    def _route_fast(self, stream: PublishedStream, receiver: RTCRtpReceiver, ssrc: int) -> None:
        """Send this SSRC (and, for video, the negotiated RTX SSRCs) of `stream` down the fast path."""
        participant = self._participants.get(stream.participant_id)
        fast_path = participant.fast_paths.get(receiver.transport) if participant is not None else None
        if fast_path is None or ssrc in fast_path.routes or stream.transceiver is None:
            return
        ids = {ext.uri: ext.id for ext in hooks.negotiated_header_extensions(stream.transceiver)}
        handler = partial(
            self._on_rtp_bytes,
            fast_path,
            stream,
            receiver,
            ids.get(ABS_SEND_TIME_URI, 0),
            ids.get(AUDIO_LEVEL_URI, 0),
        )
        ssrcs = [ssrc, *hooks.rtx_ssrcs(receiver)] if stream.kind == "video" else [ssrc]
        for routed in ssrcs:
            if routed not in fast_path.routes:
                fast_path.route(routed, handler)
                stream.fast_routes.append((fast_path, routed))

    def _declare_ssrcs(self, participant: Participant, answer_sdp: str) -> None:
        """Record the SSRCs the answer declares per published m-line; drop fast routes it no longer does."""
        declared = declared_ssrcs(answer_sdp)
        participant.ssrc_mids = {ssrc: mid for mid, ssrcs in declared.items() for ssrc in ssrcs}
        for source, transceiver in participant.recv.items():
            stream = self._streams.get((participant.participant_id, source))
            if stream is None or stream.transceiver is not transceiver:
                continue
            stream.declared_ssrcs = declared.get(transceiver.mid or "", frozenset())
            if not stream.declared_ssrcs:
                continue
            for route in [r for r in stream.fast_routes if r[1] not in stream.declared_ssrcs]:
                route[0].unroute(route[1])
                stream.fast_routes.remove(route)

    def _attach_fast_paths(self, participant: Participant) -> None:
        if not self.config.rtp_fast_path:
            return
        for transceiver in participant.recv.values():
            transport = transceiver.receiver.transport
            fast_path = participant.fast_paths.get(transport)
            if fast_path is None:
                fast_path = participant.fast_paths[transport] = hooks.RtpFastPath(transport)
            fast_path.attach()

    def _on_packet(self, stream: PublishedStream, receiver: RTCRtpReceiver, packet: IncomingPacket) -> bool:
        """Count, unwrap RTX, track losses (NACK), tap audio, forward to every viewer, ask for keyframes.

        Synchronous for both ways in; RTCP feedback is sent by a task. False when `stream` is no longer the
        room's stream for its key (the packet is dropped).
        """
        if self._streams.get(stream.key) is not stream:
            return False
        self._packets_in += 1
        stream.packets += 1
        rtx = hooks.rtx_ssrcs(receiver)
        if packet.ssrc in rtx:
            codec = hooks.receiver_codecs(receiver).get(packet.payload_type)
            apt = codec.parameters.get("apt") if codec is not None else None
            if not isinstance(apt, int) or len(packet.payload) < RTX_OSN_BYTES:
                return True
            packet.unwrap_rtx(rtx[packet.ssrc], apt)
            if packet.ssrc == stream.media_ssrc:
                stream.nack.add(packet.seq)  # a repaired packet is no longer missing (as aiortc's receiver)
                stream.lost_upstream = len(stream.nack.missing)
        elif stream.kind == "video":
            if stream.media_ssrc != packet.ssrc:
                stream.media_ssrc = packet.ssrc
                stream.nack = NackTracker()
                for rtx_ssrc in rtx:
                    hooks.route_ssrc(receiver, rtx_ssrc)
            if stream.nack.add(packet.seq):
                stream.lost_upstream = len(stream.nack.missing)
                self._spawn(hooks.send_nack(receiver, packet.ssrc, sorted(stream.nack.missing)), "NACK")
        else:
            stream.media_ssrc = packet.ssrc
        if packet.ssrc not in rtx:
            self._count_reception(receiver, stream, packet)

        if stream.kind == "audio":
            codec = hooks.receiver_codec(receiver, packet.payload_type)
            packet.red = codec is not None and codec.mimeType.lower() == hooks.RED_MIME_TYPE
            pid = stream.participant_id
            now = time.monotonic()
            loudness = self._tap(pid, packet, now)  # recorded whether forwarded or not
            participant = self._participants.get(pid)
            if participant is None or not participant.audio_forwarding:
                return True
            changed = self._audio.observe(pid, loudness, now)
            if changed:
                self._select_audio(now, pid, packet)
            elif pid not in self._audible:
                if stream.preroll is not None:
                    stream.preroll.push(packet, now)
            else:
                for forwarder in list(stream.forwarders.values()):
                    forwarder.forward(packet)
            return True

        packet.keyframe = is_keyframe_start(packet.payload)
        try:
            self.listener.on_video_packet(
                stream.participant_id,
                stream.source,
                packet.payload,
                packet.ts,
                packet.seq,
                bool(packet.marker),
                packet.ssrc,
            )
        except Exception:
            logger.exception("room %s: video tap failed for %s/%s", self.room_id, *stream.key)
        stream.last_packet_s = packet.wallclock_s
        waiting = False
        for forwarder in list(stream.forwarders.values()):
            if forwarder.enabled and forwarder.ready:
                forwarder.forward(packet)
                if forwarder.keyframe_layer == 0:
                    waiting = True
        if stream.layered or stream.low_asked_s is not None:
            stream.low_asked_s = None  # a thumbnail asked for as a low layer: it sends
            # a thumbnail, to the camera m-lines of viewers that take it as its publisher's low layer
            for viewer_id, forwarder in list(stream.layered.items()):
                if forwarder.layer == 0 and forwarder.target_layer == 0:
                    del stream.layered[viewer_id]  # back on the camera
                elif forwarder.enabled and forwarder.ready:
                    forwarder.forward(packet, 1)
                    if forwarder.keyframe_layer == 1:
                        waiting = True
        if waiting:
            target = self._keyframe_target(stream, receiver)
            if target is not None:
                self._spawn(hooks.send_pli(*target), "PLI")
        return True

    def _count_reception(
        self, receiver: RTCRtpReceiver, stream: PublishedStream, packet: IncomingPacket
    ) -> None:
        """RFC 3550 reception statistics of the publisher's media SSRC, which aiortc's receiver reports in its
        RTCP RRs (loss and jitter: Chromium sizes its Opus FEC and bitrate from them)."""
        reports = hooks.reception_statistics(receiver)
        stats = reports.get(packet.ssrc)
        if not isinstance(stats, ReceptionStats):
            clock = AUDIO_CLOCK_RATE_HZ if stream.kind == "audio" else VIDEO_CLOCK_RATE_HZ
            stats = reports[packet.ssrc] = ReceptionStats(clock)
        stats.add(packet.seq, packet.ts, packet.wallclock_s)

    def _select_audio(
        self, now_s: float, sender: str | None = None, packet: IncomingPacket | None = None
    ) -> None:
        """Recompute whose microphone is forwarded (server/media/audio_selection.py). A publisher that becomes
        audible gets its pre-roll sent first; each viewer's stream of it continues its sequence numbers
        (no gap: nothing is lost) with timestamps advanced by the real time since its last packet
        (StreamForwarder.restart). `packet`: the one `sender` just sent, forwarded or kept accordingly."""
        publishers = [
            pid
            for (pid, source) in self._streams
            if source == "microphone"
            and (p := self._participants.get(pid)) is not None
            and p.audio_forwarding
        ]
        audible = self._audio.select(publishers, self._pinned, now_s)
        previous = self._audible
        self._audible = audible
        if audible != previous and self._bounded():
            forwardable = self._forwardable()
            for viewer in self._participants.values():
                self._rebalance(viewer, forwardable)
        if sender is not None and packet is not None and sender not in audible:
            stream = self._streams.get((sender, "microphone"))
            if stream is not None and stream.preroll is not None:
                stream.preroll.push(packet, now_s)  # sent first if it becomes audible in a moment
        for pid in previous - audible:
            stream = self._streams.get((pid, "microphone"))
            if stream is not None:
                for forwarder in stream.forwarders.values():
                    forwarder.enabled = False
        for pid in audible:
            stream = self._streams.get((pid, "microphone"))
            if stream is None:
                continue
            backlog: list[IncomingPacket] = []
            if pid not in previous:
                for forwarder in stream.forwarders.values():
                    forwarder.enabled = True
                    forwarder.restart()
                if stream.preroll is not None:
                    backlog = stream.preroll.drain(now_s)
            if pid == sender and packet is not None:
                backlog.append(packet)
            for queued in backlog:
                for forwarder in list(stream.forwarders.values()):
                    forwarder.forward(queued)
        if audible != previous:
            logger.debug("room %s: audible %s", self.room_id, sorted(audible))

    def _tap(self, participant_id: str, packet: IncomingPacket, now: float) -> int:
        """Hand the packet to the recorder and the speaker tracker; its loudness (0 silent .. 127 loudest)."""
        level = packet.audio_level
        if level is not None:
            loudness = loudness_from_extension(level[0] & 0x7F)
        else:  # without the audio-level extension: the size of the Opus frame (a RED packet's primary)
            frame = packet.primary() if packet.red else packet.payload
            loudness = loudness_from_opus_size(len(frame) if frame is not None else 0)
        self._speakers.update(participant_id, loudness, now)
        try:
            self.listener.on_audio_packet(
                participant_id, packet.payload, packet.ts, packet.seq, packet.red, now
            )
        except Exception:
            logger.exception("room %s: audio tap failed for %s", self.room_id, participant_id)
        return loudness
