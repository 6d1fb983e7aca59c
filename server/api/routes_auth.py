"""``/api/auth``: login (bearer token + httpOnly cookie), socket tickets, logout, who am I; ``/api/users``.

Logging out closes every socket opened with that session (close code 4401, ``server.api.socket_auth``).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from server.api.deps import (
    SESSION_COOKIE,
    ActorDep,
    DatabaseDep,
    SessionDep,
    SessionInfoDep,
    SettingsDep,
    client_ip,
    get_token,
)
from server.api.socket_auth import session_sockets
from server.models import Role
from server.services import accounts
from server.services.context import Actor
from server.services.inputs import Text

router = APIRouter(tags=["auth"])


class LoginIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    username: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=1024)


class LoginOut(BaseModel):
    access_token: str
    token_type: str = "bearer"
    expires_at: str
    user: MeOut


class MeOut(BaseModel):
    id: int
    username: str
    full_name: str
    role: Role
    unit: str
    unit_name: str


class UserIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    username: str = Field(min_length=2, max_length=64)
    password: str = Field(min_length=1, max_length=1024)
    role: Role
    unit: str
    full_name: Annotated[str, Text(200, required=False)] = ""  # printed under signatures in the minutes
    position: Annotated[str, Text(200, required=False)] = ""  # printed with the name in the minutes


class TicketOut(BaseModel):
    ticket: str
    expires_in: int


class UnlockIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    address: str | None = Field(None, max_length=64)


LoginOut.model_rebuild()


def _me(actor: Actor) -> MeOut:
    return MeOut(
        id=actor.id,
        username=actor.username,
        full_name=actor.full_name,
        role=actor.role,
        unit=actor.unit_code,
        unit_name=actor.unit_name,
    )


@router.post("/api/auth/login", response_model=LoginOut)
def login(
    body: LoginIn, request: Request, response: Response, db: DatabaseDep, settings: SettingsDep
) -> LoginOut:
    result = accounts.login(db, settings, body.username, body.password, client_ip(request))
    response.set_cookie(
        SESSION_COOKIE,
        result.token,
        max_age=settings.session_ttl_s,
        httponly=True,
        samesite="lax",
        secure=settings.cookie_secure,
        path="/",
    )
    return LoginOut(
        access_token=result.token, expires_at=result.expires_at.isoformat(), user=_me(result.actor)
    )


@router.post("/api/auth/ws-ticket", response_model=TicketOut)
def ws_ticket(session: SessionDep, info: SessionInfoDep, settings: SettingsDep) -> TicketOut:
    """A one-use ticket for opening one socket (``?ticket=``) within ``expires_in`` seconds."""
    ticket = accounts.issue_ws_ticket(session, settings, info.session_id)
    return TicketOut(ticket=ticket, expires_in=settings.ws_ticket_ttl_s)


@router.post("/api/auth/logout", status_code=204)
def logout(
    request: Request,
    response: Response,
    db: DatabaseDep,
    actor: ActorDep,
    token: Annotated[str, Depends(get_token)],
) -> Response:
    with db.session() as session:  # committed before the session's sockets re-read it
        session_id = accounts.logout(session, token, actor)
    if session_id is not None:
        session_sockets(request.app).session_ended(session_id)
        bus = getattr(request.app.state, "bus", None)
        if bus is not None:  # the sockets of this session held by the site's other processes close too
            bus.sessions_ended([session_id])
    response.status_code = 204
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


@router.get("/api/auth/me", response_model=MeOut)
def me(actor: ActorDep) -> MeOut:
    return _me(actor)


@router.get("/api/users", response_model=list[MeOut])
def list_users(session: SessionDep, actor: ActorDep) -> list[MeOut]:
    return [_me(accounts.actor_of(u)) for u in accounts.list_users(session, actor)]


@router.post("/api/users", response_model=MeOut, status_code=201)
def create_user(body: UserIn, session: SessionDep, actor: ActorDep) -> MeOut:
    user = accounts.create_user(
        session,
        username=body.username,
        password=body.password,
        role=body.role,
        unit_code=body.unit,
        full_name=body.full_name,
        actor=actor,
        position=body.position,
    )
    return _me(accounts.actor_of(user))


@router.post("/api/users/{username}/unlock", status_code=204)
def unlock_user(
    username: str, session: SessionDep, actor: ActorDep, body: UnlockIn | None = None
) -> Response:
    """Admin: clear the login throttle of a username (and of a client address, when one is given)."""
    accounts.unlock(session, actor, username=username, address=body.address if body else None)
    return Response(status_code=204)
