"""The room state a node resuming a meeting needs besides the roll-call, lock and removals: floor and chat.

Kept in the database, like the roll-call, not in Redis: the node adopting a meeting after its node died reads
everything it rebuilds in one transaction (:func:`load`), a Redis outage — when the site is most likely to be
failing over — loses nothing, and the chat stays part of the meeting's record after it ends. The writes are
few (people's clicks and chat lines) and run off the event loop:

- the floor (``meeting_floors``): the holder, floor control, whether the holder's microphone was open and
  the raised hands, written as one row after each client message that may change it
  (:data:`FLOOR_MESSAGES`) when it did change (:func:`save_floor`: concurrent changes coalesce, the last
  state wins);
- each chat line (``chat_messages``) once it has gone out (:func:`save_chat`).

:func:`restore` puts them back into a new :class:`~server.rooms.room.Room`: the floor holder keeps the floor
(its microphone is not closed by floor control when it comes back, and opened again if it was open),
raised hands are raised again as their owners come back, and the last ``CHAT_HISTORY`` lines are in every
welcome's ``chat``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING

from sqlalchemy import select
from sqlalchemy.orm import Session

from server.live.connections import LiveRoom
from server.models import ChatMessage, MeetingFloor, Unit, User
from server.rooms import messages as m
from server.rooms.room import CHAT_HISTORY, Room

if TYPE_CHECKING:
    from server.live.meetings import LiveMeetings

log = logging.getLogger(__name__)

# client messages after which the floor is saved if it changed (a mute matters when the holder sends it)
FLOOR_MESSAGES = frozenset(
    {
        "mute",
        "raise_hand",
        "give_floor",
        "mute_participant",
        "mute_all",
        "floor_control",
        "remove_participant",
    }
)


@dataclass(frozen=True)
class FloorState:
    holder: str | None  # participant id ("u<user id>")
    floor_control: bool
    holder_mic_open: bool
    hands: tuple[str, ...]  # raised: those present in join order, then those not back yet


@dataclass(frozen=True)
class KeptState:
    floor: FloorState | None  # None: never saved (nothing changed since the meeting started)
    chat: list[m.ChatInfo]


def floor_of(room: Room) -> FloorState:
    holder = room.participants.get(room.floor) if room.floor is not None else None
    if holder is not None:
        mic_open = not holder.audio_muted
    else:  # the holder is not back yet after a takeover: what was saved before still holds
        mic_open = room.floor is not None and room.returning_floor_mic_open
    hands = [p.id for p in room.participants.values() if p.hand_raised]
    hands += [pid for pid in room.returning_hands if pid not in room.participants]
    return FloorState(room.floor, room.floor_control, mic_open, tuple(hands))


def _user_id(pid: str) -> int:
    return int(pid.removeprefix("u"))


def _write_floor(meeting_id: int, state: FloorState, session: Session) -> None:
    row = session.get(MeetingFloor, meeting_id)
    if row is None:
        row = MeetingFloor(meeting_id=meeting_id)
        session.add(row)
    row.holder_user_id = _user_id(state.holder) if state.holder is not None else None
    row.floor_control = state.floor_control
    row.holder_mic_open = state.holder_mic_open
    row.hand_user_ids = [_user_id(pid) for pid in state.hands]


async def save_floor(core: LiveMeetings, live: LiveRoom) -> None:
    """Write the room's floor if it changed since it was last written. A write in flight takes the changes
    made meanwhile on its next turn (one writer per room, the latest state); a failed write is logged and
    tried again at the next change (the meeting goes on)."""
    live.floor_dirty = True
    if live.floor_saving:
        return
    live.floor_saving = True
    try:
        while live.floor_dirty:
            live.floor_dirty = False
            state = floor_of(live.room)
            if state == live.floor_saved:
                continue
            try:
                await core._db(partial(_write_floor, live.meeting_id, state))
            except Exception as exc:  # noqa: BLE001 - the meeting goes on; the next change writes it again
                log.warning("meeting %s: the floor was not saved: %s", live.meeting_id, exc)
                return
            live.floor_saved = state
    finally:
        live.floor_saving = False


async def save_chat(core: LiveMeetings, live: LiveRoom, unit_id: int, line: m.ChatInfo) -> None:
    """Keep one chat line that went out (logged, not raised, if the database refuses it)."""

    def write(session: Session) -> None:
        session.add(
            ChatMessage(
                meeting_id=live.meeting_id,
                user_id=_user_id(line.participant_id),
                unit_id=unit_id,
                text=line.text,
                sent_at=line.at,
            )
        )

    try:
        await core._db(write)
    except Exception as exc:  # noqa: BLE001 - the line went out; only a later takeover would miss it
        log.warning("meeting %s: a chat line was not saved: %s", live.meeting_id, exc)


def load(session: Session, meeting_id: int) -> KeptState:
    """The floor and the last ``CHAT_HISTORY`` chat lines kept for ``meeting_id``."""
    row = session.get(MeetingFloor, meeting_id)
    floor = None
    if row is not None:
        floor = FloorState(
            holder=f"u{row.holder_user_id}" if row.holder_user_id is not None else None,
            floor_control=row.floor_control,
            holder_mic_open=row.holder_mic_open,
            hands=tuple(f"u{uid}" for uid in row.hand_user_ids),
        )
    rows = session.execute(
        select(ChatMessage, User, Unit)
        .join(User, User.id == ChatMessage.user_id)
        .join(Unit, Unit.id == ChatMessage.unit_id)
        .where(ChatMessage.meeting_id == meeting_id)
        .order_by(ChatMessage.sent_at.desc(), ChatMessage.id.desc())
        .limit(CHAT_HISTORY)
    ).all()
    chat = [
        m.ChatInfo(
            participant_id=f"u{user.id}", username=user.username, unit=unit.code, text=c.text, at=c.sent_at
        )
        for c, user, unit in reversed(rows)
    ]
    return KeptState(floor, chat)


def restore(live: LiveRoom, kept: KeptState) -> None:
    """Put the kept floor and chat into a room no one has joined yet."""
    room = live.room
    room.chat.extend(kept.chat)
    if kept.floor is not None:
        room.floor = kept.floor.holder
        room.floor_control = kept.floor.floor_control
        room.returning_floor_mic_open = kept.floor.holder is not None and kept.floor.holder_mic_open
        room.returning_hands = list(kept.floor.hands)
        live.floor_saved = kept.floor
