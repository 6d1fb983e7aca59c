"""Meetings whose room is not in this process: adopted here, closed when ended elsewhere, or finished.

On a site (``LiveMeetings.site``) a meeting is live in the database while its room lives on one node. A node
placed with a meeting it does not hold yet — started through another process, or whose node stopped
heartbeating — adopts it at its first socket (:func:`adopt`): the room is built from the database (title,
roll-call, lock, removals, and the floor and chat kept by ``roomstate``), and a recorded meeting records on
in new files on the same meeting clock (the recorder reopens the manifest, closes the dead node's tracks at
their last page and writes ``meeting_resumed``). A
meeting ended through another process is closed here within a heartbeat (:func:`close_ended_elsewhere`);
one placed on another node while this one was cut off from Redis is handed over (:func:`hand_over_moved`).
A recorded meeting ended while no node held it (interrupted and never resumed) still gets its tracks closed,
its mixed file and its transcription (:func:`finish_unheld`).
"""

from __future__ import annotations

import asyncio
import logging
from functools import partial
from typing import TYPE_CHECKING

from sqlalchemy import select
from sqlalchemy.orm import Session

from recordings.storage import MeetingRecorder
from server.live import agenda, roomstate
from server.live.connections import LiveRoom, quiet
from server.live.lifecycle import close_room
from server.live.recording import RoomMediaListener, close_track, finish_recording, start_recorder
from server.live.rollcall import roll_call_infos
from server.live.roomstate import KeptState
from server.models import (
    Meeting,
    MeetingRemoval,
    MeetingStatus,
    Participation,
    Recording,
    RecordingStatus,
    User,
    utcnow,
)
from server.rooms import messages as m
from server.rooms.room import Room
from server.services import meetings

if TYPE_CHECKING:
    from server.live.meetings import LiveMeetings

log = logging.getLogger(__name__)


async def adopt(core: LiveMeetings, meeting_id: int) -> LiveRoom | None:
    """Build the room of a meeting live in the database but held by no process here; None if not live."""

    def load(
        session: Session,
    ) -> (
        tuple[meetings.MeetingView, int, bool, bool, list[m.RemovedInfo], KeptState, list[m.AgendaItemInfo]]
        | None
    ):
        meeting = session.get(Meeting, meeting_id)
        if meeting is None or meeting.status is not MeetingStatus.LIVE:
            return None
        # attendance left open by the node that held it: those sockets died with it
        for part in session.scalars(
            select(Participation).where(
                Participation.meeting_id == meeting_id, Participation.left_at.is_(None)
            )
        ):
            part.left_at, part.leave_reason = utcnow(), "node_lost"
        view = meetings.view(session, meeting)
        removed, kept = removed_infos(session, meeting_id), roomstate.load(session, meeting_id)
        items = agenda.load(session, meeting_id)
        return view, meeting.chair_unit_id, meeting.record, meeting.locked, removed, kept, items

    async with core.lock:
        if meeting_id in core.rooms:
            return core.rooms[meeting_id]
        loaded = await core._db(load)
        if loaded is None:
            return None
        view, chair_unit_id, record, locked, removed, kept, items = loaded
        media = core.room_factory(str(meeting_id), RoomMediaListener(core, meeting_id))
        room = Room(meeting_id, view.title)
        room.locked = locked
        live = LiveRoom(meeting_id, room, media, chair_unit_id, batch_window_s=core.batch_window_s)
        live.roll_call = roll_call_infos(view)
        live.removed = {r.participant_id: r for r in removed}
        roomstate.restore(live, kept)
        agenda.restore(live, items)
        core.rooms[meeting_id] = live
        if record:
            resumed = core.layout.manifest_path(str(meeting_id)).exists()
            live.recorder = await start_recorder(core, meeting_id, resumed)
        log.warning("meeting %s adopted by this node (record=%s)", meeting_id, record)
        return live


def removed_infos(session: Session, meeting_id: int) -> list[m.RemovedInfo]:
    """The participants removed from the meeting and not readmitted (``meeting_removals``)."""
    rows = session.execute(
        select(MeetingRemoval, User)
        .join(User, User.id == MeetingRemoval.user_id)
        .where(MeetingRemoval.meeting_id == meeting_id)
        .order_by(MeetingRemoval.removed_at)
    )
    return [
        m.RemovedInfo(
            participant_id=f"u{user.id}",
            display_name=user.full_name or user.username,
            unit=user.unit.code,
            unit_name=user.unit.name,
            removed_at=removal.removed_at,
        )
        for removal, user in rows
    ]


async def close_ended_elsewhere(core: LiveMeetings) -> None:
    """Close the rooms held here of meetings no longer live in the database (ended through another
    process): their sockets get ``meeting_ended``, their recording is finished here."""
    ids = list(core.rooms)
    if not ids:
        return

    def live_ids(session: Session) -> set[int]:
        rows = session.scalars(
            select(Meeting.id).where(Meeting.id.in_(ids), Meeting.status == MeetingStatus.LIVE)
        )
        return set(rows)

    still = await core._db(live_ids)
    for meeting_id in ids:
        if meeting_id in still:
            continue
        async with core.lock:
            live = core.rooms.pop(meeting_id, None)
        if live is not None:
            log.info("meeting %s ended through another process: closing its room here", meeting_id)
            await close_room(core, live)


async def hand_over_moved(core: LiveMeetings) -> None:
    """Give up the rooms of meetings placed on another node while this one was cut off from Redis (the
    other node resumed them): each socket is sent ``redirect`` to that node and closed 4307, the media
    closed, the tracks closed where they stand (the recording goes on there; nothing is ended here)."""
    if core.site is None:
        return
    moved = await core.site.moved_elsewhere(list(core.rooms))
    for meeting_id, url in moved.items():
        async with core.lock:
            live = core.rooms.pop(meeting_id, None)
        if live is None:
            continue
        log.warning("meeting %s is held by another node now: its sockets go to %s", meeting_id, url)
        await live.stop_batching()
        conns = list(live.connections.values())
        live.connections.clear()
        for conn in conns:
            conn.closed = True
            await quiet(conn.send(m.Redirect(url=url)))
            await quiet(conn.close(m.CLOSE_REDIRECT, "redirect"))
        await live.media.close()
        if live.recorder is not None:
            for pid in list(live.tracks):
                close_track(live, pid)
        await core._db(partial(_left, [c.participation_id for c in conns], "moved"))


def _left(participation_ids: list[int], reason: str, session: Session) -> None:
    for participation_id in participation_ids:
        meetings.record_leave(session, participation_id, reason)


async def finish_unheld(core: LiveMeetings, meeting_id: int) -> None:
    """Finish the recording of a meeting ended while no process held its room: close the tracks a dead
    process left open, end the manifest, mix, hash, mark the row and queue the transcription (nothing
    when the meeting was not recorded or its recording is already finished)."""
    key = str(meeting_id)

    def pending(session: Session) -> bool:
        rec = session.scalar(select(Recording).where(Recording.meeting_id == meeting_id))
        return rec is not None and rec.status in (RecordingStatus.RECORDING, RecordingStatus.INTERRUPTED)

    if not core.layout.manifest_path(key).exists() or not await core._db(pending):
        return

    def close_manifest() -> None:
        recorder = MeetingRecorder.reopen(core.layout, key)
        if not recorder.ended:
            recorder.end(recorder.mark_interrupted())

    await asyncio.to_thread(close_manifest)
    log.warning("meeting %s ended while no node held it: finishing its recording here", meeting_id)
    await finish_recording(core, meeting_id)
