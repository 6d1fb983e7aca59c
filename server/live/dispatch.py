"""Client messages → their handlers: one entry per client message class of ``server.rooms.messages``.

``HANDLERS`` is exhaustive (``tests/server/test_live_core.py`` fails when a client message type has none) and
typed: ``_entry`` pairs a message class with a handler taking that class, so mypy checks each pair. A chair
message (``CHAIR_MESSAGES``) is refused before its handler unless the sender may moderate; after a message
that may change the floor, and after each chat line, what a node resuming the meeting needs is saved
(``roomstate``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, TypeVar

from server.live import agenda, captions, wall
from server.live.connections import Connection, LiveRoom, quiet
from server.live.quality import start_reporting
from server.live.recording import sync_audio
from server.live.rollcall import set_roll_call
from server.live.roomstate import FLOOR_MESSAGES, save_chat, save_floor
from server.models import RollCallStatus
from server.rooms import messages as m
from server.rooms.room import Participant, RoomError

if TYPE_CHECKING:
    from server.live.meetings import LiveMeetings

M = TypeVar("M")
Handler = Callable[["LiveMeetings", LiveRoom, Connection, Any], Awaitable[None]]


def _entry(
    cls: type[M], fn: Callable[[LiveMeetings, LiveRoom, Connection, M], Awaitable[None]]
) -> tuple[type, Handler]:
    return cls, fn


async def dispatch(core: LiveMeetings, live: LiveRoom, conn: Connection, msg: Any) -> None:
    if msg.type in m.CHAIR_MESSAGES:
        live.room.require_moderator(conn.participant_id)
    await HANDLERS[type(msg)](core, live, conn, msg)
    if msg.type in FLOOR_MESSAGES:  # kept for a node resuming the meeting (server/live/roomstate.py)
        await save_floor(core, live)


def updated(live: LiveRoom, *ps: Participant) -> None:
    for p in ps:
        sync_audio(live, p)
        live.publish_participant(m.ParticipantUpdated(participant=p.info()))


def pin(live: LiveRoom) -> None:
    """Last-N pins the chair's hall (the chairing unit's participants, in join order) first, then whoever
    has the floor."""
    room = live.room
    pinned = [p.id for p in room.participants.values() if p.is_chair_unit]
    if room.floor is not None and room.floor not in pinned:
        pinned.append(room.floor)
    live.media.set_pinned(pinned)


# ---- own media and state -------------------------------------------------------------------------------
async def on_join(core: LiveMeetings, live: LiveRoom, conn: Connection, msg: m.Join) -> None:
    pid = conn.participant_id
    p = live.room.get(pid)
    live.room.set_audio_only(pid, msg.audio_only)
    thumbnail = msg.publish_thumbnail and msg.publish_video and p.can_publish
    async with conn.negotiation:
        offer = await live.media.join(
            pid,
            publishes_video=msg.publish_video and p.can_publish,
            audio_only=msg.audio_only,
            username=p.username,
            unit=p.unit_code,
            publishes_thumbnail=thumbnail,
        )
        conn.offer_outstanding = True
        sync_audio(live, p)
        await conn.send(core.offer_message(live, offer))
    if conn.wall_page is not None:  # asked for before its media joined: its thumbnails follow now
        wall.apply(live, conn, conn.wall_shown)
    conn.publishes_thumbnail = thumbnail
    conn.thumbnail_sending = None  # a new peer connection sends its thumbnail until told otherwise
    await wall.sync_senders(live)
    start_reporting(live)  # link_quality every 2 s (server/live/quality.py)


async def on_answer(core: LiveMeetings, live: LiveRoom, conn: Connection, msg: m.Answer) -> None:
    async with conn.negotiation:
        await live.media.answer(conn.participant_id, msg.sdp)
        conn.offer_outstanding = False
        wanted, conn.renegotiate_wanted = conn.renegotiate_wanted, False
    if wanted:
        await core.renegotiate(live.meeting_id, conn.participant_id)


async def on_ice(core: LiveMeetings, live: LiveRoom, conn: Connection, msg: m.IceCandidate) -> None:
    await live.media.add_ice_candidate(conn.participant_id, msg.candidate, msg.sdp_mid, msg.sdp_mline_index)


async def on_mute(core: LiveMeetings, live: LiveRoom, conn: Connection, msg: m.SetMute) -> None:
    updated(live, live.room.set_mute(conn.participant_id, msg.audio, msg.video))


async def on_raise_hand(core: LiveMeetings, live: LiveRoom, conn: Connection, msg: m.RaiseHand) -> None:
    updated(live, live.room.raise_hand(conn.participant_id, msg.raised))


async def on_chat(core: LiveMeetings, live: LiveRoom, conn: Connection, msg: m.SendChat) -> None:
    line = live.room.add_chat(conn.participant_id, msg.text)
    await live.broadcast(m.ChatOut(message=line))
    await save_chat(core, live, conn.actor.unit_id, line)


async def on_audio_only(core: LiveMeetings, live: LiveRoom, conn: Connection, msg: m.SetAudioOnly) -> None:
    pid = conn.participant_id
    p = live.room.set_audio_only(pid, msg.enabled)
    if pid in live.media.participant_ids():  # else its join applies it
        live.media.set_audio_only(pid, msg.enabled)
    updated(live, p)


async def on_screen_share(core: LiveMeetings, live: LiveRoom, conn: Connection, msg: m.ScreenShare) -> None:
    pid, room = conn.participant_id, live.room
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
        await conn.send(core.offer_message(live, offer))
    updated(live, p)


async def on_ping(core: LiveMeetings, live: LiveRoom, conn: Connection, msg: m.Ping) -> None:
    await conn.send(m.Pong())


async def on_leave(core: LiveMeetings, live: LiveRoom, conn: Connection, msg: m.Leave) -> None:
    await core.disconnect(conn, "left")
    await quiet(conn.close(1000, "left"))


async def on_hello(core: LiveMeetings, live: LiveRoom, conn: Connection, msg: m.Hello) -> None:
    conn.roll_call_delta = m.ROLL_CALL_DELTA in msg.features


async def on_wall_page(core: LiveMeetings, live: LiveRoom, conn: Connection, msg: m.WallPage) -> None:
    await wall.page(live, conn, msg.page, core.settings.wall_page_size)


async def on_get_roll_call(core: LiveMeetings, live: LiveRoom, conn: Connection, msg: m.GetRollCall) -> None:
    await live.flush()  # the full list must not be followed by older entries
    await conn.send(m.RollCallUpdate(entries=list(live.roll_call)))


async def on_captions(core: LiveMeetings, live: LiveRoom, conn: Connection, msg: m.SetCaptions) -> None:
    if not isinstance(msg.enabled, bool):
        raise RoomError("bad_captions", captions.BAD_CAPTIONS_MESSAGE)
    if msg.enabled and core.settings.live_captions == "off":
        raise RoomError("captions_off", captions.CAPTIONS_OFF_MESSAGE)
    conn.captions = msg.enabled
    if msg.enabled:
        await captions.enable(core, live)


# ---- chair controls -----------------------------------------------------------------------------------
async def on_mute_participant(
    core: LiveMeetings, live: LiveRoom, conn: Connection, msg: m.MuteParticipant
) -> None:
    target = live.room.mute_participant(conn.participant_id, msg.participant_id)
    pin(live)  # muting the floor holder takes the floor back
    updated(live, target)
    await live.flush()
    other = live.connections.get(target.id)
    if other is not None:
        await other.send(m.MutedByChair())


async def on_mute_all(core: LiveMeetings, live: LiveRoom, conn: Connection, msg: m.MuteAll) -> None:
    changed = live.room.mute_all(conn.participant_id)
    updated(live, *changed)
    await live.flush()
    for p in changed:
        other = live.connections.get(p.id)
        if other is not None:
            await other.send(m.MutedByChair())
    pin(live)
    await live.broadcast(m.Floor(participant_id=None))


async def on_give_floor(core: LiveMeetings, live: LiveRoom, conn: Connection, msg: m.GiveFloor) -> None:
    updated(live, *live.room.give_floor(conn.participant_id, msg.participant_id))
    pin(live)
    await live.broadcast(m.Floor(participant_id=live.room.floor))


async def on_floor_control(core: LiveMeetings, live: LiveRoom, conn: Connection, msg: m.FloorControl) -> None:
    updated(live, *live.room.set_floor_control(conn.participant_id, msg.enabled))
    await live.broadcast(m.FloorControlState(enabled=msg.enabled))


async def on_allow_screen_share(
    core: LiveMeetings, live: LiveRoom, conn: Connection, msg: m.AllowScreenShare
) -> None:
    was_sharing = live.room.get(msg.participant_id).screen_sharing
    target = live.room.allow_screen_share(conn.participant_id, msg.participant_id, msg.allowed)
    if was_sharing and not target.screen_sharing and target.id in live.media.participant_ids():
        live.media.withdraw_screen_share(target.id)  # enforced here, not only by its page
    updated(live, target)


async def on_remove(core: LiveMeetings, live: LiveRoom, conn: Connection, msg: m.RemoveParticipant) -> None:
    if msg.participant_id == conn.participant_id:
        raise RoomError("forbidden", "Không thể tự mời mình ra khỏi cuộc họp.")
    p = live.room.get(msg.participant_id)
    info = m.RemovedInfo(
        participant_id=p.id,
        display_name=p.display_name,
        unit=p.unit_code,
        unit_name=p.unit_name,
        removed_at=dt.datetime.now(dt.UTC),
    )
    live.removed[p.id] = info  # before the close: a reconnect racing it is refused already
    await core.persist_removal(live.meeting_id, p.user_id, conn.actor.id)
    target_conn = live.connections.get(msg.participant_id)
    if target_conn is not None:
        await core.disconnect(target_conn, "removed")
        await quiet(target_conn.close(m.CLOSE_REMOVED, "removed by the chair"))
    live.room.remove(msg.participant_id)
    pin(live)
    await live.to_moderators(live.removed_list())


async def on_readmit(core: LiveMeetings, live: LiveRoom, conn: Connection, msg: m.ReadmitParticipant) -> None:
    if live.removed.pop(msg.participant_id, None) is None:
        raise RoomError("unknown_participant", "Điểm cầu này không bị mời ra khỏi cuộc họp.")
    await core.persist_readmission(live.meeting_id, msg.participant_id)
    await live.to_moderators(live.removed_list())


async def on_lock(core: LiveMeetings, live: LiveRoom, conn: Connection, msg: m.LockMeeting) -> None:
    live.room.lock(conn.participant_id, msg.locked)
    await live.broadcast(m.Locked(locked=msg.locked))


async def on_roll_call(core: LiveMeetings, live: LiveRoom, conn: Connection, msg: m.RollCall) -> None:
    await set_roll_call(core, conn.actor, live.meeting_id, msg.unit, RollCallStatus(msg.status), msg.reason)


async def on_agenda_item(core: LiveMeetings, live: LiveRoom, conn: Connection, msg: m.OpenAgendaItem) -> None:
    await agenda.open_item(core, live, msg.item_id)


async def on_end(core: LiveMeetings, live: LiveRoom, conn: Connection, msg: m.EndMeeting) -> None:
    await core.end_meeting(conn.actor, live.meeting_id)


HANDLERS: dict[type, Handler] = dict(
    [
        _entry(m.Join, on_join),
        _entry(m.Answer, on_answer),
        _entry(m.IceCandidate, on_ice),
        _entry(m.SetMute, on_mute),
        _entry(m.RaiseHand, on_raise_hand),
        _entry(m.SendChat, on_chat),
        _entry(m.SetAudioOnly, on_audio_only),
        _entry(m.ScreenShare, on_screen_share),
        _entry(m.Ping, on_ping),
        _entry(m.Leave, on_leave),
        _entry(m.Hello, on_hello),
        _entry(m.GetRollCall, on_get_roll_call),
        _entry(m.WallPage, on_wall_page),
        _entry(m.SetCaptions, on_captions),
        _entry(m.MuteParticipant, on_mute_participant),
        _entry(m.MuteAll, on_mute_all),
        _entry(m.GiveFloor, on_give_floor),
        _entry(m.FloorControl, on_floor_control),
        _entry(m.AllowScreenShare, on_allow_screen_share),
        _entry(m.RemoveParticipant, on_remove),
        _entry(m.ReadmitParticipant, on_readmit),
        _entry(m.LockMeeting, on_lock),
        _entry(m.RollCall, on_roll_call),
        _entry(m.EndMeeting, on_end),
        _entry(m.OpenAgendaItem, on_agenda_item),
    ]
)
