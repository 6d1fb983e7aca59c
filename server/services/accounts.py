"""Accounts and logins: creating users, password login with throttling, sessions, socket tickets, logout."""

from __future__ import annotations

import datetime as dt
import logging
import math
import re
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, exists, func, select, update
from sqlalchemy.orm import Session, aliased

from server.config import Settings
from server.db import Database
from server.errors import Conflict, Forbidden, InvalidInput, NotFound, TooManyRequests, Unauthenticated
from server.models import AuditEvent, AuthSession, Role, Unit, User, WsTicket, utcnow
from server.security import hash_password, new_token, token_digest, verify_password
from server.services import audit, units
from server.services.context import Actor

log = logging.getLogger(__name__)

USERNAME_RE = re.compile(r"^[a-z0-9][a-z0-9._-]{1,63}$")
MIN_PASSWORD_CHARS = 8


@dataclass(frozen=True)
class LoginResult:
    token: str
    expires_at: dt.datetime
    actor: Actor


def actor_of(user: User, ip: str = "") -> Actor:
    return Actor(
        id=user.id,
        username=user.username,
        full_name=user.full_name,
        role=user.role,
        unit_id=user.unit_id,
        unit_code=user.unit.code,
        unit_name=user.unit.name,
        ip=ip,
    )


def create_user(
    session: Session,
    *,
    username: str,
    password: str,
    role: Role | str,
    unit_code: str,
    full_name: str = "",
    actor: Actor | None = None,
    position: str = "",
) -> User:
    if actor is not None and not actor.is_admin:
        raise Forbidden("Chỉ quản trị viên được tạo tài khoản.")
    username = username.strip().lower()
    if not USERNAME_RE.match(username):
        raise InvalidInput(
            "Tên đăng nhập chỉ gồm chữ thường không dấu, số, '.', '_' hoặc '-', dài 2–64 ký tự.",
            details={"field": "username"},
        )
    if len(password) < MIN_PASSWORD_CHARS:
        raise InvalidInput(f"Mật khẩu cần ít nhất {MIN_PASSWORD_CHARS} ký tự.", details={"field": "password"})
    try:
        role = Role(role)
    except ValueError as exc:
        raise InvalidInput(
            f"Vai trò không hợp lệ: {role}.", details={"field": "role", "allowed": [r.value for r in Role]}
        ) from exc
    unit = units.get_by_code(session, unit_code)
    if session.scalar(select(User.id).where(User.username == username)) is not None:
        raise Conflict(f"Tên đăng nhập {username} đã tồn tại.", details={"username": username})
    user = User(
        username=username,
        full_name=full_name or username,
        position=position.strip(),
        password_hash=hash_password(password),
        role=role,
        unit=unit,
    )
    session.add(user)
    session.flush()
    audit.record(
        session,
        actor,
        "user.create",
        "user",
        user.id,
        {"username": username, "role": role.value, "unit": unit.code},
    )
    return user


def set_password(session: Session, username: str, password: str, actor: Actor | None = None) -> None:
    if len(password) < MIN_PASSWORD_CHARS:
        raise InvalidInput(f"Mật khẩu cần ít nhất {MIN_PASSWORD_CHARS} ký tự.", details={"field": "password"})
    user = session.scalar(select(User).where(User.username == username))
    if user is None:
        raise InvalidInput(f"Không có tài khoản {username}.")
    user.password_hash = hash_password(password)
    audit.record(session, actor, "user.password", "user", user.id, {"username": username})


LOGIN_FAILED = "auth.login_failed"
LOGIN_OK = "auth.login"
UNLOCK = "auth.unlock"
MAX_BACKOFF_DOUBLINGS = 30


@dataclass(frozen=True)
class SessionInfo:
    """A valid login session: who, which session (sockets opened with it close when it ends), until when."""

    actor: Actor
    session_id: int
    expires_at: dt.datetime


def _last_at(session: Session, *conditions: Any) -> dt.datetime | None:
    return session.scalar(select(func.max(AuditEvent.at)).where(*conditions))


