"""Live meetings in this process: rooms, their media and their recording, around the meeting services.

The HTTP routes and the signaling socket call :class:`LiveMeetings`. It keeps one :class:`LiveRoom` per live
meeting: the room state (``server.rooms``), the SFU room (``server.media``), the recorder (``recordings``) and
the open sockets. Database work goes through ``server.services``; messages go out through each connection's
``send`` callable, so this module knows nothing of WebSockets.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from recordings.integrity import sha256_file
from recordings.manifest import read_manifest
from recordings.mixing import mix_meeting
from recordings.storage import MeetingRecorder, ParticipantInfo, RecordingsLayout, TrackHandle
from server.config import Settings
from server.db import Database
from server.errors import Conflict, Forbidden, GiaobanError
from server.media import (
    ActiveSpeakerChanged,
    ConnectionStateChanged,
    MediaConfig,
    MediaError,
    MediaEvent,
    MediaListener,
    MediaRoom,
    Offer,
    OfferPendingError,
    RenegotiationNeeded,
)
from server.media_settings import media_config
from server.models import MeetingStatus, RollCallStatus
from server.rooms import messages as m
from server.rooms.room import Participant, Room, RoomError
from server.services import meetings, policy
from server.services import recordings as recording_rows
from server.services.context import Actor
from server.services.meetings import MeetingView, RollCallEntry
from server.services.recordings import FinishedTrack

log = logging.getLogger(__name__)

Send = Callable[[m.ServerMessage], Awaitable[None]]
Close = Callable[[int, str], Awaitable[None]]
EndHook = Callable[[int], Any]


@dataclass
class Connection:
    """One open signaling socket of one participant."""

    meeting_id: int
    participant_id: str
    actor: Actor
    send: Send
    close: Close
    participation_id: int
    closed: bool = False
    # one SDP exchange at a time: an offer is outstanding until its answer is applied
    negotiation: asyncio.Lock = field(default_factory=asyncio.Lock)
    offer_outstanding: bool = False
    renegotiate_wanted: bool = False


@dataclass
class LiveRoom:
    meeting_id: int
    room: Room
    media: MediaRoom
    chair_unit_id: int
    recorder: MeetingRecorder | None = None
    tracks: dict[str, TrackHandle] = field(default_factory=dict)
    connections: dict[str, Connection] = field(default_factory=dict)
    roll_call: list[m.RollCallInfo] = field(default_factory=list)

    async def broadcast(self, msg: m.ServerMessage, *, exclude: str | None = None) -> None:
        for pid, conn in list(self.connections.items()):
            if pid != exclude and not conn.closed:
                try:
                    await conn.send(msg)
                except Exception as exc:  # noqa: BLE001 - one broken socket must not stop the others
                    log.info("meeting %s: send to %s failed: %s", self.meeting_id, pid, exc)


class LiveMeetings:
    def __init__(self, settings: Settings, db: Database) -> None:
        self.settings = settings
        self.db = db
        self.rooms: dict[int, LiveRoom] = {}
        self.on_meeting_ended: list[EndHook] = []
        self.on_recording_finished: list[EndHook] = []
        self._finishing: set[asyncio.Task[None]] = set()
        self.layout = RecordingsLayout(settings.data_dir)
        self._lock = asyncio.Lock()

    # ---- media and recording wiring ---------------------------------------------------------------------
    def _media_config(self) -> MediaConfig:
        return media_config(self.settings)

    def _open_room(
        self, meeting_id: int, title: str, chair_unit_id: int, record: bool, resumed: bool
    ) -> LiveRoom:
        listener = _MediaListener(self, meeting_id)
        media = MediaRoom(str(meeting_id), self._media_config(), listener)
        live = LiveRoom(meeting_id, Room(meeting_id, title), media, chair_unit_id)
        if record:
            live.recorder = self._start_recorder(meeting_id, resumed)
        self.rooms[meeting_id] = live
        return live

    def _start_recorder(self, meeting_id: int, resumed: bool) -> MeetingRecorder | None:
        def on_error(failure: Any) -> None:
            asyncio.get_running_loop().create_task(self._recording_failed(meeting_id, str(failure.message)))

        key = str(meeting_id)
        try:
            if resumed and self.layout.manifest_path(key).exists():
                recorder = MeetingRecorder.reopen(self.layout, key, on_error=on_error)
                recorder.resume(recorder.clock_s())
            else:
                recorder = MeetingRecorder.start(self.layout, key, on_error=on_error)
        except OSError as exc:
            log.error("meeting %s: recording could not start: %s", meeting_id, exc)
            with self.db.session() as session:
                recording_rows.begin(session, meeting_id, self.layout.meeting_dir(key))
                recording_rows.fail(session, meeting_id, f"Không ghi âm được: {exc}")
            return None
        with self.db.session() as session:
            recording_rows.begin(session, meeting_id, self.layout.meeting_dir(key))
        return recorder

    async def _recording_failed(self, meeting_id: int, message: str) -> None:
        with self.db.session() as session:
            recording_rows.fail(session, meeting_id, message)
        live = self.rooms.get(meeting_id)
        if live is not None:
            await live.broadcast(m.RecordingState(on=False, error=message))

    def on_audio_packet(
        self, meeting_id: int, pid: str, payload: bytes, rtp_timestamp: int, sequence_number: int, red: bool
    ) -> None:
        """The media tap: record what the server forwards, reordered and repaired (never raises)."""
        live = self.rooms.get(meeting_id)
        if live is None or live.recorder is None:
            return
        p = live.room.participants.get(pid)
        if p is None or not p.audio_forwarded:
            return
        handle = live.tracks.get(pid)
        if handle is None:
            handle = live.recorder.open_track(
                ParticipantInfo(pid, p.username, p.display_name, p.unit_code, p.unit_name),
                live.recorder.clock_s(),
            )
            live.tracks[pid] = handle
        handle.write_rtp(payload, rtp_timestamp, sequence_number, red=red)

    def _sync_audio(self, live: LiveRoom, p: Participant) -> None:
        """Apply a participant's forwarding state to the media and the recording (a participant on the socket
        without media yet, e.g. before its ``join``, gets it applied when it joins)."""
        if p.id in live.media.participant_ids():
            live.media.set_audio_forwarding(p.id, p.audio_forwarded)
        handle = live.tracks.get(p.id)
        if handle is not None and live.recorder is not None:
            now = live.recorder.clock_s()
            if p.audio_forwarded:
                handle.unmute(now)
            else:
                handle.mute(now)

    def _close_track(self, live: LiveRoom, pid: str) -> None:
        handle = live.tracks.pop(pid, None)
        if handle is not None and live.recorder is not None:
            handle.close(live.recorder.clock_s())

    # ---- HTTP-driven lifecycle ----------------------------------------------------------------------------
    async def start_meeting(self, actor: Actor, meeting_id: int) -> MeetingView:
        async with self._lock:
            with self.db.session() as session:
                before = meetings.get_visible(session, actor, meeting_id).status
                meeting = meetings.start(session, actor, meeting_id)
                view = meetings.view(session, meeting)
                chair_unit_id, record = meeting.chair_unit_id, meeting.record
            live = self._open_room(
                meeting_id, view.title, chair_unit_id, record, resumed=before is MeetingStatus.INTERRUPTED
            )
            live.roll_call = _roll_call_infos(view)
            log.info("meeting %s started by %s (record=%s)", meeting_id, actor.username, record)
            return view

    async def end_meeting(self, actor: Actor | None, meeting_id: int) -> MeetingView:
        async with self._lock:
            with self.db.session() as session:
                meeting = meetings.end(session, actor, meeting_id)
                view = meetings.view(session, meeting)
            live = self.rooms.pop(meeting_id, None)
        if live is not None:
            await self._close_room(live)
        log.info("meeting %s ended", meeting_id)
        for hook in self.on_meeting_ended:
            result = hook(meeting_id)
            if asyncio.iscoroutine(result):
                await result
        return view

    async def _close_room(self, live: LiveRoom) -> None:
        await live.broadcast(m.MeetingEnded())
        for conn in list(live.connections.values()):
            conn.closed = True
            try:
                await conn.close(m.CLOSE_ENDED, "meeting ended")
            except Exception:  # noqa: BLE001
                pass
        live.connections.clear()
        await live.media.close()
        if live.recorder is not None:
            now = live.recorder.clock_s()
            for pid in list(live.tracks):
                self._close_track(live, pid)
            live.recorder.end(now)
            task = asyncio.get_running_loop().create_task(self._finish_recording(live.meeting_id))
            self._finishing.add(task)
            task.add_done_callback(self._finishing.discard)

    async def _finish_recording(self, meeting_id: int) -> None:
        """Mix the playback file, store every file's SHA-256, then tell the hooks (transcription)."""
        folder = self.layout.meeting_dir(str(meeting_id))
        try:
            tracks, mix_name, mix_sha, mix_bytes, error = await asyncio.to_thread(finish_files, folder)
        except Exception as exc:  # noqa: BLE001 - a failed mix must not lose the tracks
            log.exception("meeting %s: finishing the recording failed", meeting_id)
            tracks, mix_name, mix_sha, mix_bytes, error = [], "", "", 0, f"Không trộn được bản ghi: {exc}"
        with self.db.session() as session:
            recording_rows.finish(session, meeting_id, tracks, mix_name, mix_sha, mix_bytes, error)
        log.info(
            "meeting %s: recording finished (%d tracks, mix %d bytes)", meeting_id, len(tracks), mix_bytes
        )
        for hook in self.on_recording_finished:
            result = hook(meeting_id)
            if asyncio.iscoroutine(result):
                await result

    async def wait_idle(self) -> None:
        """Wait until every recording being finished is done (shutdown, tests)."""
        while self._finishing:
            await asyncio.gather(*list(self._finishing), return_exceptions=True)

    def recover_after_restart(self, meeting_ids: list[int]) -> None:
        """Close the tracks a dead process left open (cut to their last page, hashed) and mark them."""
        for meeting_id in meeting_ids:
            key = str(meeting_id)
            if not self.layout.manifest_path(key).exists():
                continue
            try:
                MeetingRecorder.reopen(self.layout, key).mark_interrupted()
            except Exception:  # noqa: BLE001 - recovery of one meeting must not block the others
                log.exception("meeting %s: recording recovery failed", meeting_id)

    async def set_roll_call(
        self, actor: Actor, meeting_id: int, unit: str, status: RollCallStatus, reason: str
    ) -> RollCallEntry:
        with self.db.session() as session:
            inv = meetings.set_roll_call(session, actor, meeting_id, unit, status, reason)
            entry = RollCallEntry(
                unit=inv.unit.code,
                unit_name=inv.unit.name,
                status=inv.status,
                reason=inv.reason,
                status_at=inv.status_at,
            )
        await self._refresh_roll_call(meeting_id)
        return entry

    def _reload_roll_call(self, meeting_id: int) -> LiveRoom | None:
        live = self.rooms.get(meeting_id)
        if live is not None:
            with self.db.session() as session:
                view = meetings.view(session, meetings.get_loaded(session, meeting_id))
            live.roll_call = _roll_call_infos(view)
        return live

    async def _refresh_roll_call(self, meeting_id: int, exclude: str | None = None) -> None:
        live = self._reload_roll_call(meeting_id)
        if live is not None:
            await live.broadcast(m.RollCallUpdate(entries=live.roll_call), exclude=exclude)

    # ---- signaling ---------------------------------------------------------------------------------------
    async def connect(self, actor: Actor, meeting_id: int, send: Send, close: Close) -> Connection:
        """Admit a socket: raises Forbidden / NotFound / Conflict (not live) / RoomError (locked)."""
        with self.db.session() as session:
            meeting = meetings.get_visible(session, actor, meeting_id)
            if meeting.status is not MeetingStatus.LIVE or meeting_id not in self.rooms:
                raise Conflict("Cuộc họp chưa khai mạc hoặc đã kết thúc.")
            live = self.rooms[meeting_id]
            pid = f"u{actor.id}"
            candidate = Participant(
                id=pid,
                user_id=actor.id,
                username=actor.username,
                display_name=actor.full_name,
                unit_code=actor.unit_code,
                unit_name=actor.unit_name,
                role=actor.role.value,
                is_chair_unit=actor.unit_id == meeting.chair_unit_id,
                can_moderate=policy.can_manage(actor, meeting.chair_unit_id),
                can_publish=policy.can_publish(actor),
            )
            if live.room.locked and pid not in live.room.participants and not candidate.can_moderate:
                raise Forbidden("Cuộc họp đã khóa, không thể tham gia thêm.")
            participation = meetings.record_join(session, actor, meeting_id)
            participation_id = participation.id
        old = live.connections.get(pid)
        if old is not None:  # the same account again: a reconnect replaces the old socket and its media
            old.closed = True
            await _quiet(old.close(m.CLOSE_REPLACED, "replaced by a new connection"))
            await self._drop_media(live, pid)
            with self.db.session() as session:
                meetings.record_leave(session, old.participation_id, "reconnected")
        participant, reconnect = live.room.admit(candidate)
        self._pin(live)
        conn = Connection(meeting_id, pid, actor, send, close, participation_id)
        live.connections[pid] = conn
        log.info("meeting %s: %s connected (%s)", meeting_id, pid, "reconnect" if reconnect else "new")
        self._reload_roll_call(meeting_id)
        await send(self._welcome(live, participant))
        await live.broadcast(m.RollCallUpdate(entries=live.roll_call), exclude=pid)
        await live.broadcast(m.ParticipantJoined(participant=participant.info()), exclude=pid)
        return conn

    def _welcome(self, live: LiveRoom, p: Participant) -> m.Welcome:
        room = live.room
        return m.Welcome(
            participant_id=p.id,
            meeting_id=live.meeting_id,
            title=room.title,
            you=p.info(),
            participants=room.participant_infos(),
            roll_call=live.roll_call,
            floor=room.floor,
            floor_control=room.floor_control,
            locked=room.locked,
            recording=live.recorder is not None and live.recorder.error is None,
            chat=list(room.chat),
            ice_servers=list(self.settings.ice_servers),
            can_moderate=p.can_moderate,
        )

    async def _drop_media(self, live: LiveRoom, pid: str) -> None:
        self._close_track(live, pid)
        await _quiet(live.media.leave(pid))

    async def disconnect(self, conn: Connection, reason: str) -> None:
        live = self.rooms.get(conn.meeting_id)
        if live is None or live.connections.get(conn.participant_id) is not conn:
            return  # already replaced or the meeting ended
        conn.closed = True
        del live.connections[conn.participant_id]
        await self._drop_media(live, conn.participant_id)
        live.room.disconnect(conn.participant_id)
        with self.db.session() as session:
            meetings.record_leave(session, conn.participation_id, reason)
        log.info("meeting %s: %s left (%s)", conn.meeting_id, conn.participant_id, reason)
        await live.broadcast(m.ParticipantLeft(participant_id=conn.participant_id, reason=reason))

    async def handle(self, conn: Connection, msg: Any) -> None:
        """Apply one client message. A refused request (RoomError, or any GiaobanError of the services: a
        roll-call entry without its reason, a unit not invited) → an ``error`` message to the sender only;
        MediaError (malformed SDP or ICE candidate) propagates: the socket closes that peer with 4400."""
        live = self.rooms.get(conn.meeting_id)
        if live is None:
            return
        try:
            await self._dispatch(live, conn, msg)
        except (RoomError, GiaobanError) as exc:
            await conn.send(m.ErrorOut(code=exc.code, message=exc.message))

    @staticmethod
    def _pin(live: LiveRoom) -> None:
        """Last-N pins the chair's hall (the chairing unit's participants, in join order) first, then whoever
        has the floor."""
        room = live.room
        pinned = [p.id for p in room.participants.values() if p.is_chair_unit]
        if room.floor is not None and room.floor not in pinned:
            pinned.append(room.floor)
        live.media.set_pinned(pinned)

    async def _updated(self, live: LiveRoom, *ps: Participant) -> None:
        for p in ps:
            self._sync_audio(live, p)
            await live.broadcast(m.ParticipantUpdated(participant=p.info()))

    async def _dispatch(self, live: LiveRoom, conn: Connection, msg: Any) -> None:
        room, pid = live.room, conn.participant_id
        if msg.type in m.CHAIR_MESSAGES:
            room.require_moderator(pid)
        match msg:
            case m.Join():
                p = room.get(pid)
                room.set_audio_only(pid, msg.audio_only)
                async with conn.negotiation:
                    offer = await live.media.join(
                        pid,
                        publishes_video=msg.publish_video and p.can_publish,
                        audio_only=msg.audio_only,
                        username=p.username,
                        unit=p.unit_code,
                    )
                    conn.offer_outstanding = True
                    self._sync_audio(live, p)
                    await conn.send(self._offer_message(live, offer))
            case m.Answer():
                async with conn.negotiation:
                    await live.media.answer(pid, msg.sdp)
                    conn.offer_outstanding = False
                    wanted, conn.renegotiate_wanted = conn.renegotiate_wanted, False
                if wanted:
                    await self.renegotiate(live.meeting_id, pid)
            case m.IceCandidate():
                await live.media.add_ice_candidate(pid, msg.candidate, msg.sdp_mid, msg.sdp_mline_index)
            case m.SetMute():
                await self._updated(live, room.set_mute(pid, msg.audio, msg.video))
            case m.RaiseHand():
                await self._updated(live, room.raise_hand(pid, msg.raised))
            case m.SendChat():
                await live.broadcast(m.ChatOut(message=room.add_chat(pid, msg.text)))
            case m.SetAudioOnly():
                p = room.set_audio_only(pid, msg.enabled)
                if pid in live.media.participant_ids():  # else its join applies it
                    live.media.set_audio_only(pid, msg.enabled)
                await self._updated(live, p)
            case m.ScreenShare():
                if pid not in live.media.participant_ids():
                    raise RoomError("not_joined", "Cần tham gia hình và tiếng (join) trước khi trình chiếu.")
                room.check_screen_share(pid, msg.on)
                async with conn.negotiation:
                    if conn.offer_outstanding:
                        raise RoomError("busy", "Đang thương lượng kết nối, vui lòng thử lại.")
                    # checked once the negotiation is ours: the chair may have withdrawn the permission
                    p = room.set_screen_share(pid, msg.on)
                    if msg.on:
                        offer = await live.media.start_screen_share(pid)
                    else:
                        offer = await live.media.stop_screen_share(pid)
                    conn.offer_outstanding = True
                    await conn.send(self._offer_message(live, offer))
                await self._updated(live, p)
            case m.Ping():
                await conn.send(m.Pong())
            case m.Leave():
                await self.disconnect(conn, "left")
                await _quiet(conn.close(1000, "left"))
            case m.MuteParticipant():
                target = room.mute_participant(pid, msg.participant_id)
                self._pin(live)  # muting the floor holder takes the floor back
                await self._updated(live, target)
                other = live.connections.get(target.id)
                if other is not None:
                    await other.send(m.MutedByChair())
            case m.MuteAll():
                changed = room.mute_all(pid)
                await self._updated(live, *changed)
                for p in changed:
                    other = live.connections.get(p.id)
                    if other is not None:
                        await other.send(m.MutedByChair())
                self._pin(live)
                await live.broadcast(m.Floor(participant_id=None))
            case m.GiveFloor():
                await self._updated(live, *room.give_floor(pid, msg.participant_id))
                self._pin(live)
                await live.broadcast(m.Floor(participant_id=room.floor))
            case m.FloorControl():
                await self._updated(live, *room.set_floor_control(pid, msg.enabled))
                await live.broadcast(m.FloorControlState(enabled=msg.enabled))
            case m.AllowScreenShare():
                was_sharing = room.get(msg.participant_id).screen_sharing
                target = room.allow_screen_share(pid, msg.participant_id, msg.allowed)
                if was_sharing and not target.screen_sharing and target.id in live.media.participant_ids():
                    live.media.withdraw_screen_share(target.id)  # enforced here, not only by its page
                await self._updated(live, target)
            case m.RemoveParticipant():
                target_conn = live.connections.get(msg.participant_id)
                room.get(msg.participant_id)
                if target_conn is not None:
                    await self.disconnect(target_conn, "removed")
                    await _quiet(target_conn.close(m.CLOSE_REMOVED, "removed by the chair"))
                room.remove(msg.participant_id)
                self._pin(live)
            case m.LockMeeting():
                room.lock(pid, msg.locked)
                await live.broadcast(m.Locked(locked=msg.locked))
            case m.RollCall():
                await self.set_roll_call(
                    conn.actor, live.meeting_id, msg.unit, RollCallStatus(msg.status), msg.reason
                )
            case m.EndMeeting():
                await self.end_meeting(conn.actor, live.meeting_id)

    def _offer_message(self, live: LiveRoom, offer: Offer) -> m.Offer:
        streams = []
        for s in offer.streams:
            p = live.room.participants.get(s.participant_id)
            if p is None:
                continue
            streams.append(
                m.StreamInfo(
                    mid=s.mid,
                    participant_id=s.participant_id,
                    username=p.username,
                    unit=p.unit_code,
                    unit_name=p.unit_name,
                    kind=s.kind,
                    source=s.source,
                )
            )
        return m.Offer(sdp=offer.sdp, streams=streams)

    async def renegotiate(self, meeting_id: int, pid: str) -> None:
        """Send a participant a new offer, or remember to once its outstanding offer is answered."""
        live = self.rooms.get(meeting_id)
        conn = live.connections.get(pid) if live else None
        if live is None or conn is None or conn.closed:
            return
        async with conn.negotiation:
            if conn.offer_outstanding:
                conn.renegotiate_wanted = True
                return
            try:
                offer = await live.media.renegotiate(pid)
            except OfferPendingError:
                conn.renegotiate_wanted = True
                return
            except MediaError as exc:
                log.warning("meeting %s: renegotiation of %s failed: %s", meeting_id, pid, exc)
                return
            conn.offer_outstanding = True
            await _quiet(conn.send(self._offer_message(live, offer)))

    async def active_speaker(self, meeting_id: int, pid: str | None) -> None:
        live = self.rooms.get(meeting_id)
        if live is not None and live.room.active_speaker != pid:
            live.room.active_speaker = pid
            await live.broadcast(m.ActiveSpeaker(participant_id=pid))

    async def close(self) -> None:
        await self.wait_idle()
        for live in list(self.rooms.values()):
            await live.media.close()
            if live.recorder is not None:
                for pid in list(live.tracks):
                    self._close_track(live, pid)
        self.rooms.clear()


