"""Who may do what — the one place where roles and units are checked.

==================  ===========================================================================
ability             who
==================  ===========================================================================
see a meeting       admin; anyone whose unit chairs it or is invited to it
manage a meeting    admin; chair or clerk of the chairing unit (edit, invite, roll-call)
start / end         admin; chair of the chairing unit
create a meeting    admin; chair or clerk, for their own unit as chairing unit
publish media       everyone who may see the meeting except viewers (listen only)
search              a hit is shown only to whoever may open it: segments and minutes as "see a
                    meeting", tasks as "read a task" (server/services/tasks.py); the SQL forms
                    below are what the search query filters with
==================  ===========================================================================
"""

from __future__ import annotations

from collections.abc import Collection

from sqlalchemy import Select, select, union

from server.errors import Forbidden
from server.models import Meeting, MeetingUnit, Role, Task, TaskUnit
from server.services.context import Actor

MANAGER_ROLES = frozenset({Role.CHAIR, Role.CLERK})


def can_see(actor: Actor, chair_unit_id: int, invited_unit_ids: Collection[int]) -> bool:
    return actor.is_admin or actor.unit_id == chair_unit_id or actor.unit_id in invited_unit_ids


def meetings_seen_by(unit_id: int) -> Select[tuple[int]]:
    """The ids of the meetings a non-admin of ``unit_id`` may see: :func:`can_see` as SQL."""
    chaired = select(Meeting.id).where(Meeting.chair_unit_id == unit_id)
    invited = select(MeetingUnit.meeting_id).where(MeetingUnit.unit_id == unit_id)
    return select(union(chaired, invited).subquery().c[0])


def tasks_seen_by(unit_id: int) -> Select[tuple[int]]:
    """The ids of the tasks a non-admin of ``unit_id`` may read (its unit assigns, leads or co-ordinates
    them): ``server.services.tasks.can_see`` as SQL. The task's meeting grants nothing."""
    own = select(Task.id).where((Task.assigning_unit_id == unit_id) | (Task.lead_unit_id == unit_id))
    co = select(TaskUnit.task_id).where(TaskUnit.unit_id == unit_id)
    return select(union(own, co).subquery().c[0])


def can_manage(actor: Actor, chair_unit_id: int) -> bool:
    return actor.is_admin or (actor.role in MANAGER_ROLES and actor.unit_id == chair_unit_id)


def can_start_end(actor: Actor, chair_unit_id: int) -> bool:
    return actor.is_admin or (actor.role is Role.CHAIR and actor.unit_id == chair_unit_id)


def can_publish(actor: Actor) -> bool:
    return actor.role is not Role.VIEWER


def require(allowed: bool, message: str = "Bạn không có quyền thực hiện thao tác này.") -> None:
    if not allowed:
        raise Forbidden(message)
