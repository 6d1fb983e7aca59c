"""In-app notifications: the outbox table, written once per ``dedupe_key``, read per unit, pushed live (the
sockets waiting for a unit's or a user's notifications are woken after the commit, see server/bus.py).

A notification is addressed to a unit (every account of the unit sees it) or to one user. ``payload`` holds
``{"text": <Vietnamese sentence>, "data": {...}}``. Writing is idempotent: :func:`notify` skips a
``dedupe_key`` already written, so two processes that race to send the same reminder end up with one row.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel
from sqlalchemy import or_, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from server.errors import NotFound
from server.models import Notification, utcnow
from server.services.context import Actor

log = logging.getLogger(__name__)

MAX_LIST = 200
WRITTEN_KEY = "giaoban.notifications_written"  # session.info: whom this transaction's notifications are for


@dataclass(frozen=True)
class Recipient:
    unit_id: int | None
    user_id: int | None


class NotificationView(BaseModel):
    id: int
    kind: str
    text: str
    data: dict[str, Any]
    created_at: dt.datetime
    read_at: dt.datetime | None


class NotificationPush(BaseModel):
    """The WebSocket message for one new notification."""

    type: str = "notification"
    id: int
    kind: str
    text: str
    data: dict[str, Any]


def view(n: Notification) -> NotificationView:
    return NotificationView(
        id=n.id,
        kind=n.kind,
        text=str(n.payload.get("text", "")),
        data=dict(n.payload.get("data", {})),
        created_at=n.created_at,
        read_at=n.read_at,
    )


def push_message(n: Notification) -> NotificationPush:
    return NotificationPush(
        id=n.id, kind=n.kind, text=str(n.payload.get("text", "")), data=dict(n.payload.get("data", {}))
    )


def notify(
    session: Session,
    *,
    dedupe_key: str,
    kind: str,
    text: str,
    data: dict[str, Any],
    unit_id: int | None = None,
    user_id: int | None = None,
) -> bool:
    """Write one notification unless one with ``dedupe_key`` exists. True when it was written now.

    ``INSERT ... ON CONFLICT (dedupe_key) DO NOTHING`` on SQLite and PostgreSQL: a process racing another one
    for the same key waits for it and then writes nothing, without an error or a rolled-back transaction.
    """
    values = {
        "dedupe_key": dedupe_key,
        "unit_id": unit_id,
        "user_id": user_id,
        "kind": kind,
        "payload": {"text": text, "data": data},
    }
    dialect = session.get_bind().dialect.name
    if dialect in ("sqlite", "postgresql"):
        insert = sqlite_insert if dialect == "sqlite" else pg_insert
        stmt = (
            insert(Notification)
            .values(**values)
            .on_conflict_do_nothing(index_elements=["dedupe_key"])
            .returning(Notification.id)
        )
        written = session.execute(stmt).scalar() is not None
    elif session.scalar(select(Notification.id).where(Notification.dedupe_key == dedupe_key)) is not None:
        written = False
    else:
        try:
            with session.begin_nested():
                session.add(Notification(**values))
            written = True
        except IntegrityError:
            written = False
    if written:
        log.info("notification %s (%s) to unit %s user %s", dedupe_key, kind, unit_id, user_id)
        # read after the commit by server.bus: the sockets waiting for them are woken
        session.info.setdefault(WRITTEN_KEY, []).append(Recipient(unit_id, user_id))
    return written


def _mine(actor: Actor) -> Any:
    return or_(Notification.unit_id == actor.unit_id, Notification.user_id == actor.id)


def list_for(
    session: Session, actor: Actor, *, unread_only: bool = False, limit: int = MAX_LIST
) -> list[Notification]:
    stmt = select(Notification).where(_mine(actor)).order_by(Notification.id.desc()).limit(limit)
    if unread_only:
        stmt = stmt.where(Notification.read_at.is_(None))
    return list(session.scalars(stmt))


def latest_id(session: Session) -> int:
    """The newest notification id (of anyone: the mark is taken before the socket knows whose it is); a
    socket pushes only those after it."""
    return int(session.scalar(select(Notification.id).order_by(Notification.id.desc()).limit(1)) or 0)


def newer_than(session: Session, actor: Actor, after_id: int) -> list[Notification]:
    """The actor's notifications with an id above ``after_id``, oldest first; marks them delivered."""
    rows = list(
        session.scalars(
            select(Notification)
            .where(_mine(actor), Notification.id > after_id)
            .order_by(Notification.id)
            .limit(MAX_LIST)
        )
    )
    now = utcnow()
    for n in rows:
        if n.delivered_at is None:
            n.delivered_at = now
    return rows


def mark_read(session: Session, actor: Actor, notification_id: int) -> Notification:
    n = session.get(Notification, notification_id)
    if n is None or not (n.unit_id == actor.unit_id or n.user_id == actor.id):
        raise NotFound(
            f"Không tìm thấy thông báo {notification_id}.", details={"notification": notification_id}
        )
    if n.read_at is None:
        n.read_at = utcnow()
    return n