class _MediaListener(MediaListener):
    """Receives the media layer's events for one room and turns them into room actions."""

    def __init__(self, live: LiveMeetings, meeting_id: int) -> None:
        self.live = live
        self.meeting_id = meeting_id

    def on_audio_packet(
        self,
        participant_id: str,
        payload: bytes,
        rtp_timestamp: int,
        sequence_number: int,
        red: bool,
        arrival_monotonic_s: float,
    ) -> None:
        self.live.on_audio_packet(
            self.meeting_id, participant_id, payload, rtp_timestamp, sequence_number, red
        )

    def on_event(self, event: MediaEvent) -> None:
        loop = asyncio.get_running_loop()
        match event:
            case RenegotiationNeeded():
                loop.create_task(self.live.renegotiate(self.meeting_id, event.participant_id))
            case ActiveSpeakerChanged():
                loop.create_task(self.live.active_speaker(self.meeting_id, event.participant_id))
            case ConnectionStateChanged():
                log.info("meeting %s: %s media %s", self.meeting_id, event.participant_id, event.state)
            case _:
                pass


def finish_files(folder: Path) -> tuple[list[FinishedTrack], str, str, int, str]:
    """Mix a finished meeting's tracks into one playback file; hash every file (runs in a thread)."""
    manifest = read_manifest(folder)
    tracks = [
        FinishedTrack(
            track_key=t.track_id,
            file=t.path,
            username=t.username,
            unit_code=t.unit_code,
            start_s=t.start_s,
            end_s=t.end_s,
            sha256=t.sha256 or (sha256_file(folder / t.path) if (folder / t.path).is_file() else ""),
            size_bytes=t.size_bytes or 0,
            previous_track_key=t.previous_track_id or "",
        )
        for t in manifest.tracks
    ]
    error = "; ".join(f.message for f in manifest.failures)
    mix = mix_meeting(folder)
    return tracks, mix.name, sha256_file(mix), mix.stat().st_size, error


def _roll_call_infos(view: MeetingView) -> list[m.RollCallInfo]:
    return [
        m.RollCallInfo(
            unit=e.unit, unit_name=e.unit_name, status=e.status.value, reason=e.reason, status_at=e.status_at
        )
        for e in view.roll_call
    ]


async def _quiet(aw: Awaitable[Any]) -> None:
    try:
        await aw
    except Exception as exc:  # noqa: BLE001 - closing an already broken socket or peer
        log.debug("ignored while closing: %s", exc)
