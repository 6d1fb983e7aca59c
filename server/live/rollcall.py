"""Roll-call in a live meeting: the room keeps the entries in memory and changes them one unit at a time.

The welcome carries the full roll-call; a change (a unit joined and is marked present online, or the chair
called it) is applied to the room and queued as that one entry (``LiveRoom.publish_roll_call``); a client asks
for the full list again with ``get_roll_call``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy.orm import Session

from server.models import MeetingUnit, RollCallStatus
from server.rooms import messages as m
from server.services import meetings
from server.services.context import Actor
from server.services.meetings import MeetingView, RollCallEntry

if TYPE_CHECKING:
    from server.live.meetings import LiveMeetings


def roll_call_info(e: RollCallEntry) -> m.RollCallInfo:
    return m.RollCallInfo(
        unit=e.unit, unit_name=e.unit_name, status=e.status.value, reason=e.reason, status_at=e.status_at
    )


def roll_call_infos(view: MeetingView) -> list[m.RollCallInfo]:
    return [roll_call_info(e) for e in view.roll_call]


def invitation_info(inv: MeetingUnit) -> m.RollCallInfo:
    return roll_call_info(meetings.roll_call_entry(inv))


async def set_roll_call(
    core: LiveMeetings, actor: Actor, meeting_id: int, unit: str, status: RollCallStatus, reason: str
) -> RollCallEntry:
    def write(session: Session) -> tuple[RollCallEntry, m.RollCallInfo]:
        inv = meetings.set_roll_call(session, actor, meeting_id, unit, status, reason)
        entry = meetings.roll_call_entry(inv)
        return entry, roll_call_info(entry)

    entry, info = await core._db(write)
    live = core.rooms.get(meeting_id)
    if live is not None:
        live.publish_roll_call(info)
    return entry