def _failures(session: Session, since: dt.datetime, *conditions: Any) -> tuple[int, dt.datetime | None]:
    """How many failed logins match since ``since``, and the latest one, leaving out those against a username
    an admin unlocked after the failure."""
    unlock = aliased(AuditEvent)
    unlocked_later = exists().where(
        unlock.action == UNLOCK,
        unlock.object_type == "user",
        unlock.object_id == AuditEvent.object_id,
        unlock.at >= AuditEvent.at,
    )
    count, last = session.execute(
        select(func.count(AuditEvent.id), func.max(AuditEvent.at)).where(
            AuditEvent.action == LOGIN_FAILED, AuditEvent.at >= since, ~unlocked_later, *conditions
        )
    ).one()
    return int(count or 0), last


def _wait_s(
    settings: Settings, failures: int, allowed: int, last: dt.datetime | None, now: dt.datetime
) -> float:
    """Exponential back-off: ``login_backoff_s`` once ``allowed`` failures are reached, doubling with each
    further failure, at most ``login_backoff_max_s``, counted from the latest failure."""
    if failures < allowed or last is None:
        return 0.0
    doublings = min(failures - allowed, MAX_BACKOFF_DOUBLINGS)
    delay = min(settings.login_backoff_s * 2**doublings, settings.login_backoff_max_s)
    return max(0.0, (last - now).total_seconds() + delay)


def login_wait(session: Session, settings: Settings, username: str, ip: str) -> tuple[float, str]:
    """Seconds this address must still wait before trying ``username`` again, and which limit applies.

    Two limits, both over the last ``login_window_s``: failures for this username *from this address* (reset
    by a successful login from this address), and failures from this address over every username (a password
    spray). Failures from other addresses never delay this one, so nobody can lock the chair out by guessing
    from elsewhere. An admin unlock (of the username, or of the address) forgets the failures before it.
    """
    now = utcnow()
    window_start = now - dt.timedelta(seconds=settings.login_window_s)
    address_unlocked = _last_at(
        session, AuditEvent.action == UNLOCK, AuditEvent.object_type == "address", AuditEvent.object_id == ip
    )
    address_since = max(window_start, address_unlocked or window_start)
    user_since = max(
        address_since,
        _last_at(session, AuditEvent.action == LOGIN_OK, AuditEvent.actor == username, AuditEvent.ip == ip)
        or address_since,
    )
    count, last = _failures(session, user_since, AuditEvent.object_id == username, AuditEvent.ip == ip)
    pair_wait = _wait_s(settings, count, settings.login_max_failures, last, now)
    count, last = _failures(session, address_since, AuditEvent.ip == ip)
    address_wait = _wait_s(settings, count, settings.login_ip_max_failures, last, now)
    if address_wait > pair_wait:
        return address_wait, "address"
    return pair_wait, "user_address"


def login(db: Database, settings: Settings, username: str, password: str, ip: str = "") -> LoginResult:
    """Check a password and open a session; throttled per username and address, and per address (429).

    A failure is written in its own transaction, so it stays in the audit log (and counts) after the refusal.
    An attempt refused by the throttle checks no password and does not count as a failure.
    """
    username = username.strip().lower()
    with db.session() as session:
        wait_s, scope = login_wait(session, settings, username, ip)
        if wait_s > 0:
            retry_after = max(1, math.ceil(wait_s))
            log.info("login for %s from %s throttled (%s) for %s s", username, ip, scope, retry_after)
            raise TooManyRequests(
                f"Đăng nhập sai quá nhiều lần. Vui lòng thử lại sau {retry_after} giây.",
                details={"retry_after_s": retry_after, "scope": scope},
            )
        user = session.scalar(select(User).where(User.username == username))
        ok = verify_password(user.password_hash if user else None, password)
        if user is not None and ok and user.active:
            token = new_token()
            expires = utcnow() + dt.timedelta(seconds=settings.session_ttl_s)
            session.add(AuthSession(token_sha256=token_digest(token), user_id=user.id, expires_at=expires))
            audit.record(session, user, LOGIN_OK, "user", user.id, {}, ip=ip)
            return LoginResult(token=token, expires_at=expires, actor=actor_of(user, ip))
    with db.session() as session:
        audit.record(session, None, LOGIN_FAILED, "user", username, {"ip": ip}, ip=ip)
    log.info("failed login for %s from %s", username, ip)
    raise Unauthenticated("Sai tên đăng nhập hoặc mật khẩu.")


