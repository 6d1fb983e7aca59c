"""A live meeting's life: started over HTTP (room, media, recorder opened), ended (sockets told and closed,
media closed, recording finished in the background), and every room closed at shutdown."""

from __future__ import annotations

import contextlib
import logging
from typing import TYPE_CHECKING

from sqlalchemy.orm import Session

from server.errors import GiaobanError
from server.live import agenda, captions, roomstate
from server.live.connections import LiveRoom
from server.live.recording import RoomMediaListener, close_track, start_recorder, stop_recorder
from server.live.rollcall import roll_call_infos
from server.live.roomstate import KeptState
from server.models import MeetingStatus
from server.rooms import messages as m
from server.rooms.room import Room, RoomError
from server.services import meetings
from server.services.context import Actor
from server.services.meetings import MeetingView

if TYPE_CHECKING:
    from server.live.meetings import LiveMeetings

log = logging.getLogger(__name__)


async def start_meeting(core: LiveMeetings, actor: Actor, meeting_id: int) -> MeetingView:
    def start(
        session: Session,
    ) -> tuple[MeetingView, int, bool, bool, KeptState | None, list[m.AgendaItemInfo]]:
        before = meetings.get_visible(session, actor, meeting_id).status
        meeting = meetings.start(session, actor, meeting_id)
        view = meetings.view(session, meeting)
        resumed = before is MeetingStatus.INTERRUPTED
        kept = roomstate.load(session, meeting_id) if resumed else None  # its floor and chat go on
        items = agenda.load(session, meeting_id)
        return view, meeting.chair_unit_id, meeting.record, resumed, kept, items

    if core.site is not None:
        await core.site.check()  # Redis down or no node alive: refused (503) before anything changes
    async with core.lock:
        view, chair_unit_id, record, resumed, kept, items = await core._db(start)
        if core.site is not None and not await _placed_here(core, meeting_id):
            log.info("meeting %s started by %s, held by another node", meeting_id, actor.username)
            return view
        media = core.room_factory(str(meeting_id), RoomMediaListener(core, meeting_id))
        live = LiveRoom(
            meeting_id, Room(meeting_id, view.title), media, chair_unit_id, batch_window_s=core.batch_window_s
        )
        live.roll_call = roll_call_infos(view)
        if kept is not None:
            roomstate.restore(live, kept)
        agenda.restore(live, items)
        core.rooms[meeting_id] = live
        if record:
            live.recorder = await start_recorder(core, meeting_id, resumed)
        if captions.wanted_from_start(core, record):
            with contextlib.suppress(RoomError):  # logged; the meeting starts without captions
                await captions.enable(core, live)
        log.info("meeting %s started by %s (record=%s)", meeting_id, actor.username, record)
        return view


async def end_meeting(core: LiveMeetings, actor: Actor | None, meeting_id: int) -> MeetingView:
    def end(session: Session) -> MeetingView:
        return meetings.view(session, meetings.end(session, actor, meeting_id))

    async with core.lock:
        view = await core._db(end)
        live = core.rooms.pop(meeting_id, None)
    if live is not None:
        await close_room(core, live)
    elif not await _held_elsewhere(core, meeting_id):
        from server.live.takeover import finish_unheld

        core.spawn(finish_unheld(core, meeting_id), must_finish=True)
    if core.site is not None:
        await core.site.release(meeting_id)
    log.info("meeting %s ended", meeting_id)
    await core.run_hooks(core.on_meeting_ended, meeting_id)
    return view


async def _placed_here(core: LiveMeetings, meeting_id: int) -> bool:
    """Place a just-started meeting (least-loaded node); True when this node holds it. Redis failing
    between the check and here leaves it unplaced: its first socket places it."""
    assert core.site is not None
    try:
        return core.site.is_self(await core.site.locate(meeting_id))
    except GiaobanError as exc:
        log.warning("meeting %s started, not placed yet (%s): its first join places it", meeting_id, exc)
        return False


async def _held_elsewhere(core: LiveMeetings, meeting_id: int) -> bool:
    """Whether another healthy node holds the meeting's room (it then closes it and finishes the
    recording itself, within a heartbeat)."""
    return core.site is not None and await core.site.held_elsewhere(meeting_id)


async def close_room(core: LiveMeetings, live: LiveRoom) -> None:
    await live.broadcast(m.MeetingEnded())
    await live.stop_batching()
    for conn in list(live.connections.values()):
        conn.closed = True
        try:
            await conn.close(m.CLOSE_ENDED, "meeting ended")
        except Exception:  # noqa: BLE001
            pass
    live.connections.clear()
    await live.media.close()
    stop_recorder(core, live, after=captions.stop(core, live))


async def close(core: LiveMeetings) -> None:
    """Shutdown: finish the recordings being finished, stop the background tasks, close every room's media
    and tracks (the meetings stay live in the database: the next start marks them interrupted)."""
    await core.wait_idle()
    await core.cancel_tasks()
    for live in list(core.rooms.values()):
        await live.stop_batching()
        await live.media.close()
        if live.captions is not None:
            await live.captions.kill()
        if live.recorder is not None:
            for pid in list(live.tracks):
                close_track(live, pid)
    core.rooms.clear()
