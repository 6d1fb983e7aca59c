"""Accounts, login sessions and signing keys."""

from __future__ import annotations

import datetime as dt
import enum

from sqlalchemy import Enum, ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from server.models.base import Base, utcnow
from server.models.units import Unit


class Role(enum.StrEnum):
    ADMIN = "admin"
    CHAIR = "chair"
    CLERK = "clerk"
    MEMBER = "member"
    VIEWER = "viewer"


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    full_name: Mapped[str] = mapped_column(String(200), default="")
    # Added in 0011: the person's position ("Chủ tịch UBND xã"), printed with the name in the minutes
    position: Mapped[str] = mapped_column(String(200), default="", server_default="")
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[Role] = mapped_column(Enum(Role, native_enum=False, length=16))
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id", ondelete="RESTRICT"), index=True)
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)

    unit: Mapped[Unit] = relationship()


class AuthSession(Base):
    """A login: the bearer token and the cookie carry the token; only its SHA-256 is stored."""

    __tablename__ = "auth_sessions"

    id: Mapped[int] = mapped_column(primary_key=True)
    token_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[dt.datetime]
    revoked_at: Mapped[dt.datetime | None]

    user: Mapped[User] = relationship()


class WsTicket(Base):
    """A one-use ticket that opens one WebSocket for a login session (``POST /api/auth/ws-ticket``).

    It stands in the socket URL instead of the session token, so the token never reaches an access log; only
    its SHA-256 is stored, it lives ``ws_ticket_ttl_s`` seconds and ``used_at`` is set when a socket takes it.
    """

    __tablename__ = "ws_tickets"

    id: Mapped[int] = mapped_column(primary_key=True)
    ticket_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    session_id: Mapped[int] = mapped_column(ForeignKey("auth_sessions.id", ondelete="CASCADE"), index=True)
    expires_at: Mapped[dt.datetime]
    used_at: Mapped[dt.datetime | None]

    session: Mapped[AuthSession] = relationship()


class SigningKey(Base):
    """A user's Ed25519 key for sealing minutes; the private key is encrypted with the server secret."""

    __tablename__ = "signing_keys"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    public_key_b64: Mapped[str] = mapped_column(String(100))
    private_key_pem: Mapped[str] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
