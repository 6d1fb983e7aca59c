"""Saved invitation groups: named sets of connection points a chairing unit invites in one click.

A group belongs to one unit (its owner, the chairing unit that schedules with it). Its chair and clerk (and
the admin) list, create, rename, change and delete it; nobody else sees it. A group holds any units of the
tree except its owner, at most :data:`server.services.meetings.MAX_UNITS`; its name is unique per owner.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import Select, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, selectinload

from server.errors import Conflict, InvalidInput, NotFound
from server.models import InvitationGroup, InvitationGroupUnit, Unit
from server.services import audit, policy, units
from server.services.context import Actor
from server.services.inputs import Text
from server.services.meetings import MAX_UNITS

MAX_NAME_CHARS = 200
MAX_GROUPS_LISTED = 500

_FORBIDDEN = "Chỉ chủ trì hoặc thư ký của đơn vị được quản lý nhóm điểm cầu của đơn vị."


class GroupCreate(BaseModel):
    """``POST /api/invitation-groups``: ``unit`` (the owner) defaults to the caller's unit."""

    model_config = ConfigDict(extra="forbid")
    name: Annotated[str, Text(MAX_NAME_CHARS)]
    unit: str | None = None
    units: list[str] = Field(min_length=1, max_length=MAX_UNITS)


class GroupUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: Annotated[str, Text(MAX_NAME_CHARS)] | None = None
    units: list[str] | None = Field(None, min_length=1, max_length=MAX_UNITS)


class GroupView(BaseModel):
    id: int
    name: str
    unit: str
    units: list[str]
    created_at: dt.datetime
    updated_at: dt.datetime


def view(group: InvitationGroup) -> GroupView:
    return GroupView(
        id=group.id,
        name=group.name,
        unit=group.owner_unit.code,
        units=[m.unit.code for m in group.members],
        created_at=group.created_at,
        updated_at=group.updated_at,
    )


def _query() -> Select[InvitationGroup]:
    return select(InvitationGroup).options(
        selectinload(InvitationGroup.members).selectinload(InvitationGroupUnit.unit),
        selectinload(InvitationGroup.owner_unit),
    )


def _get(session: Session, actor: Actor, group_id: int) -> InvitationGroup:
    group = session.scalar(_query().where(InvitationGroup.id == group_id))
    # a group of another unit is as unknown as a missing one: its name says nothing to outsiders
    if group is None or not policy.can_manage(actor, group.owner_unit_id):
        raise NotFound(f"Không tìm thấy nhóm điểm cầu {group_id}.", details={"group": group_id})
    return group


def _members(session: Session, owner: Unit, codes: list[str]) -> list[InvitationGroupUnit]:
    members = []
    for position, unit in enumerate(units.each_by_code(session, codes)):
        if unit.id == owner.id:
            raise InvalidInput(
                "Đơn vị chủ trì không cần nằm trong nhóm điểm cầu của chính mình.",
                details={"unit": unit.code},
            )
        members.append(InvitationGroupUnit(unit_id=unit.id, position=position))
    return members


def _flush_unique(session: Session, name: str) -> None:
    try:
        with session.begin_nested():
            session.flush()
    except IntegrityError as exc:
        raise Conflict(f"Đơn vị đã có nhóm điểm cầu tên “{name}”.", details={"name": name}) from exc


def list_groups(session: Session, actor: Actor, unit_code: str | None = None) -> list[GroupView]:
    """The groups of ``unit_code`` (default: the caller's unit; the admin without a unit: every group)."""
    stmt = _query().order_by(InvitationGroup.name, InvitationGroup.id).limit(MAX_GROUPS_LISTED)
    if unit_code is not None:
        owner = units.get_by_code(session, unit_code)
        policy.require(policy.can_manage(actor, owner.id), _FORBIDDEN)
        stmt = stmt.where(InvitationGroup.owner_unit_id == owner.id)
    elif not actor.is_admin:
        policy.require(policy.can_manage(actor, actor.unit_id), _FORBIDDEN)
        stmt = stmt.where(InvitationGroup.owner_unit_id == actor.unit_id)
    return [view(g) for g in session.scalars(stmt)]


def get(session: Session, actor: Actor, group_id: int) -> GroupView:
    return view(_get(session, actor, group_id))


def create(session: Session, actor: Actor, data: GroupCreate) -> GroupView:
    owner = units.get_by_code(session, data.unit) if data.unit else session.get(Unit, actor.unit_id)
    if owner is None:
        raise NotFound("Không có đơn vị của tài khoản.")
    policy.require(policy.can_manage(actor, owner.id), _FORBIDDEN)
    group = InvitationGroup(owner_unit_id=owner.id, name=data.name, created_by_id=actor.id)
    group.members = _members(session, owner, data.units)
    session.add(group)
    _flush_unique(session, data.name)
    details = {"name": group.name, "unit": owner.code, "units": len(group.members)}
    audit.record(session, actor, "invitation_group.create", "invitation_group", group.id, details)
    return get(session, actor, group.id)


def update(session: Session, actor: Actor, group_id: int, data: GroupUpdate) -> GroupView:
    group = _get(session, actor, group_id)
    if data.name is not None:
        group.name = data.name
    if data.units is not None:
        group.members.clear()
        session.flush()  # the old rows go before the new ones take their (group, unit) pairs
        group.members.extend(_members(session, group.owner_unit, data.units))
    _flush_unique(session, group.name)
    details = {"name": group.name, "units": len(group.members)}
    audit.record(session, actor, "invitation_group.update", "invitation_group", group.id, details)
    session.expire(group)
    return get(session, actor, group.id)


def delete(session: Session, actor: Actor, group_id: int) -> None:
    group = _get(session, actor, group_id)
    details = {"name": group.name}
    audit.record(session, actor, "invitation_group.delete", "invitation_group", group.id, details)
    session.delete(group)
    session.flush()
