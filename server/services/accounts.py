"""Accounts and logins: creating users, password login with throttling, sessions and logout."""

from __future__ import annotations

import datetime as dt
import logging
import re
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from server.config import Settings
from server.db import Database
from server.errors import Conflict, Forbidden, InvalidInput, TooManyRequests, Unauthenticated
from server.models import AuditEvent, AuthSession, Role, Unit, User, utcnow
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


def _recent_failures(session: Session, username: str, window_s: int) -> int:
    since = utcnow() - dt.timedelta(seconds=window_s)
    return (
        session.scalar(
            select(func.count(AuditEvent.id)).where(
                AuditEvent.action == "auth.login_failed",
                AuditEvent.object_id == username,
                AuditEvent.at >= since,
            )
        )
        or 0
    )


def login(db: Database, settings: Settings, username: str, password: str, ip: str = "") -> LoginResult:
    """Check a password and open a session. Too many recent failures for a username → 429.

    A failure is written in its own transaction, so it stays in the audit log (and counts) after the refusal.
    """
    username = username.strip().lower()
    with db.session() as session:
        if _recent_failures(session, username, settings.login_window_s) >= settings.login_max_failures:
            raise TooManyRequests(
                "Đăng nhập sai quá nhiều lần. Vui lòng thử lại sau ít phút.",
                details={"retry_after_s": settings.login_window_s},
            )
        user = session.scalar(select(User).where(User.username == username))
        ok = verify_password(user.password_hash if user else None, password)
        if user is not None and ok and user.active:
            token = new_token()
            expires = utcnow() + dt.timedelta(seconds=settings.session_ttl_s)
            session.add(AuthSession(token_sha256=token_digest(token), user_id=user.id, expires_at=expires))
            audit.record(session, user, "auth.login", "user", user.id, {}, ip=ip)
            return LoginResult(token=token, expires_at=expires, actor=actor_of(user, ip))
    with db.session() as session:
        audit.record(session, None, "auth.login_failed", "user", username, {"ip": ip}, ip=ip)
    log.info("failed login for %s from %s", username, ip)
    raise Unauthenticated("Sai tên đăng nhập hoặc mật khẩu.")


def resolve_token(session: Session, token: str, ip: str = "") -> Actor:
    row = session.scalar(select(AuthSession).where(AuthSession.token_sha256 == token_digest(token)))
    if row is None or row.revoked_at is not None or row.expires_at <= utcnow() or not row.user.active:
        raise Unauthenticated("Phiên đăng nhập không hợp lệ hoặc đã hết hạn.")
    return actor_of(row.user, ip)


def logout(session: Session, token: str, actor: Actor) -> None:
    row = session.scalar(select(AuthSession).where(AuthSession.token_sha256 == token_digest(token)))
    if row is not None and row.revoked_at is None:
        row.revoked_at = utcnow()
        audit.record(session, actor, "auth.logout", "user", actor.id)


def list_users(session: Session, actor: Actor) -> list[User]:
    stmt = select(User).join(Unit).order_by(Unit.position, User.username)
    if not actor.is_admin:
        stmt = stmt.where(User.unit_id == actor.unit_id)
    return list(session.scalars(stmt))
