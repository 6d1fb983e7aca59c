"""Request dependencies: the database session, the acting user (cookie or bearer token), settings."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.orm import Session

from server.config import Settings
from server.db import Database
from server.errors import Unauthenticated
from server.services import accounts
from server.services.context import Actor

SESSION_COOKIE = "giaoban_session"


def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def get_database(request: Request) -> Database:
    db: Database = request.app.state.db
    return db


def get_session(db: Annotated[Database, Depends(get_database)]) -> Iterator[Session]:
    """One transaction per request: committed when the route returns, rolled back on any error."""
    with db.session() as session:
        yield session


def client_ip(request: Request) -> str:
    return request.client.host if request.client else ""


def token_from(authorization: str | None, cookie: str | None, query_token: str | None = None) -> str:
    """The session token: ``Authorization: Bearer``, then a ``token`` query parameter, then the cookie.

    The query parameter is for outside clients of the sockets (the public contract); the access log redacts
    it (``server.security.RedactSecrets``), and our own clients open sockets with a one-use ticket instead.
    """
    if authorization and authorization.lower().startswith("bearer "):
        return authorization[7:].strip()
    return query_token or cookie or ""


def get_token(request: Request) -> str:
    token = token_from(request.headers.get("authorization"), request.cookies.get(SESSION_COOKIE))
    if not token:
        raise Unauthenticated("Bạn cần đăng nhập.")
    return token


def get_session_info(
    request: Request,
    db: Annotated[Database, Depends(get_database)],
    token: Annotated[str, Depends(get_token)],
) -> accounts.SessionInfo:
    with db.session() as session:
        return accounts.resolve_session(session, token, client_ip(request))


def get_actor(info: Annotated[accounts.SessionInfo, Depends(get_session_info)]) -> Actor:
    return info.actor


DatabaseDep = Annotated[Database, Depends(get_database)]
# "function" scope: the transaction is committed (or rolled back) before the response is sent, so a client
# that reads right after a write sees it, and a failed commit is an error response, not a lost write
SessionDep = Annotated[Session, Depends(get_session, scope="function")]
ActorDep = Annotated[Actor, Depends(get_actor)]
SessionInfoDep = Annotated[accounts.SessionInfo, Depends(get_session_info)]
SettingsDep = Annotated[Settings, Depends(get_settings)]
