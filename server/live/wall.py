"""The chairing unit's wall of connection points: every other unit's thumbnail, a page at a time.

Each connection point's browser publishes, besides its camera, a low-resolution copy of it (source
"thumbnail", ~150 kb/s at 15 fps: aiortc cannot receive simulcast, so the browser encodes the second layer as
a second track). A socket of the chairing unit asks for a page (``wall_page``); the SFU then forwards it the
thumbnails of that page only (``MediaRoom.set_wall``), and the full camera of the hall and the floor holder as
before (last-N, pinned). The page's content follows joins and leaves; a page that no longer exists becomes the
last one. Paging is rate-limited per socket. A connection point whose thumbnail no wall shows is told to stop
encoding it (``thumbnail`` ``send: false``) and to resume once a page shows it, or once a viewer on a thin
link receives it in place of the camera (the low layer, server/media/downlink.py): its link carries the second
layer only while someone needs it.
"""

from __future__ import annotations

import math
import time

from server.live.connections import Connection, LiveRoom
from server.rooms import messages as m
from server.rooms.room import Participant, RoomError

WALL_RATE_WINDOW_S = 2.0
WALL_RATE_MAX = 6  # page requests per socket within the window (a chair pages at most a few times a second)


def wall_units(live: LiveRoom) -> list[Participant]:
    """Who the wall shows: every connected participant outside the chairing unit, in unit order."""
    others = [p for p in live.room.participants.values() if p.connected and not p.is_chair_unit]
    return sorted(others, key=lambda p: (p.unit_code, p.display_name, p.id))


def may_show_wall(p: Participant) -> bool:
    return p.is_chair_unit or p.can_moderate


async def page(live: LiveRoom, conn: Connection, requested: int, per_page: int) -> None:
    """The ``wall_page`` request of a socket: check it, show that page, reply ``wall``."""
    p = live.room.get(conn.participant_id)
    if not may_show_wall(p):
        raise RoomError("forbidden", "Chỉ đơn vị chủ trì xem được bức tường điểm cầu.")
    now = time.monotonic()
    conn.wall_requests = [t for t in conn.wall_requests if now - t < WALL_RATE_WINDOW_S]
    if len(conn.wall_requests) >= WALL_RATE_MAX:
        raise RoomError("rate_limited", "Chuyển trang quá nhanh, vui lòng chờ giây lát rồi thử lại.")
    conn.wall_requests.append(now)
    pages = max(1, math.ceil(len(wall_units(live)) / per_page))
    if not 1 <= requested <= pages:
        raise RoomError("no_such_page", f"Không có trang {requested}: bức tường có {pages} trang.")
    conn.wall_page = requested
    await show(live, conn, per_page, force=True)
    await sync_senders(live)


async def show(live: LiveRoom, conn: Connection, per_page: int, *, force: bool = False) -> None:
    """Forward this socket its page's thumbnails and send it ``wall`` when the page changed (or `force`)."""
    if conn.wall_page is None or conn.closed:
        return
    units = wall_units(live)
    pages = max(1, math.ceil(len(units) / per_page))
    conn.wall_page = min(conn.wall_page, pages)
    start = (conn.wall_page - 1) * per_page
    shown = units[start : start + per_page]
    ids = tuple(p.id for p in shown)
    apply(live, conn, ids)
    counts = (pages, len(units))
    if ids == conn.wall_shown and counts == conn.wall_counts and not force:
        return
    conn.wall_shown, conn.wall_counts = ids, counts
    await conn.send(
        m.Wall(
            page=conn.wall_page,
            pages=pages,
            per_page=per_page,
            total=len(units),
            units=[
                m.WallUnit(participant_id=p.id, display_name=p.display_name, unit=p.unit_code,
                           unit_name=p.unit_name)
                for p in shown
            ],
        )
    )


def apply(live: LiveRoom, conn: Connection, ids: tuple[str, ...]) -> None:
    """Tell the media room whose thumbnails this socket receives (once it has joined media)."""
    if conn.participant_id in live.media.participant_ids():
        live.media.set_wall(conn.participant_id, ids)


async def refresh(live: LiveRoom, per_page: int) -> None:
    """A participant came or went: every open wall follows, and the publishers of thumbnails are told."""
    for conn in list(live.connections.values()):
        if conn.wall_page is not None:
            await show(live, conn, per_page)
    await sync_senders(live)


async def sync_senders(live: LiveRoom) -> None:
    """Tell each publisher of a thumbnail whether a wall shows it now, or a viewer on a thin link receives it
    in place of its camera (`LiveRoom.low_layers`, server/live/quality.py); only when that changed."""
    walls = [c for c in live.connections.values() if c.wall_page is not None and not c.closed]
    shown = {pid for c in walls for pid in c.wall_shown} | live.low_layers
    for pid, conn in list(live.connections.items()):
        if conn.closed or not conn.publishes_thumbnail:
            continue
        wanted = pid in shown
        if conn.thumbnail_sending != wanted:
            conn.thumbnail_sending = wanted
            await conn.send(m.ThumbnailState(send=wanted))
