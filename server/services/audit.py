"""Writing the append-only audit log (inside the caller's transaction, so it commits with the change)."""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from server.models import AuditEvent, User
from server.services.context import Actor

log = logging.getLogger(__name__)


def record(
    session: Session,
    actor: Actor | User | None,
    action: str,
    object_type: str = "",
    object_id: object = "",
    details: dict[str, Any] | None = None,
    ip: str = "",
) -> None:
    actor_id = actor.id if actor is not None else None
    actor_name = actor.username if actor is not None else "system"
    session.add(
        AuditEvent(
            actor_id=actor_id,
            actor=actor_name,
            action=action,
            object_type=object_type,
            object_id=str(object_id),
            details=details or {},
            ip=ip,
        )
    )
    log.info("audit %s by %s on %s:%s", action, actor_name, object_type, object_id)


def list_events(
    session: Session, *, object_type: str | None = None, object_id: str | None = None, limit: int = 200
) -> list[AuditEvent]:
    stmt = select(AuditEvent).order_by(AuditEvent.id.desc()).limit(limit)
    if object_type:
        stmt = stmt.where(AuditEvent.object_type == object_type)
    if object_id:
        stmt = stmt.where(AuditEvent.object_id == object_id)
    return list(session.scalars(stmt))
