"""Live meetings in this process: opening and closing rooms around the meeting services.

The HTTP routes and the signaling socket call this; it owns the in-memory rooms (``server.rooms``) and their
media (``server.media``), and runs the database side through ``server.services``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from server.config import Settings
from server.db import Database
from server.models import RollCallStatus
from server.services import meetings
from server.services.context import Actor
from server.services.meetings import MeetingView, RollCallEntry

log = logging.getLogger(__name__)

EndHook = Callable[[int], Any]


class LiveMeetings:
    def __init__(self, settings: Settings, db: Database) -> None:
        self.settings = settings
        self.db = db
        self.rooms: dict[int, Any] = {}
        self.on_meeting_ended: list[EndHook] = []
        self._lock = asyncio.Lock()

    async def start_meeting(self, actor: Actor, meeting_id: int) -> MeetingView:
        async with self._lock:
            with self.db.session() as session:
                meeting = meetings.start(session, actor, meeting_id)
                view = meetings.view(session, meeting)
            log.info("meeting %s started by %s", meeting_id, actor.username)
            return view

    async def end_meeting(self, actor: Actor | None, meeting_id: int) -> MeetingView:
        async with self._lock:
            with self.db.session() as session:
                meeting = meetings.end(session, actor, meeting_id)
                view = meetings.view(session, meeting)
            log.info("meeting %s ended", meeting_id)
        for hook in self.on_meeting_ended:
            result = hook(meeting_id)
            if asyncio.iscoroutine(result):
                await result
        return view

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
        return entry

    async def close(self) -> None:
        self.rooms.clear()
