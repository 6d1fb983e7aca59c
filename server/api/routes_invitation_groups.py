"""``/api/invitation-groups``: saved sets of connection points a chairing unit invites in one click."""

from __future__ import annotations

from fastapi import APIRouter, Response

from server.api.deps import ActorDep, SessionDep
from server.services import invitation_groups
from server.services.invitation_groups import GroupCreate, GroupUpdate, GroupView

router = APIRouter(tags=["invitation-groups"])


@router.get("/api/invitation-groups", response_model=list[GroupView])
def list_groups(session: SessionDep, actor: ActorDep, unit: str | None = None) -> list[GroupView]:
    return invitation_groups.list_groups(session, actor, unit)


@router.post("/api/invitation-groups", response_model=GroupView, status_code=201)
def create_group(body: GroupCreate, session: SessionDep, actor: ActorDep) -> GroupView:
    return invitation_groups.create(session, actor, body)


@router.get("/api/invitation-groups/{group_id}", response_model=GroupView)
def get_group(group_id: int, session: SessionDep, actor: ActorDep) -> GroupView:
    return invitation_groups.get(session, actor, group_id)


@router.patch("/api/invitation-groups/{group_id}", response_model=GroupView)
def update_group(group_id: int, body: GroupUpdate, session: SessionDep, actor: ActorDep) -> GroupView:
    return invitation_groups.update(session, actor, group_id, body)


@router.delete("/api/invitation-groups/{group_id}", status_code=204)
def delete_group(group_id: int, session: SessionDep, actor: ActorDep) -> Response:
    invitation_groups.delete(session, actor, group_id)
    return Response(status_code=204)
