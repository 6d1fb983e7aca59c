"""The open sockets of a live meeting and what goes out to them.

A :class:`LiveRoom` holds one meeting's room state, its media room, its recorder and its sockets. Presence and
roll-call changes are coalesced: :meth:`LiveRoom.publish_participant` and :meth:`LiveRoom.publish_roll_call`
queue them, and one flush per batching window (``BATCH_WINDOW_S``) sends each socket the latest state of each
changed participant and roll-call entry, so a storm of joins costs a few messages per socket, not one a join.
Any other broadcast flushes the queue first, so a socket sees changes in the order they happened.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from recordings.storage import MeetingRecorder, TrackHandle
from recordings.videotracks import VideoTrackHandle
from server.media import Offer
from server.media.events import Source
from server.rooms import messages as m
from server.rooms.room import Room
from server.services.context import Actor

if TYPE_CHECKING:
    from server.live.captions import LiveCaptions
    from server.live.roomstate import FloorState

log = logging.getLogger(__name__)

BATCH_WINDOW_S = 0.050  # presence and roll-call changes of one meeting sent together within this window

Send = Callable[[m.ServerMessage], Awaitable[None]]
Close = Callable[[int, str], Awaitable[None]]
PeopleMessage = m.ParticipantJoined | m.ParticipantUpdated | m.ParticipantLeft


class MediaPort(Protocol):
    """What the live core asks of a media room (``server.media.MediaRoom``; a fake in unit tests)."""

    async def join(
        self,
        participant_id: str,
        *,
        publishes_video: bool = True,
        audio_only: bool = False,
        username: str | None = None,
        unit: str | None = None,
        publishes_thumbnail: bool = False,
    ) -> Offer: ...

    async def answer(self, participant_id: str, sdp: str) -> None: ...

    async def add_ice_candidate(
        self, participant_id: str, candidate: str, sdp_mid: str | None, sdp_mline_index: int | None
    ) -> None: ...

    async def renegotiate(self, participant_id: str) -> Offer: ...

    async def start_screen_share(self, participant_id: str) -> Offer: ...

    async def stop_screen_share(self, participant_id: str) -> Offer: ...

    def withdraw_screen_share(self, participant_id: str) -> None: ...

    def set_audio_forwarding(self, participant_id: str, enabled: bool) -> None: ...

    def set_audio_only(self, participant_id: str, on: bool) -> None: ...

    def set_pinned(self, participant_ids: Sequence[str]) -> None: ...

    def set_wall(self, viewer_id: str, publisher_ids: Sequence[str]) -> None: ...

    async def leave(self, participant_id: str) -> None: ...

    async def close(self) -> None: ...

    def participant_ids(self) -> list[str]: ...

    def request_keyframe(self, participant_id: str, source: Source) -> None: ...

    def audible(self) -> frozenset[str]: ...


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
    roll_call_delta: bool = False  # announced in ``hello``: roll-call changes as ``roll_call_entry``
    synced_seq: int = 0  # the room's change counter when this socket's welcome was built
    wall_page: int | None = None  # the page of the wall of thumbnails this socket shows (server/live/wall.py)
    wall_shown: tuple[str, ...] = ()  # the participants on it, as last sent
    wall_counts: tuple[int, int] = (0, 0)  # pages and connection points, as last sent
    wall_requests: list[float] = field(default_factory=list)  # recent wall_page times (rate limit)
    publishes_thumbnail: bool = False  # joined media with a thumbnail (the wall's copy of its camera)
    thumbnail_sending: bool | None = None  # as last told (`thumbnail`); None: not told yet
    captions: bool = False  # sent ``captions`` enabled: receives ``caption`` messages


@dataclass
class LiveRoom:
    meeting_id: int
    room: Room
    media: MediaPort
    chair_unit_id: int
    recorder: MeetingRecorder | None = None
    tracks: dict[str, TrackHandle] = field(default_factory=dict)
    video_mode: str = "none"  # the meeting's record_video: none, all, hall_and_floor
    video_tracks: dict[tuple[str, str], VideoTrackHandle] = field(default_factory=dict)  # (pid, source)
    connections: dict[str, Connection] = field(default_factory=dict)
    roll_call: list[m.RollCallInfo] = field(default_factory=list)
    removed: dict[str, m.RemovedInfo] = field(default_factory=dict)  # refused until the chair readmits them
    batch_window_s: float = BATCH_WINDOW_S
    seq: int = 0  # counts queued changes; a socket receives those newer than its welcome
    pending_people: dict[tuple[str, str], tuple[int, PeopleMessage]] = field(default_factory=dict)
    pending_roll_call: dict[str, tuple[int, m.RollCallInfo]] = field(default_factory=dict)
    flush_timer: asyncio.TimerHandle | None = None
    tasks: set[asyncio.Task[None]] = field(default_factory=set)
    sent: int = 0  # messages sent to sockets (measurements)
    # the floor as last written to the database, and its writer's state (server/live/roomstate.py)
    floor_saved: FloorState | None = None
    floor_saving: bool = False
    floor_dirty: bool = False
    captions: LiveCaptions | None = None  # the caption process, once started (server/live/captions.py)
    # the agenda, the item the chair opened, when, and how long each item was open (server/live/agenda.py)
    agenda: list[m.AgendaItemInfo] = field(default_factory=list)
    agenda_current: int | None = None
    agenda_opened_s: float = 0.0
    agenda_held_s: dict[int, float] = field(default_factory=dict)
    opened_monotonic_s: float = field(default_factory=time.monotonic)
    # publishers whose thumbnail a thin link receives in place of their camera (server/live/quality.py)
    low_layers: frozenset[str] = frozenset()

    def clock_s(self) -> float:
        """The meeting clock: the recording's when it records (captions and tracks share it), else seconds
        since the room opened."""
        if self.recorder is not None:
            return self.recorder.clock_s()
        return time.monotonic() - self.opened_monotonic_s

    # ---- coalesced changes ---------------------------------------------------------------------------
    def publish_participant(self, msg: PeopleMessage) -> None:
        """Queue a presence change; a newer one of the same kind for the same participant replaces it (its
        latest state), and goes after the others."""
        pid = msg.participant_id if isinstance(msg, m.ParticipantLeft) else msg.participant.id
        key = (pid, msg.type)
        self.seq += 1
        self.pending_people.pop(key, None)
        self.pending_people[key] = (self.seq, msg)
        self._schedule()

    def publish_roll_call(self, entry: m.RollCallInfo) -> None:
        """Apply one changed entry to the room's roll-call and queue it for the sockets."""
        self.roll_call = [entry if e.unit == entry.unit else e for e in self.roll_call]
        self.seq += 1
        self.pending_roll_call.pop(entry.unit, None)
        self.pending_roll_call[entry.unit] = (self.seq, entry)
        self._schedule()

    def _schedule(self) -> None:
        if self.flush_timer is None:
            self.flush_timer = asyncio.get_running_loop().call_later(self.batch_window_s, self._flush_later)

    def _flush_later(self) -> None:
        self.flush_timer = None
        task = asyncio.get_running_loop().create_task(self.flush())
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def flush(self) -> None:
        """Send every queued change now: per socket, each changed participant once (its latest state), and
        the roll-call as its changed entries (``roll_call_delta``) or one full ``roll_call``."""
        if self.flush_timer is not None:
            self.flush_timer.cancel()
            self.flush_timer = None
        people, roll = self.pending_people, self.pending_roll_call
        if not people and not roll:
            return
        self.pending_people, self.pending_roll_call = {}, {}
        full: m.RollCallUpdate | None = None
        for pid, conn in list(self.connections.items()):
            if conn.closed:
                continue
            out: list[m.ServerMessage] = [msg for seq, msg in people.values() if seq > conn.synced_seq]
            fresh = [entry for seq, entry in roll.values() if seq > conn.synced_seq]
            if fresh and conn.roll_call_delta:
                out.extend(m.RollCallEntryUpdate(entry=entry) for entry in fresh)
            elif fresh:
                full = full or m.RollCallUpdate(entries=list(self.roll_call))
                out.append(full)
            for msg in out:
                await self._send(pid, conn, msg)

    # ---- immediate messages ----------------------------------------------------------------------------
    async def broadcast(self, msg: m.ServerMessage, *, exclude: str | None = None) -> None:
        await self.flush()  # what was queued happened before this
        for pid, conn in list(self.connections.items()):
            if pid != exclude and not conn.closed:
                await self._send(pid, conn, msg)

    async def to_moderators(self, msg: m.ServerMessage) -> None:
        """Send to the sockets of the chair and clerk only (after what was queued)."""
        await self.flush()
        for pid, conn in list(self.connections.items()):
            p = self.room.participants.get(pid)
            if p is not None and p.can_moderate and not conn.closed:
                await self._send(pid, conn, msg)

    def removed_list(self) -> m.RemovedList:
        return m.RemovedList(participants=list(self.removed.values()))

    async def send_to(self, pid: str, conn: Connection, msg: m.ServerMessage) -> None:
        """One socket (a failure is logged, never raised)."""
        await self._send(pid, conn, msg)

    async def _send(self, pid: str, conn: Connection, msg: m.ServerMessage) -> None:
        try:
            await conn.send(msg)
            self.sent += 1
        except Exception as exc:  # noqa: BLE001 - one broken socket must not stop the others
            log.info("meeting %s: send to %s failed: %s", self.meeting_id, pid, exc)

    async def stop_batching(self) -> None:
        """Drop what is queued and stop the flushes in flight (the meeting ended)."""
        if self.flush_timer is not None:
            self.flush_timer.cancel()
            self.flush_timer = None
        self.pending_people.clear()
        self.pending_roll_call.clear()
        current = asyncio.current_task()
        tasks = [t for t in self.tasks if t is not current]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


async def quiet(aw: Awaitable[Any]) -> None:
    try:
        await aw
    except Exception as exc:  # noqa: BLE001 - closing an already broken socket or peer
        log.debug("ignored while closing: %s", exc)
