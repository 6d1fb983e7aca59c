"""MediaRoom: one aiortc RTCPeerConnection per participant and raw RTP forwarding between them.

The server is always the SDP offerer. Each participant's offer has recv-only m-lines for what it publishes
(microphone, camera, optional screen) and send-only m-lines for every other participant's streams; m-lines of
participants who left become inactive and are reused for the next stream of the same kind.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import time
from collections.abc import Coroutine, Sequence
from functools import partial
from typing import Any

from aiortc import RTCPeerConnection, RTCRtpReceiver, RTCRtpTransceiver, RTCSessionDescription
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
    RtpPacket,
    unpack_remb_fci,
)
from aiortc.sdp import candidate_from_sdp

from server.media import aiortc_hooks as hooks
from server.media.audio_selection import AudioSelector, PreRoll
from server.media.config import MediaConfig
from server.media.downlink import DownlinkPolicy
from server.media.errors import MalformedSdpError, OfferPendingError, RoomClosedError, UnknownParticipantError
from server.media.events import (
    ActiveSpeakerChanged,
    AudioLevels,
    ConnectionStateChanged,
    Kind,
    MediaEvent,
    MediaListener,
    Offer,
    RenegotiationNeeded,
    Source,
    StreamEnded,
    StreamLabel,
)
from server.media.forwarding import ABS_SEND_TIME_URI, AUDIO_LEVEL_URI, StreamForwarder
from server.media.incoming import RTX_OSN_BYTES, IncomingPacket, ReceptionStats
from server.media.nack import NackTracker
from server.media.participants import Participant, PublishedStream, SendSlot, StreamKey
from server.media.quality import LinkMeter, LinkSample
from server.media.sdp import declared_ssrcs, prefer_codecs, with_opus_dtx
from server.media.speakers import SpeakerTracker, last_n_of, loudness_from_extension, loudness_from_opus_size
from server.media.stats import ForwardedStreamStats, ParticipantStats, RoomStats
from server.media.uplink import UplinkEstimator
from server.media.vp8 import is_keyframe_start

logger = logging.getLogger(__name__)

AUDIO_CLOCK_RATE_HZ = 48000
VIDEO_CLOCK_RATE_HZ = 90000
PREROLL_SLACK_S = 0.06  # pre-roll packets may be this much older than the pre-roll (arrival jitter)

class MediaRoom:
    """The SFU for one meeting. All methods run on the event loop that created the room."""

    def __init__(self, room_id: str, config: MediaConfig, listener: MediaListener | None = None) -> None:
        self.room_id = room_id
        self.config = config
        self.listener = listener or MediaListener()
        hooks.install_ice_host_addresses(config.ice_addresses)
        hooks.install_udp_rcvbuf(config.udp_rcvbuf_bytes)
        self._participants: dict[str, Participant] = {}
        self._streams: dict[StreamKey, PublishedStream] = {}
        self._speakers = SpeakerTracker(config.speaker_level_dbov, config.speaker_hold_s)
        self._pinned: tuple[str, ...] = ()  # set_pinned
        # audio selection: whose microphone every viewer receives now (_select_audio)
        self._audio_selection = config.audio_selection()
        self._audio = AudioSelector(self._audio_selection)
        self._audible: frozenset[str] = frozenset()
        self._closed = False
        self._packets_in = 0
        self._packets_out = 0
        self._feedback: set[asyncio.Task[None]] = set()  # RTCP sent from the synchronous media path
        self._downlink = DownlinkPolicy(config.downlink)  # each viewer's videos follow its link
        self._uplink = UplinkEstimator(config.video_bitrate_cap_bps)  # each publisher's video, its uplink's
        self._task = asyncio.ensure_future(self._periodic())

    # --- public API ---------------------------------------------------------------------------------

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
            stream.forwarders.pop(participant_id, None)
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
            stream.forwarders.pop(participant_id, None)
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
            out.append(dataclasses.replace(sample, videos_paused=link.paused, remb_kbps=remb))
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

    # --- which streams a viewer has m-lines for ------------------------------------------------------

    def _bounded(self) -> bool:
        """Bounded negotiation (MediaConfig.bounded_from): viewers get m-lines only for what they receive."""
        return 0 < self.config.bounded_from <= len(self._participants)

    def _camera_ranking(self) -> list[str]:
        """Every camera publisher in last-N order (SpeakerTracker.ranking), ranked once for all viewers."""
        cameras = [k[0] for k, s in self._streams.items() if s.source == "camera"]
        if self.config.last_n <= 0:
            return cameras
        return self._speakers.ranking(cameras, self._pinned, time.monotonic())

    def _forwardable(self) -> tuple[list[StreamKey], list[str]]:
        """Bounded meetings: the streams forwarded to anyone now (audible microphones, screens, the cameras
        ranked within last-N + 1, in the room's stream order) and the camera ranking. Computed once per
        change for all viewers; each viewer's `_wanted` is then a filter of this short list."""
        ranking = self._camera_ranking()
        n = self.config.last_n
        ranked = set(ranking if n <= 0 else ranking[: n + 1])
        keys = [
            k
            for k, s in self._streams.items()
            if (s.kind == "audio" and k[0] in self._audible)
            or s.source == "screen"
            or (s.source == "camera" and k[0] in ranked)
        ]
        return keys, ranking

    def _wanted(
        self, participant: Participant, forwardable: tuple[list[StreamKey], list[str]] | None = None
    ) -> list[StreamKey]:
        """The streams this viewer has a send m-line for. Every other participant's stream — cameras and
        screens not for an audio-only viewer — or, in a bounded meeting, only those forwarded to it now: the
        audible microphones (audio selection), its last-N cameras, screens. A meeting of 136 then costs each
        join one offer, not 135, and each viewer's offer a handful of m-lines, not 270. `forwardable`: the
        room's `_forwardable()` when the caller goes through every viewer (ranked once, not per viewer)."""
        me = participant.participant_id
        if not self._bounded():
            return [
                k
                for k, s in self._streams.items()
                if s.participant_id != me
                and (s.kind == "audio" or not participant.audio_only)
                and (s.source != "thumbnail" or k[0] in participant.wall)
            ]
        keys, ranking = forwardable if forwardable is not None else self._forwardable()
        allowed = last_n_of(ranking, me, self.config.last_n)
        wall: list[StreamKey] = [] if participant.audio_only else [(p, "thumbnail") for p in participant.wall]
        return [
            k
            for k in keys
            if k[0] != me
            and (
                self._streams[k].kind == "audio"
                or (not participant.audio_only and (k[1] == "screen" or k[0] in allowed))
            )
        ] + [k for k in wall if k[0] != me and k in self._streams]

    def _new_slot(self, participant: Participant, kind: Kind) -> SendSlot:
        """A new send m-line for this viewer (sendonly, carrying nothing until a stream is assigned)."""
        transceiver = participant.pc.addTransceiver(kind, direction="sendonly")
        prefer_codecs(transceiver, kind)
        transceiver.sender.replaceTrack(hooks.IdleTrack(kind))
        hooks.intercept_rtcp(transceiver.sender, self._rtcp_handler(participant.participant_id, transceiver))
        slot = SendSlot(transceiver, kind, None)
        hooks.intercept_sender_reports(transceiver.sender, slot.sender_info)
        hooks.report_every(
            transceiver.sender,
            self.config.audio_report_interval_s if kind == "audio" else self.config.video_report_interval_s,
        )
        participant.slots.append(slot)
        return slot

    def _missing_audio_slots(self, participant: Participant) -> int:
        """In a bounded meeting, how many audio m-lines this viewer lacks: one per pinned participant and per
        recent speaker (`audio_speakers`), whether or not anyone is speaking now."""
        have = sum(1 for slot in participant.slots if slot.kind == "audio")
        return max(0, len(self._pinned) + self.config.audio_speakers - have)

    def _free(self, participant: Participant, slot: SendSlot) -> None:
        """Take the slot's stream off it; the m-line stays for reuse (its forwarder's numbering continues)."""
        if slot.stream is None:
            return
        stream = self._streams.get(slot.stream)
        if stream is not None and stream.forwarders.get(participant.participant_id) is slot.forwarder:
            del stream.forwarders[participant.participant_id]
        slot.idle = slot.stream
        slot.stream = None
        slot.previous = slot.forwarder or slot.previous
        slot.forwarder = None
        # an idle audio m-line of a bounded meeting stays sendonly: a speaker put on it is heard before the
        # viewer has the new offer; otherwise (and for video, which waits for a key frame) it goes inactive
        if not (self._bounded() and slot.kind == "audio"):
            slot.transceiver.direction = "inactive"

    def _assign(self, participant: Participant, slot: SendSlot, key: StreamKey) -> None:
        """Put stream `key` on the viewer's m-line `slot`, continuing the m-line's numbering."""
        stream = self._streams[key]
        slot.transceiver.direction = "sendonly"
        slot.stream = key
        slot.idle = None
        clock = AUDIO_CLOCK_RATE_HZ if stream.kind == "audio" else VIDEO_CLOCK_RATE_HZ
        slot.forwarder = StreamForwarder(
            slot.transceiver,
            stream.kind,
            clock,
            self.config.history_packets,
            native_send=self.config.rtp_native_send,
        )
        if slot.previous is not None:
            slot.forwarder.continue_from(slot.previous)
            slot.previous = None
        if stream.kind == "audio":
            slot.forwarder.enabled = key[0] in self._audible
        stream.forwarders[participant.participant_id] = slot.forwarder

    def _rebalance(
        self, participant: Participant, forwardable: tuple[list[StreamKey], list[str]] | None = None
    ) -> None:
        """Bounded meetings, synchronously: free the viewer's slots whose stream is no longer forwarded to it,
        put newly forwarded streams on free negotiated slots at once (packets flow before the next offer,
        which relabels them), and ask for an offer when anything changed or an m-line is missing."""
        wanted = self._wanted(participant, forwardable)
        changed = self._missing_audio_slots(participant) > 0  # e.g. joined before the meeting was bounded
        for slot in participant.slots:
            if slot.stream is not None and slot.stream not in wanted:
                self._free(participant, slot)
                changed = True
        assigned = {slot.stream for slot in participant.slots if slot.stream is not None}
        for key in wanted:
            if key in assigned:
                continue
            changed = True
            stream = self._streams[key]
            free = next(
                (
                    s
                    for s in participant.slots
                    if s.stream is None
                    and s.kind == stream.kind
                    and s.transceiver.currentDirection in ("sendonly", "sendrecv")
                ),
                None,
            )
            if free is None:
                continue  # the offer adds an m-line
            self._assign(participant, free, key)
            if free.forwarder is not None:
                free.forwarder.configure()
                if stream.kind == "video":
                    free.forwarder.restart()
                    self._spawn(self._request_keyframe(stream), "PLI")
        if changed:
            self._emit(RenegotiationNeeded(self.room_id, participant.participant_id))

    def _drop_stream(self, key: StreamKey) -> None:
        stream = self._streams.pop(key, None)
        if stream is not None:
            if stream.kind == "video":
                self._emit(StreamEnded(self.room_id, *key))
            stream.forwarders.clear()
            for fast_path, ssrc in stream.fast_routes:
                fast_path.unroute(ssrc)
            stream.fast_routes.clear()

    async def _close_pc(self, participant: Participant) -> None:
        for slot in participant.slots:
            if slot.stream in self._streams:
                self._streams[slot.stream].forwarders.pop(participant.participant_id, None)
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

    # --- media path -----------------------------------------------------------------------------------

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
                stream.participant_id, stream.source, packet.payload, packet.ts, packet.seq,
                bool(packet.marker), packet.ssrc,
            )
        except Exception:
            logger.exception("room %s: video tap failed for %s/%s", self.room_id, *stream.key)
        waiting = False
        for forwarder in list(stream.forwarders.values()):
            if forwarder.enabled and forwarder.ready:
                forwarder.forward(packet)
                if forwarder.waiting_keyframe:
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

    def _apply_last_n(self) -> None:
        """Enable each viewer's last-N cameras (and screens), from one ranking of the cameras for all."""
        if self._bounded():
            forwardable = self._forwardable()
            ranking = forwardable[1]
            for viewer in self._participants.values():
                self._rebalance(viewer, forwardable)
        else:
            ranking = self._camera_ranking()
        screens = [k for k, s in self._streams.items() if s.source == "screen"]  # once, not per viewer
        for viewer in self._participants.values():
            allowed = last_n_of(ranking, viewer.participant_id, self.config.last_n)
            shown = self._shown_videos(viewer, ranking, allowed, screens)
            for slot in viewer.slots:
                if slot.kind != "video" or slot.forwarder is None or slot.stream is None:
                    continue
                publisher, source = slot.stream
                enabled = slot.stream in shown or (
                    source == "thumbnail" and not viewer.audio_only and publisher in viewer.wall
                )
                if enabled and not slot.forwarder.enabled:
                    slot.forwarder.restart()
                slot.forwarder.enabled = enabled

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
                if self._adapt_downlinks(time.monotonic()):
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

    # --- downlink adaptation (server/media/downlink.py) -------------------------------------------------

    def _shown_videos(
        self, viewer: Participant, ranking: Sequence[str], allowed: set[str], all_screens: Sequence[StreamKey]
    ) -> set[StreamKey]:
        """The videos forwarded to this viewer now: the screens (of `all_screens`, the room's) and its last-N
        cameras (`allowed`), as many as its link carries (screens first, then cameras in the last-N order);
        tells the policy what it held back."""
        me = viewer.participant_id
        if viewer.audio_only:
            self._downlink.applied(me, 0, ())
            return set()
        screens = [k for k in all_screens if k[0] != me]
        n = self.config.last_n
        # in last-N order; `allowed` lies within the ranking's first n + 1 (last_n_of)
        cameras = [pid for pid in (ranking if n <= 0 else ranking[: n + 1]) if pid in allowed]
        n_screens, n_cameras = self._downlink.budget(me, len(screens), len(cameras))
        kept = set(cameras[:n_cameras])
        shown: set[StreamKey] = {(pid, "camera") for pid in kept}
        shown.update(screens[:n_screens])
        held = [pid for pid in cameras if pid not in kept] + [k[0] for k in screens[n_screens:]]
        self._downlink.applied(me, len(screens) + len(cameras), held)
        return shown

    def _adapt_downlinks(self, now_s: float) -> bool:
        """One interval of every viewer's link; True when any viewer's video cap changed."""
        changed = False
        for viewer in self._participants.values():
            if self._downlink.tick(viewer.participant_id, viewer.slots, now_s):
                link = self._downlink.link(viewer.participant_id)
                logger.info(
                    "room %s: %s receives %s videos (loss %s, sent %.0f kb/s, REMB %s)",
                    self.room_id, viewer.participant_id, "all" if link.cap is None else link.cap,
                    "?" if link.loss is None else f"{link.loss:.1%}", (link.sent_bps or 0) / 1000,
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

    # --- helpers ----------------------------------------------------------------------------------------

    def _emit(self, event: MediaEvent) -> None:
        try:
            self.listener.on_event(event)
        except Exception:
            logger.exception("room %s: listener failed on %s", self.room_id, type(event).__name__)

    def _get(self, participant_id: str) -> Participant:
        self._assert_open()
        participant = self._participants.get(participant_id)
        if participant is None:
            raise UnknownParticipantError(f"{participant_id} is not in room {self.room_id}")
        return participant

    def _assert_open(self) -> None:
        if self._closed:
            raise RoomClosedError(f"room {self.room_id} is closed")
