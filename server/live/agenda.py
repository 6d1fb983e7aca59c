"""The agenda in a live meeting: the chair (or clerk) opens an item (``agenda_item``); its start on the
meeting clock (``LiveRoom.clock_s()``, the recording's when it records) is written to
``AgendaItem.starts_at_s``, where the composed video's chapters (``server/services/video_jobs.py``) and the
minutes' grouping of what was said (``server/services/minutes_content.py``) read it, and every socket is told
(``agenda``).

An item keeps the start of its first opening: going back to an item (a question on it after the next one) does
not move its chapter. An item left after less than ``SLIP_S`` open in all is taken as a slip of the chair's
hand: its start is cleared (no chapter), and opening it again starts it anew. The write runs off the event
loop (``core._db``); after a node resumes the meeting, it is on the item started last.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from sqlalchemy import select
from sqlalchemy.orm import Session

from server.live.connections import LiveRoom
from server.models import AgendaItem, Unit
from server.rooms import messages as m
from server.rooms.room import RoomError

if TYPE_CHECKING:
    from server.live.meetings import LiveMeetings

log = logging.getLogger(__name__)

SLIP_S = 10.0
UNKNOWN_ITEM_MESSAGE = "Không có mục này trong chương trình họp."


def load(session: Session, meeting_id: int) -> list[m.AgendaItemInfo]:
    """The meeting's agenda items in their order, with the starts already written."""
    rows = session.execute(
        select(AgendaItem, Unit.code)
        .outerjoin(Unit, Unit.id == AgendaItem.presenter_unit_id)
        .where(AgendaItem.meeting_id == meeting_id)
        .order_by(AgendaItem.position, AgendaItem.id)
    ).all()
    return [
        m.AgendaItemInfo(
            id=a.id, position=a.position, title=a.title, presenter_unit=code, starts_at_s=a.starts_at_s
        )
        for a, code in rows
    ]


def restore(live: LiveRoom, items: list[m.AgendaItemInfo]) -> None:
    """Put the loaded agenda into a room no one has joined yet: the meeting is on the item started last."""
    live.agenda = items
    started = [a for a in items if a.starts_at_s is not None]
    if started:
        last = max(started, key=lambda a: a.starts_at_s or 0.0)
        live.agenda_current, live.agenda_opened_s = last.id, last.starts_at_s or 0.0


def message(live: LiveRoom) -> m.Agenda:
    return m.Agenda(items=list(live.agenda), current=live.agenda_current)


async def open_item(core: LiveMeetings, live: LiveRoom, item_id: int | None) -> None:
    """Move the meeting to ``item_id`` (None: to no item): a first opening writes the item's start; leaving an
    item open less than ``SLIP_S`` in all clears it."""
    if item_id is not None and all(a.id != item_id for a in live.agenda):
        raise RoomError("unknown_agenda_item", UNKNOWN_ITEM_MESSAGE)
    if item_id == live.agenda_current:
        return
    now = round(live.clock_s(), 3)
    starts: dict[int, float | None] = {}
    previous = live.agenda_current
    if previous is not None:
        held = live.agenda_held_s.get(previous, 0.0) + max(0.0, now - live.agenda_opened_s)
        live.agenda_held_s[previous] = held
        if held < SLIP_S:
            starts[previous] = None
            live.agenda_held_s.pop(previous)
    live.agenda_current, live.agenda_opened_s = item_id, now
    if item_id is not None and _item(live, item_id).starts_at_s is None:
        starts[item_id] = now
    if starts:
        live.agenda = [
            a.model_copy(update={"starts_at_s": starts[a.id]}) if a.id in starts else a for a in live.agenda
        ]
        await core._db(lambda session: _write_starts(session, live.meeting_id, starts))
        log.info(
            "meeting %s: agenda item %s opened at %.1f s (starts %s)", live.meeting_id, item_id, now, starts
        )
    await live.broadcast(message(live))


def _item(live: LiveRoom, item_id: int) -> m.AgendaItemInfo:
    return next(a for a in live.agenda if a.id == item_id)


def _write_starts(session: Session, meeting_id: int, starts: dict[int, float | None]) -> None:
    for item_id, start_s in starts.items():
        item = session.get(AgendaItem, item_id)
        if item is not None and item.meeting_id == meeting_id:
            item.starts_at_s = start_s
