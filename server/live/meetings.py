"""``LiveMeetings``: the live core's façade, called by the HTTP routes and the signaling socket.

It keeps one :class:`LiveRoom` per live meeting and admits and drops sockets; the rest lives beside it:
``lifecycle`` (start, end, close), ``recording`` (recorder, media tap, finish), ``rollcall``, ``dispatch``
(client message → handler) and ``connections`` (sockets, coalesced broadcasts). Database work runs off the
event loop through :meth:`LiveMeetings._db`; every background task is kept in a set and awaited or cancelled
at :meth:`close`. The media room comes from ``room_factory`` (``server.media.MediaRoom`` by default), so the
core runs without aiortc in unit tests.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

from sqlalchemy.orm import Session

from recordings.storage import RecordingsLayout
from server.config import Settings
from server.db import Database
from server.errors import Conflict, Forbidden, GiaobanError
from server.live import lifecycle, recording, takeover, wall
from server.live.connections import BATCH_WINDOW_S, Close, Connection, LiveRoom, MediaPort, Send, quiet
from server.live.dispatch import dispatch, pin
from server.live.offloop import in_thread
from server.live.rollcall import invitation_info, set_roll_call
from server.live.site_port import SitePort
from server.media import MediaError, MediaListener, MediaRoom, Offer, OfferPendingError
from server.media_settings import media_config, turn_issuer
from server.models import Meeting, MeetingRemoval, MeetingStatus, RollCallStatus
from server.rooms import messages as m
from server.rooms.room import Participant, RoomError
from server.services import meetings, policy
from server.services.context import Actor
from server.services.meetings import MeetingView, RollCallEntry

log = logging.getLogger(__name__)

T = TypeVar("T")
EndHook = Callable[[int], Any]
RoomFactory = Callable[[str, MediaListener], MediaPort]
REMOVED_MESSAGE = (
    "Chủ trì đã mời điểm cầu ra khỏi cuộc họp. Điểm cầu chỉ vào lại được khi chủ trì cho vào lại."
)


class LiveMeetings:
    def __init__(
        self,
        settings: Settings,
        db: Database,
        *,
        room_factory: RoomFactory | None = None,
        batch_window_s: float = BATCH_WINDOW_S,
    ) -> None:
        self.settings = settings
        self.db = db
        self.rooms: dict[int, LiveRoom] = {}
        self.on_meeting_ended: list[EndHook] = []
        self.on_recording_finished: list[EndHook] = []
        self.layout = RecordingsLayout(settings.data_dir)
        self.lock = asyncio.Lock()
        self.batch_window_s = batch_window_s
        self.room_factory: RoomFactory = room_factory or (
            lambda key, listener: MediaRoom(key, media_config(settings), listener)
        )
        self._finishing: set[asyncio.Task[None]] = set()  # awaited at close (recordings' final state)
        self._tasks: set[asyncio.Task[None]] = set()  # cancelled at close (renegotiations, speaker changes)
        self.site: SitePort | None = None  # several processes, one site (server.site); None: this one alone

    # ---- off the loop, and no task left behind --------------------------------------------------------
    async def _db(self, fn: Callable[[Session], T]) -> T:
        """Every database use of the live core: one session, in a worker thread."""
        return await in_thread(self.db, fn)

    def spawn(self, coro: Coroutine[Any, Any, None], *, must_finish: bool = False) -> asyncio.Task[None]:
        """Run ``coro`` in the background, kept in a set: awaited at close when ``must_finish``, else
        cancelled."""
        tasks = self._finishing if must_finish else self._tasks
        task = asyncio.get_running_loop().create_task(coro)
        tasks.add(task)
        task.add_done_callback(tasks.discard)
        task.add_done_callback(_log_failure)
        return task

    async def run_hooks(self, hooks: list[EndHook], meeting_id: int) -> None:
        """Call the hooks (a plain function runs in a thread: it may write the database)."""
        for hook in hooks:
            if asyncio.iscoroutinefunction(hook):
                await hook(meeting_id)
            else:
                result = await asyncio.to_thread(hook, meeting_id)
                if asyncio.iscoroutine(result):
                    await result

    async def wait_idle(self) -> None:
        """Wait until every recording being finished is done (shutdown, tests)."""
        while self._finishing:
            await asyncio.gather(*list(self._finishing), return_exceptions=True)

    async def cancel_tasks(self) -> None:
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def close(self) -> None:
        await lifecycle.close(self)

    # ---- HTTP-driven lifecycle ------------------------------------------------------------------------
    async def start_meeting(self, actor: Actor, meeting_id: int) -> MeetingView:
        return await lifecycle.start_meeting(self, actor, meeting_id)

    async def end_meeting(self, actor: Actor | None, meeting_id: int) -> MeetingView:
        return await lifecycle.end_meeting(self, actor, meeting_id)

    def recover_after_restart(self, meeting_ids: list[int]) -> None:
        recording.recover_after_restart(self, meeting_ids)

    async def set_roll_call(
        self, actor: Actor, meeting_id: int, unit: str, status: RollCallStatus, reason: str
    ) -> RollCallEntry:
        return await set_roll_call(self, actor, meeting_id, unit, status, reason)

    # ---- removed participants (kept in the database: a node resuming the meeting keeps them out) ---------
    async def persist_removal(self, meeting_id: int, user_id: int, by_user_id: int) -> None:
        def write(session: Session) -> None:
            if session.get(MeetingRemoval, (meeting_id, user_id)) is None:
                session.add(MeetingRemoval(meeting_id=meeting_id, user_id=user_id, removed_by_id=by_user_id))

        await self._db(write)

    async def persist_readmission(self, meeting_id: int, participant_id: str) -> None:
        user_id = int(participant_id.removeprefix("u"))

        def delete(session: Session) -> None:
            row = session.get(MeetingRemoval, (meeting_id, user_id))
            if row is not None:
                session.delete(row)

        await self._db(delete)

    # ---- the site ---------------------------------------------------------------------------------------
    def load(self) -> tuple[list[int], int]:
        """The meetings whose room is here and the sockets in them (the node's heartbeat)."""
        return list(self.rooms), sum(len(live.connections) for live in self.rooms.values())

    async def route(self, meeting_id: int) -> str | None:
        """Where a socket for ``meeting_id`` belongs: None here, else the base URL of the node holding it
        (placing the meeting if its node is gone). Raises ``SiteUnavailable`` when Redis is down and the
        meeting is not held here."""
        if self.site is None or meeting_id in self.rooms:
            return None

        def status(session: Session) -> MeetingStatus | None:
            meeting = session.get(Meeting, meeting_id)
            return meeting.status if meeting is not None else None

        if await self._db(status) is not MeetingStatus.LIVE:
            return None  # refused here, as on one process (not live, unknown)
        node = await self.site.locate(meeting_id)
        return None if self.site.is_self(node) else node.url

    async def site_tick(self) -> None:
        """Each heartbeat: close the rooms of meetings ended through another process, hand over those
        placed on another node meanwhile."""
        await takeover.close_ended_elsewhere(self)
        await takeover.hand_over_moved(self)

    # ---- signaling --------------------------------------------------------------------------------------
    async def connect(self, actor: Actor, meeting_id: int, send: Send, close: Close) -> Connection:
        """Admit a socket: raises Forbidden / NotFound / Conflict (not live) / RoomError (locked)."""
        pid = f"u{actor.id}"
        live = self.rooms.get(meeting_id)
        if live is None and self.site is not None:  # placed here: started elsewhere, or its node died
            live = await takeover.adopt(self, meeting_id)
        locked_out = live is not None and live.room.locked and pid not in live.room.participants
        removed = live is not None and pid in live.removed

        def admit(session: Session) -> tuple[int, bool, m.RollCallInfo | None]:
            meeting = meetings.get_visible(session, actor, meeting_id)
            if meeting.status is not MeetingStatus.LIVE or live is None:
                raise Conflict("Cuộc họp chưa khai mạc hoặc đã kết thúc.")
            can_moderate = policy.can_manage(actor, meeting.chair_unit_id)
            if removed:
                raise Forbidden(REMOVED_MESSAGE, code="removed")
            if locked_out and not can_moderate:
                raise Forbidden("Cuộc họp đã khóa, không thể tham gia thêm.")
            participation = meetings.record_join(session, actor, meeting_id)
            inv = next((i for i in meeting.invitations if i.unit_id == actor.unit_id), None)
            return participation.id, can_moderate, invitation_info(inv) if inv is not None else None

        participation_id, can_moderate, entry = await self._db(admit)
        if live is None or self.rooms.get(meeting_id) is not live:  # ended while the database answered
            await self._db(lambda session: meetings.record_leave(session, participation_id, "ended"))
            raise Conflict("Cuộc họp chưa khai mạc hoặc đã kết thúc.")
        candidate = Participant(
            id=pid,
            user_id=actor.id,
            username=actor.username,
            display_name=actor.full_name,
            unit_code=actor.unit_code,
            unit_name=actor.unit_name,
            role=actor.role.value,
            is_chair_unit=actor.unit_id == live.chair_unit_id,
            can_moderate=can_moderate,
            can_publish=policy.can_publish(actor),
        )
        old = live.connections.get(pid)
        if old is not None:  # the same account again: a reconnect replaces the old socket and its media
            old.closed = True
            del live.connections[pid]
            await quiet(old.close(m.CLOSE_REPLACED, "replaced by a new connection"))
            await self._drop_media(live, pid)
            await self._db(
                lambda session: meetings.record_leave(session, old.participation_id, "reconnected")
            )
        participant, reconnect = live.room.admit(candidate)
        pin(live)
        if entry is not None and entry not in live.roll_call:
            live.publish_roll_call(entry)
        live.publish_participant(m.ParticipantJoined(participant=participant.info()))
        conn = Connection(meeting_id, pid, actor, send, close, participation_id, synced_seq=live.seq)
        live.connections[pid] = conn
        log.info("meeting %s: %s connected (%s)", meeting_id, pid, "reconnect" if reconnect else "new")
        await send(self._welcome(live, participant))
        await wall.refresh(live, self.settings.wall_page_size)
        return conn

    def _welcome(self, live: LiveRoom, p: Participant) -> m.Welcome:
        room = live.room
        return m.Welcome(
            participant_id=p.id,
            meeting_id=live.meeting_id,
            title=room.title,
            you=p.info(),
            participants=room.participant_infos(),
            roll_call=list(live.roll_call),
            floor=room.floor,
            floor_control=room.floor_control,
            locked=room.locked,
            recording=live.recorder is not None and live.recorder.error is None,
            chat=list(room.chat),
            ice_servers=list(self.settings.ice_servers),
            can_moderate=p.can_moderate,
            removed=list(live.removed.values()) if p.can_moderate else [],
            turn=self._turn(p),
            agenda=list(live.agenda),
            agenda_current=live.agenda_current,
        )

    def _turn(self, p: Participant) -> list[m.TurnInfo]:
        issuer = turn_issuer(self.settings)
        if issuer is None:
            return []
        c = issuer.issue(p.username)
        return [
            m.TurnInfo(urls=list(c.urls), username=c.username, credential=c.credential, expires=c.expires)
        ]

    async def _drop_media(self, live: LiveRoom, pid: str) -> None:
        recording.close_track(live, pid)
        if live.captions is not None:
            live.captions.end_of_speech(pid)
        await quiet(live.media.leave(pid))

    async def disconnect(self, conn: Connection, reason: str) -> None:
        live = self.rooms.get(conn.meeting_id)
        if live is None or live.connections.get(conn.participant_id) is not conn:
            return  # already replaced or the meeting ended
        conn.closed = True
        del live.connections[conn.participant_id]
        await self._drop_media(live, conn.participant_id)
        live.room.disconnect(conn.participant_id)
        live.publish_participant(m.ParticipantLeft(participant_id=conn.participant_id, reason=reason))
        await wall.refresh(live, self.settings.wall_page_size)
        log.info("meeting %s: %s left (%s)", conn.meeting_id, conn.participant_id, reason)
        await self._db(lambda session: meetings.record_leave(session, conn.participation_id, reason))

    async def handle(self, conn: Connection, msg: Any) -> None:
        """Apply one client message. A refused request (RoomError, or any GiaobanError of the services: a
        roll-call entry without its reason, a unit not invited) → an ``error`` message to the sender only;
        MediaError (malformed SDP or ICE candidate) propagates: the socket closes that peer with 4400."""
        live = self.rooms.get(conn.meeting_id)
        if live is None:
            return
        try:
            await dispatch(self, live, conn, msg)
        except (RoomError, GiaobanError) as exc:
            await conn.send(m.ErrorOut(code=exc.code, message=exc.message))

    def offer_message(self, live: LiveRoom, offer: Offer) -> m.Offer:
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
            await quiet(conn.send(self.offer_message(live, offer)))

    async def active_speaker(self, meeting_id: int, pid: str | None) -> None:
        live = self.rooms.get(meeting_id)
        if live is not None and live.room.active_speaker != pid:
            live.room.active_speaker = pid
            await live.broadcast(m.ActiveSpeaker(participant_id=pid))


def _log_failure(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("live background task failed", exc_info=task.exception())
