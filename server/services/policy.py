"""Who may do what — the one place where roles and units are checked.

==================  ===========================================================================
ability             who
==================  ===========================================================================
see a meeting       admin; anyone whose unit chairs it or is invited to it
manage a meeting    admin; chair or clerk of the chairing unit (edit, invite, roll-call)
start / end         admin; chair of the chairing unit
create a meeting    admin; chair or clerk, for their own unit as chairing unit
publish media       everyone who may see the meeting except viewers (listen only)
==================  ===========================================================================
"""

from __future__ import annotations

from collections.abc import Collection

from server.errors import Forbidden
from server.models import Role
from server.services.context import Actor

MANAGER_ROLES = frozenset({Role.CHAIR, Role.CLERK})


def can_see(actor: Actor, chair_unit_id: int, invited_unit_ids: Collection[int]) -> bool:
    return actor.is_admin or actor.unit_id == chair_unit_id or actor.unit_id in invited_unit_ids


def can_manage(actor: Actor, chair_unit_id: int) -> bool:
    return actor.is_admin or (actor.role in MANAGER_ROLES and actor.unit_id == chair_unit_id)


def can_start_end(actor: Actor, chair_unit_id: int) -> bool:
    return actor.is_admin or (actor.role is Role.CHAIR and actor.unit_id == chair_unit_id)


def can_publish(actor: Actor) -> bool:
    return actor.role is not Role.VIEWER


def require(allowed: bool, message: str = "Bạn không có quyền thực hiện thao tác này.") -> None:
    if not allowed:
        raise Forbidden(message)
