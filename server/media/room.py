"""MediaRoom: one aiortc RTCPeerConnection per participant and raw RTP forwarding between them.

The server is always the SDP offerer. Each participant's offer has recv-only m-lines for what it publishes
(microphone, camera, optional screen) and send-only m-lines for every other participant's streams; m-lines of
participants who left become inactive and are reused for the next stream of the same kind.

Built in layers (room_core.py lists them): this module is the public API, the offers and the periodic tick.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import time
from collections.abc import Sequence

from aiortc import RTCPeerConnection, RTCSessionDescription
from aiortc.sdp import candidate_from_sdp

from server.media import aiortc_hooks as hooks
from server.media.audio_selection import PreRoll
from server.media.config import MediaConfig
from server.media.errors import MalformedSdpError, OfferPendingError
from server.media.events import (
    ActiveSpeakerChanged,
    AudioLevels,
    ConnectionStateChanged,
    Kind,
    MediaListener,
    Offer,
    RenegotiationNeeded,
    Source,
    StreamEnded,
    StreamLabel,
)
from server.media.participants import Participant, PublishedStream, StreamKey
from server.media.quality import LinkMeter, LinkSample
from server.media.room_core import logger
from server.media.room_ingress import RoomIngress
from server.media.sdp import prefer_codecs, with_opus_dtx
from server.media.stats import ForwardedStreamStats, ParticipantStats, RoomStats

PREROLL_SLACK_S = 0.06  # pre-roll packets may be this much older than the pre-roll (arrival jitter)


class MediaRoom(RoomIngress):
    """The SFU for one meeting. All methods run on the event loop that created the room."""

    def __init__(self, room_id: str, config: MediaConfig, listener: MediaListener | None = None) -> None:
        hooks.install_ice_host_addresses(config.ice_addresses)
        hooks.install_udp_rcvbuf(config.udp_rcvbuf_bytes)
        hooks.install_udp_drain()
        hooks.install_consent_window()
        super().__init__(room_id, config, listener)
        self._task = asyncio.ensure_future(self._periodic())

    async def join(
        self,
        participant_id: str,
        *,
        publishes_video: bool = True,
        audio_only: bool = False,
        username: str | None = None,
        unit: str | None = None,
        publishes_thumbnail: bool = False,
    ) -> Offer:
        """Add a participant (or reconnect one with a fresh PeerConnection) and return its first offer.
        `publishes_thumbnail`: it also publishes a low-resolution copy of its camera (source "thumbnail",
        forwarded only to walls: `set_wall`)."""
        self._assert_open()
        old = self._participants.get(participant_id)
        if old is not None:
            logger.info("room %s: %s reconnects", self.room_id, participant_id)
            await self._close_pc(old)
            participant = Participant(
                participant_id,
                username or old.username,
                unit or old.unit,
                publishes_video,
                audio_only,
                self._new_pc(participant_id),
                audio_forwarding=old.audio_forwarding,
                wall=old.wall,
            )
        else:
            participant = Participant(
                participant_id,
                username or participant_id,
                unit or "",
                publishes_video,
                audio_only,
                self._new_pc(participant_id),
            )
        participant.publishes_thumbnail = publishes_thumbnail and publishes_video
        self._participants[participant_id] = participant
        self._streams.setdefault(
            (participant_id, "microphone"),
            PublishedStream(
                participant_id,
                "audio",
                "microphone",
                preroll=PreRoll(
                    self._audio_selection.preroll_packets, self._audio_selection.preroll_s + PREROLL_SLACK_S
                ),
            ),
        )
        if publishes_video:
            self._streams.setdefault(
                (participant_id, "camera"), PublishedStream(participant_id, "video", "camera")
            )
        else:
            self._drop_stream((participant_id, "camera"))
        if participant.publishes_thumbnail:
            self._streams.setdefault(
                (participant_id, "thumbnail"), PublishedStream(participant_id, "video", "thumbnail")
            )
        else:
            self._drop_stream((participant_id, "thumbnail"))
        self._drop_stream((participant_id, "screen"))
        for stream in self._streams.values():
            stream.forget_viewer(participant_id)
        self._select_audio(time.monotonic())
        self._notify_others(participant_id)
        return await self._offer(participant)

    async def answer(self, participant_id: str, sdp: str) -> None:
        """Apply a participant's SDP answer. Malformed SDP closes that participant's connection only."""
        participant = self._get(participant_id)
        try:
            with hooks.offering_red():
                await participant.pc.setRemoteDescription(RTCSessionDescription(sdp=sdp, type="answer"))
        except Exception as exc:
            logger.warning("room %s: bad answer from %s: %s", self.room_id, participant_id, exc)
            await self._close_pc(participant)
            raise MalformedSdpError(f"SDP answer of {participant_id} rejected: {exc}") from exc
        participant.offer_pending = False
        self._declare_ssrcs(participant, sdp)
        self._attach_fast_paths(participant)
        for transport in {t.sender.transport for t in participant.pc.getTransceivers()}:
            hooks.route_fir_by_target(transport)
        for slot in participant.slots:
            if slot.forwarder is not None:
                was_ready = slot.forwarder.ready
                slot.forwarder.configure()
                if slot.kind == "video" and slot.stream is not None and not was_ready:
                    slot.forwarder.restart()
        self._apply_last_n()
        for slot in participant.slots:
            if (
                slot.kind == "video"
                and slot.stream in self._streams
                and slot.forwarder
                and slot.forwarder.enabled
            ):
                await self._request_keyframe(self._streams[slot.stream])
        if participant.renegotiate_after_answer:
            participant.renegotiate_after_answer = False
            self._emit(RenegotiationNeeded(self.room_id, participant_id))

    async def add_ice_candidate(
        self, participant_id: str, candidate: str, sdp_mid: str | None, sdp_mline_index: int | None
    ) -> None:
        """A trickled ICE candidate from a browser ("candidate:..." line, as in RTCIceCandidate)."""
        participant = self._get(participant_id)
        line = candidate.removeprefix("candidate:")
        if not line:
            return
        try:
            ice = candidate_from_sdp(line)
        except Exception as exc:
            raise MalformedSdpError(f"bad ICE candidate from {participant_id}: {exc}") from exc
        if sdp_mid is None and sdp_mline_index is None:
            raise MalformedSdpError(f"ICE candidate from {participant_id} names no m-line (sdp_mid, index)")
        ice.sdpMid = sdp_mid
        ice.sdpMLineIndex = sdp_mline_index
        try:
            await participant.pc.addIceCandidate(ice)
        except ValueError as exc:
            raise MalformedSdpError(f"bad ICE candidate from {participant_id}: {exc}") from exc

    async def renegotiate(self, participant_id: str) -> Offer:
        """A new offer reflecting the current set of streams (raises OfferPendingError while one is open)."""
        participant = self._get(participant_id)
        if participant.offer_pending:
            participant.renegotiate_after_answer = True
            raise OfferPendingError(f"an offer to {participant_id} is still unanswered")
        return await self._offer(participant)

    async def start_screen_share(self, participant_id: str) -> Offer:
        participant = self._get(participant_id)
        participant.screen_sharing = True
        self._streams.setdefault(
            (participant_id, "screen"), PublishedStream(participant_id, "video", "screen")
        )
        self._notify_others(participant_id)
        return await self.renegotiate(participant_id)

    async def stop_screen_share(self, participant_id: str) -> Offer:
        self._end_screen_share(participant_id)
        return await self.renegotiate(participant_id)

    def withdraw_screen_share(self, participant_id: str) -> None:
        """The chair withdrew the permission: stop forwarding this participant's screen at once, whatever its
        client does, and ask for an offer without it (RenegotiationNeeded for the participant too)."""
        self._end_screen_share(participant_id)
        self._emit(RenegotiationNeeded(self.room_id, participant_id))

    def _end_screen_share(self, participant_id: str) -> None:
        participant = self._get(participant_id)
        participant.screen_sharing = False
        self._drop_stream((participant_id, "screen"))
        self._notify_others(participant_id)

    def set_audio_forwarding(self, participant_id: str, enabled: bool) -> None:
        """Server-side mute: stop (or resume) forwarding this participant's audio to everyone (it is still
        recorded). A muted participant is never selected; unmuted, it is selected like anyone else."""
        participant = self._get(participant_id)
        participant.audio_forwarding = enabled
        stream = self._streams.get((participant_id, "microphone"))
        if stream is not None and stream.preroll is not None:
            stream.preroll.clear()
        self._select_audio(time.monotonic())
        logger.info("room %s: audio of %s forwarding=%s", self.room_id, participant_id, enabled)

    def set_audio_only(self, participant_id: str, on: bool) -> None:
        """Audio-only mode: this participant receives no video at all (its video m-lines go inactive at
        once and are dropped from its next offer, which a RenegotiationNeeded asks for)."""
        participant = self._get(participant_id)
        changed = participant.audio_only != on
        participant.audio_only = on
        self._apply_last_n()
        if changed:
            self._emit(RenegotiationNeeded(self.room_id, participant_id))

    def set_pinned(self, participant_ids: Sequence[str]) -> None:
        """Cameras always among every viewer's last-N videos, ahead of recent speakers, in this order of
        priority (the chair's hall, then the floor holder); replaces the previous list, and applies to
        participants who join later too."""
        if isinstance(participant_ids, str):
            raise TypeError("set_pinned takes a sequence of participant ids, not one id")
        pinned = tuple(participant_ids)
        if pinned != self._pinned:
            self._pinned = pinned
            self._apply_last_n()
            self._select_audio(time.monotonic())

    def set_wall(self, viewer_id: str, publisher_ids: Sequence[str]) -> None:
        """The thumbnails `viewer_id` receives (the page of the chair's wall it shows): only these
        publishers' "thumbnail" streams, replacing the previous set. In a bounded meeting they go at once
        onto its negotiated video m-lines (a page of the same size needs no new m-line); a new offer follows
        (RenegotiationNeeded) to label them."""
        if isinstance(publisher_ids, str):
            raise TypeError("set_wall takes a sequence of participant ids, not one id")
        viewer = self._get(viewer_id)
        wall = tuple(publisher_ids)
        if wall == viewer.wall:
            return
        viewer.wall = wall
        if self._bounded():
            self._rebalance(viewer)
        else:
            self._emit(RenegotiationNeeded(self.room_id, viewer_id))
        self._apply_last_n()

    async def leave(self, participant_id: str) -> None:
        participant = self._participants.pop(participant_id, None)
        if participant is None:
            return
        await self._close_pc(participant)
        for key in [k for k in self._streams if k[0] == participant_id]:
            self._drop_stream(key)
        for stream in self._streams.values():
            stream.forget_viewer(participant_id)
        self._speakers.remove(participant_id)
        self._audio.remove(participant_id)
        self._downlink.forget(participant_id)
        self._select_audio(time.monotonic())
        self._notify_others(participant_id)

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        for participant in list(self._participants.values()):
            await self._close_pc(participant)
        await asyncio.gather(
            *self._feedback, return_exceptions=True
        )  # each ends at once on a closed transport
        self._participants.clear()
        self._streams.clear()

    def participant_ids(self) -> list[str]:
        return list(self._participants)

    def request_keyframe(self, participant_id: str, source: Source) -> None:
        """Ask a publisher for a key frame of its camera or screen (a PLI, within the PLI rate limit): the
        recorder starts a track, or lost frames it could not repair."""
        stream = self._streams.get((participant_id, source))
        if stream is None or stream.kind != "video":
            return
        target = self._keyframe_target(stream)
        if target is not None:
            self._spawn(hooks.send_pli(*target), "PLI")

    def audible(self) -> frozenset[str]:
        """Participants whose microphone every viewer receives now (pinned, then recent speakers)."""
        return self._audible

    async def link_samples(self, meter: LinkMeter) -> list[LinkSample]:
        """Round trip, loss each way and received bitrate of every participant since ``meter``'s last call
        (server/media/quality.py)."""
        participants, streams = list(self._participants.values()), list(self._streams.values())
        samples = await meter.sample(participants, streams, time.monotonic())
        out = []
        for sample in samples:
            link = self._downlink.link(sample.participant_id)
            remb = None if link.remb_bps is None else link.remb_bps / 1000
            out.append(
                dataclasses.replace(
                    sample, videos_paused=link.paused, videos_reduced=link.reduced, remb_kbps=remb
                )
            )
        return out

    def stats(self) -> RoomStats:
        participants = []
        forwarded = []
        for p in self._participants.values():
            streams = [s for s in self._streams.values() if s.participant_id == p.participant_id]
            participants.append(
                ParticipantStats(
                    participant_id=p.participant_id,
                    connection_state=p.connection_state,
                    audio_packets_received=sum(s.packets for s in streams if s.kind == "audio"),
                    video_packets_received=sum(s.packets for s in streams if s.kind == "video"),
                    packets_lost_upstream=sum(s.lost_upstream for s in streams),
                    keyframes_requested=sum(s.keyframes_requested for s in streams),
                    audio_forwarding=p.audio_forwarding,
                    audio_only=p.audio_only,
                    packets_fast_path=sum(f.packets for f in p.fast_paths.values()),
                    packets_refused=sum(f.refused for f in p.fast_paths.values()),
                    packets_foreign=sum(s.foreign_packets for s in streams),
                )
            )
            for slot in p.slots:
                if slot.stream is None or slot.forwarder is None:
                    continue
                f = slot.forwarder
                forwarded.append(
                    ForwardedStreamStats(
                        viewer_id=p.participant_id,
                        publisher_id=slot.stream[0],
                        kind=slot.kind,
                        source=slot.stream[1],
                        mid=slot.transceiver.mid or "",
                        packets_sent=f.packets_sent,
                        bytes_sent=f.bytes_sent,
                        retransmitted=f.retransmitted,
                        forwarding=f.enabled,
                        packets_native=f.packets_native,
                        low_layer=f.low_layer,
                    )
                )
        return RoomStats(
            self.room_id,
            tuple(participants),
            tuple(forwarded),
            self._packets_in,
            sum(f.packets_sent for f in forwarded),
            sum(p.packets_fast_path for p in participants),
            sum(f.packets_native for f in forwarded),
        )

    # --- negotiation --------------------------------------------------------------------------------

    def _new_pc(self, participant_id: str) -> RTCPeerConnection:
        pc = RTCPeerConnection(configuration=self.config.rtc_configuration())

        @pc.on("connectionstatechange")
        def _state() -> None:
            participant = self._participants.get(participant_id)
            if participant is not None and participant.pc is pc:
                participant.connection_state = pc.connectionState
                if pc.connectionState == "connected":
                    self._attach_fast_paths(participant)
                self._emit(ConnectionStateChanged(self.room_id, participant_id, pc.connectionState))

        return pc

    async def _offer(self, participant: Participant) -> Offer:
        pc = participant.pc
        wanted_recv: list[tuple[Source, Kind]] = [("microphone", "audio")]
        if participant.publishes_video:
            wanted_recv.append(("camera", "video"))
        if participant.screen_sharing:
            wanted_recv.append(("screen", "video"))
        if participant.publishes_thumbnail:
            wanted_recv.append(("thumbnail", "video"))
        for source, kind in wanted_recv:
            transceiver = participant.recv.get(source)
            if transceiver is None:
                transceiver = pc.addTransceiver(kind, direction="recvonly")
                prefer_codecs(transceiver, kind)
                participant.recv[source] = transceiver
            transceiver.direction = "recvonly"
            stream = self._streams[(participant.participant_id, source)]
            stream.transceiver = transceiver
            stream.media_ssrc = None
            self._bind_receiver(stream, transceiver.receiver)
        if not participant.screen_sharing and "screen" in participant.recv:
            participant.recv["screen"].direction = "inactive"
        if not participant.publishes_thumbnail and "thumbnail" in participant.recv:
            participant.recv["thumbnail"].direction = "inactive"

        wanted = self._wanted(participant)
        for slot in participant.slots:
            if slot.stream is not None and slot.stream not in wanted:
                self._free(participant, slot)
        assigned = {slot.stream for slot in participant.slots if slot.stream is not None}
        for key in wanted:
            if key in assigned:
                continue
            stream = self._streams[key]
            free = next((s for s in participant.slots if s.stream is None and s.kind == stream.kind), None)
            self._assign(participant, free or self._new_slot(participant, stream.kind), key)
        if self._bounded():
            # spare audio m-lines, negotiated before anyone needs them: a new speaker is put on one at once
            for _ in range(self._missing_audio_slots(participant)):
                self._new_slot(participant, "audio")

        with hooks.offering_red():
            offer = await pc.createOffer()
            if self.config.opus_dtx:
                offer = RTCSessionDescription(sdp=with_opus_dtx(offer.sdp), type="offer")
            await pc.setLocalDescription(offer)
        participant.offer_pending = True
        labels: list[StreamLabel] = []
        for source, transceiver in participant.recv.items():
            if transceiver.direction == "recvonly" and transceiver.mid is not None:
                labels.append(
                    StreamLabel(
                        transceiver.mid,
                        participant.participant_id,
                        participant.username,
                        participant.unit,
                        "audio" if source == "microphone" else "video",
                        source,
                    )
                )
        for slot in participant.slots:
            # an idle audio slot of a bounded meeting keeps the label of the last one it carried while that
            # participant is here: the viewer's player stays attached, so a new speaker put on it is heard
            # at once, and named by the next offer
            shown: StreamKey | None = slot.stream
            if shown is None and slot.kind == "audio" and slot.idle and slot.idle[0] in self._participants:
                shown = slot.idle if self._bounded() else None
            if shown is None or slot.transceiver.mid is None:
                continue
            publisher = self._participants.get(shown[0])
            labels.append(
                StreamLabel(
                    slot.transceiver.mid,
                    shown[0],
                    publisher.username if publisher else shown[0],
                    publisher.unit if publisher else "",
                    slot.kind,
                    shown[1],
                )
            )
        return Offer(participant.participant_id, pc.localDescription.sdp, tuple(labels))

    def _notify_others(self, participant_id: str) -> None:
        """A participant's published streams changed: every other viewer gets a new offer — in a bounded
        meeting only those whose forwarded streams changed (`_rebalance`)."""
        bounded = self._bounded()
        forwardable = self._forwardable() if bounded else None
        for other_id, other in self._participants.items():
            if other_id == participant_id:
                continue
            if forwardable is not None:
                self._rebalance(other, forwardable)
            else:
                self._emit(RenegotiationNeeded(self.room_id, other_id))

    def _drop_stream(self, key: StreamKey) -> None:
        stream = self._streams.pop(key, None)
        if stream is not None:
            if stream.kind == "video":
                self._emit(StreamEnded(self.room_id, *key))
            stream.forwarders.clear()
            stream.layered.clear()
            for fast_path, ssrc in stream.fast_routes:
                fast_path.unroute(ssrc)
            stream.fast_routes.clear()

    async def _close_pc(self, participant: Participant) -> None:
        for slot in participant.slots:
            if slot.stream in self._streams:
                self._streams[slot.stream].forget_viewer(participant.participant_id)
        for fast_path in participant.fast_paths.values():
            fast_path.detach()
        for stream in self._streams.values():
            if stream.participant_id == participant.participant_id:
                stream.fast_routes = [
                    r for r in stream.fast_routes if r[0] not in participant.fast_paths.values()
                ]
        try:
            await participant.pc.close()
        except Exception:
            logger.exception("room %s: closing %s failed", self.room_id, participant.participant_id)

    async def _periodic(self) -> None:
        last_remb = 0.0
        while True:
            await asyncio.sleep(self.config.levels_interval_s)
            try:
                self._select_audio(time.monotonic())  # speakers whose hold ran out while they sent nothing
                if self._speakers.refresh_active():
                    self._emit(ActiveSpeakerChanged(self.room_id, self._speakers.active))
                    self._apply_last_n()
                elif self.config.last_n > 0:
                    self._apply_last_n()
                if self._adapt_downlinks(time.monotonic()) or self._low_layers_pending(time.time()):
                    self._apply_last_n()
                self._emit(AudioLevels(self.room_id, self._speakers.levels(), self._speakers.active))
                now = time.monotonic()
                if now - last_remb >= self.config.remb_interval_s:
                    last_remb = now
                    for stream in list(self._streams.values()):
                        if stream.kind == "video" and stream.media_ssrc is not None and stream.transceiver:
                            await hooks.send_remb(
                                stream.transceiver.receiver,
                                self._uplink_bps(stream, now),
                                [stream.media_ssrc],
                            )
            except Exception:
                logger.exception("room %s: periodic task failed", self.room_id)
