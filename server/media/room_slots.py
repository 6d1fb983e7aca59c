"""Which streams each viewer of a `MediaRoom` receives (room.py, layers in room_core.py).

A viewer has a send m-line (`SendSlot`) per stream it may receive: every other participant's, or in a
bounded meeting (`MediaConfig.bounded_from`) only those forwarded to it now (the audible microphones, its
last-N cameras, screens, its page of the wall's thumbnails), reassigned on the fly (`_rebalance`). Of those,
the videos it gets now follow one last-N ranking of the cameras for all viewers and its link's budget
(`_apply_last_n`): on a thin link a camera is sent as its publisher's thumbnail on the same m-line (the low
layer, `_set_layer`) before any video is paused (server/media/downlink.py).
"""

from __future__ import annotations

import time
from collections.abc import Sequence

from server.media import aiortc_hooks as hooks
from server.media.downlink import LOW, PAUSED
from server.media.events import Kind, RenegotiationNeeded
from server.media.forwarding import StreamForwarder
from server.media.participants import Participant, PublishedStream, SendSlot, StreamKey
from server.media.room_core import AUDIO_CLOCK_RATE_HZ, VIDEO_CLOCK_RATE_HZ
from server.media.room_feedback import RoomFeedback
from server.media.sdp import prefer_codecs
from server.media.speakers import last_n_of

# a thumbnail that sent nothing for this long is not sent by its publisher now (the browser encodes it only
# while a wall, or a viewer's low layer, needs it: the `thumbnail` message, server/live/wall.py)
LOW_LAYER_SILENT_S = 3.0
LOW_LAYER_GRACE_S = 5.0  # a silent thumbnail asked for as a low layer has this long to start
LOW_LAYER_RETRY_S = 30.0  # one that did not start is not asked for again before this


class RoomSlots(RoomFeedback):
    """Each viewer's send m-lines and the streams on them."""

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
        thumbnail = self._streams.get((slot.stream[0], "thumbnail"))
        if thumbnail is not None and thumbnail.layered.get(participant.participant_id) is slot.forwarder:
            del thumbnail.layered[participant.participant_id]
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
        now = time.time()
        for viewer in self._participants.values():
            allowed = last_n_of(ranking, viewer.participant_id, self.config.last_n)
            shown = self._shown_videos(viewer, ranking, allowed, screens, now)
            for slot in viewer.slots:
                if slot.kind != "video" or slot.forwarder is None or slot.stream is None:
                    continue
                publisher, source = slot.stream
                level = shown.get(slot.stream, PAUSED)
                enabled = level != PAUSED or (
                    source == "thumbnail" and not viewer.audio_only and publisher in viewer.wall
                )
                if source == "camera":
                    self._set_layer(viewer.participant_id, slot, level == LOW, now)
                if enabled and not slot.forwarder.enabled:
                    slot.forwarder.restart()
                slot.forwarder.enabled = enabled

    def _has_low_layer(self, publisher: str, now_s: float) -> bool:
        """Whether this publisher's camera can be sent as its thumbnail: it publishes one, and sends it now,
        or has not been asked for it as a low layer yet, or was asked within the grace, or long ago."""
        thumbnail = self._streams.get((publisher, "thumbnail"))
        if thumbnail is None:
            return False
        asked = thumbnail.low_asked_s
        return (
            now_s - thumbnail.last_packet_s < LOW_LAYER_SILENT_S
            or asked is None
            or not LOW_LAYER_GRACE_S <= now_s - asked <= LOW_LAYER_RETRY_S
        )

    def _low_layers_pending(self, now_s: float) -> bool:
        """A silent thumbnail was asked for as a low layer and its grace is running out: look again."""
        return any(
            s.low_asked_s is not None and now_s - s.low_asked_s <= LOW_LAYER_GRACE_S + 1.0
            for s in self._streams.values()
            if s.source == "thumbnail"
        )

    def _set_layer(self, viewer_id: str, slot: SendSlot, low: bool, now_s: float) -> None:
        """Send this camera m-line its publisher's thumbnail (`low`) or its camera, from the next key frame
        of the one asked for (a PLI to its publisher)."""
        forwarder = slot.forwarder
        if forwarder is None or slot.stream is None:
            return
        thumbnail = self._streams.get((slot.stream[0], "thumbnail"))
        layer = 1 if low and thumbnail is not None else 0
        if forwarder.target_layer != layer:
            forwarder.set_layer(layer)
            target: PublishedStream | None = thumbnail if layer else self._streams.get(slot.stream)
            if thumbnail is not None and layer and now_s - thumbnail.last_packet_s >= LOW_LAYER_SILENT_S:
                if thumbnail.low_asked_s is None or now_s - thumbnail.low_asked_s > LOW_LAYER_RETRY_S:
                    thumbnail.low_asked_s = now_s
            if target is not None and forwarder.enabled:
                self._spawn(self._request_keyframe(target), "PLI")
        if thumbnail is not None:
            if forwarder.layer or forwarder.target_layer:
                thumbnail.layered[viewer_id] = forwarder
            elif thumbnail.layered.get(viewer_id) is forwarder:
                del thumbnail.layered[viewer_id]

    def _shown_videos(
        self,
        viewer: Participant,
        ranking: Sequence[str],
        allowed: set[str],
        all_screens: Sequence[StreamKey],
        now_s: float,
    ) -> dict[StreamKey, int]:
        """The videos forwarded to this viewer now, each with its layer (FULL, or LOW: a camera sent as its
        publisher's thumbnail): the screens (of `all_screens`, the room's) and its last-N cameras
        (`allowed`), as its link carries (server/media/downlink.py: cameras reduced to their thumbnail first,
        then videos paused, the least important first); tells the policy what it held back or reduced."""
        me = viewer.participant_id
        if viewer.audio_only:
            self._downlink.applied(me, ())
            return {}
        n = self.config.last_n
        # in last-N order; `allowed` lies within the ranking's first n + 1 (last_n_of)
        videos = [k for k in all_screens if k[0] != me] + [
            (pid, "camera") for pid in (ranking if n <= 0 else ranking[: n + 1]) if pid in allowed
        ]
        has_low = [k[1] == "camera" and self._has_low_layer(k[0], now_s) for k in videos]
        levels = self._downlink.levels(me, has_low)
        self._downlink.applied(
            me,
            [k[0] for k, level in zip(videos, levels, strict=True) if level == PAUSED],
            [k[0] for k, level in zip(videos, levels, strict=True) if level == LOW],
        )
        return {k: level for k, level in zip(videos, levels, strict=True) if level != PAUSED}