def unlock(
    session: Session, actor: Actor | None, *, username: str | None = None, address: str | None = None
) -> None:
    """Clear the login throttle of a username (every address) or of a client address (every username).

    ``actor`` None is the operator's command line; over HTTP only an admin may unlock.
    """
    if actor is not None and not actor.is_admin:
        raise Forbidden("Chỉ quản trị viên được mở khóa đăng nhập.")
    if username is not None:
        username = username.strip().lower()
        if session.scalar(select(User.id).where(User.username == username)) is None:
            raise NotFound(f"Không có tài khoản {username}.", details={"username": username})
        audit.record(session, actor, UNLOCK, "user", username)
    if address is not None:
        audit.record(session, actor, UNLOCK, "address", address.strip())


def _valid_session(row: AuthSession | None) -> bool:
    return row is not None and row.revoked_at is None and row.expires_at > utcnow() and row.user.active


def resolve_session(session: Session, token: str, ip: str = "") -> SessionInfo:
    row = session.scalar(select(AuthSession).where(AuthSession.token_sha256 == token_digest(token)))
    if row is None or not _valid_session(row):
        raise Unauthenticated("Phiên đăng nhập không hợp lệ hoặc đã hết hạn.")
    return SessionInfo(actor=actor_of(row.user, ip), session_id=row.id, expires_at=row.expires_at)


def session_expiry(session: Session, session_id: int) -> dt.datetime | None:
    """When a login session ends, or None when it already has (logged out, expired, account deactivated)."""
    row = session.get(AuthSession, session_id)
    return row.expires_at if row is not None and _valid_session(row) else None


def issue_ws_ticket(session: Session, settings: Settings, session_id: int) -> str:
    """A one-use ticket that opens one socket for this login session within ``ws_ticket_ttl_s`` seconds."""
    now = utcnow()
    session.execute(delete(WsTicket).where(WsTicket.expires_at < now - dt.timedelta(hours=1)))
    ticket = new_token()
    session.add(
        WsTicket(
            ticket_sha256=token_digest(ticket),
            session_id=session_id,
            expires_at=now + dt.timedelta(seconds=settings.ws_ticket_ttl_s),
        )
    )
    return ticket


def redeem_ws_ticket(session: Session, ticket: str, ip: str = "") -> SessionInfo:
    """Take a ticket (once: the update that marks it used is the check) and return its login session."""
    now = utcnow()
    digest = token_digest(ticket)
    taken = session.execute(
        update(WsTicket)
        .where(WsTicket.ticket_sha256 == digest, WsTicket.used_at.is_(None), WsTicket.expires_at > now)
        .values(used_at=now)
    )
    if getattr(taken, "rowcount", 0) != 1:
        raise Unauthenticated("Vé kết nối không hợp lệ, đã được dùng hoặc đã hết hạn.")
    row = session.scalar(select(AuthSession).join(WsTicket).where(WsTicket.ticket_sha256 == digest))
    if row is None or not _valid_session(row):
        raise Unauthenticated("Phiên đăng nhập không hợp lệ hoặc đã hết hạn.")
    return SessionInfo(actor=actor_of(row.user, ip), session_id=row.id, expires_at=row.expires_at)


def socket_session(session: Session, *, ticket: str | None, token: str | None, ip: str = "") -> SessionInfo:
    """The login session a WebSocket opens with: a ticket when one is given, else the session token."""
    if ticket:
        return redeem_ws_ticket(session, ticket, ip)
    if token:
        return resolve_session(session, token, ip)
    raise Unauthenticated("Bạn cần đăng nhập.")


def logout(session: Session, token: str, actor: Actor) -> int | None:
    """Revoke the session of ``token``; its id (for closing its sockets), or None if it was not open."""
    row = session.scalar(select(AuthSession).where(AuthSession.token_sha256 == token_digest(token)))
    if row is not None and row.revoked_at is None:
        row.revoked_at = utcnow()
        audit.record(session, actor, "auth.logout", "user", actor.id)
        return row.id
    return None


def list_users(session: Session, actor: Actor) -> list[User]:
    stmt = select(User).join(Unit).order_by(Unit.position, User.username)
    if not actor.is_admin:
        stmt = stmt.where(User.unit_id == actor.unit_id)
    return list(session.scalars(stmt))
