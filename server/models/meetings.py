"""Meetings, invited connection points with their roll-call, agenda, attendance and chat."""

from __future__ import annotations

import datetime as dt
import enum

from sqlalchemy import JSON, Enum, ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from server.models.base import Base, utcnow
from server.models.units import Unit


class MeetingStatus(enum.StrEnum):
    SCHEDULED = "scheduled"
    LIVE = "live"
    ENDED = "ended"
    INTERRUPTED = "interrupted"  # the server died while it was live
    CANCELLED = "cancelled"


class RollCallStatus(enum.StrEnum):
    NOT_CALLED = "not_called"
    PRESENT_ONLINE = "present_online"
    PRESENT_IN_PERSON = "present_in_person"
    ABSENT = "absent"


class Meeting(Base):
    __tablename__ = "meetings"

    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(300))
    chair_unit_id: Mapped[int] = mapped_column(ForeignKey("units.id", ondelete="RESTRICT"), index=True)
    place: Mapped[str] = mapped_column(String(300), default="")
    starts_at: Mapped[dt.datetime] = mapped_column(index=True)
    record: Mapped[bool] = mapped_column(default=True)
    # video recording: "none", "all" (every camera and screen), "hall_and_floor" (the chairing unit's cameras,
    # the floor holder's while it holds the floor, and every screen share); only with ``record``
    record_video: Mapped[str] = mapped_column(String(16), default="none", server_default="none")
    status: Mapped[MeetingStatus] = mapped_column(
        Enum(MeetingStatus, native_enum=False, length=16), default=MeetingStatus.SCHEDULED, index=True
    )
    locked: Mapped[bool] = mapped_column(default=False)
    chair_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    clerk_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    started_at: Mapped[dt.datetime | None]
    ended_at: Mapped[dt.datetime | None]
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    chair_unit: Mapped[Unit] = relationship()
    invitations: Mapped[list[MeetingUnit]] = relationship(
        back_populates="meeting", cascade="all, delete-orphan", order_by="MeetingUnit.position"
    )
    agenda: Mapped[list[AgendaItem]] = relationship(
        back_populates="meeting", cascade="all, delete-orphan", order_by="AgendaItem.position"
    )


class MeetingUnit(Base):
    """An invited connection point and its roll-call status."""

    __tablename__ = "meeting_units"
    __table_args__ = (UniqueConstraint("meeting_id", "unit_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    meeting_id: Mapped[int] = mapped_column(ForeignKey("meetings.id", ondelete="CASCADE"), index=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id", ondelete="RESTRICT"), index=True)
    position: Mapped[int] = mapped_column(default=0)
    status: Mapped[RollCallStatus] = mapped_column(
        Enum(RollCallStatus, native_enum=False, length=24), default=RollCallStatus.NOT_CALLED
    )
    reason: Mapped[str] = mapped_column(String(500), default="")
    status_at: Mapped[dt.datetime | None]
    status_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    expected_delegates: Mapped[str] = mapped_column(Text, default="")

    meeting: Mapped[Meeting] = relationship(back_populates="invitations")
    unit: Mapped[Unit] = relationship()


class AgendaItem(Base):
    __tablename__ = "agenda_items"

    id: Mapped[int] = mapped_column(primary_key=True)
    meeting_id: Mapped[int] = mapped_column(ForeignKey("meetings.id", ondelete="CASCADE"), index=True)
    position: Mapped[int] = mapped_column(default=0)
    title: Mapped[str] = mapped_column(String(500))
    presenter_unit_id: Mapped[int | None] = mapped_column(ForeignKey("units.id", ondelete="SET NULL"))
    starts_at_s: Mapped[float | None]  # on the meeting clock, set while the meeting runs

    meeting: Mapped[Meeting] = relationship(back_populates="agenda")


class Participation(Base):
    """One connection of one account to a live meeting: join and leave times (a rejoin is a new row)."""

    __tablename__ = "participations"

    id: Mapped[int] = mapped_column(primary_key=True)
    meeting_id: Mapped[int] = mapped_column(ForeignKey("meetings.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id", ondelete="RESTRICT"))
    joined_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    left_at: Mapped[dt.datetime | None]
    leave_reason: Mapped[str] = mapped_column(String(64), default="")


class ChatMessage(Base):
    __tablename__ = "chat_messages"

    id: Mapped[int] = mapped_column(primary_key=True)
    meeting_id: Mapped[int] = mapped_column(ForeignKey("meetings.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    unit_id: Mapped[int | None] = mapped_column(ForeignKey("units.id", ondelete="SET NULL"))
    text: Mapped[str] = mapped_column(Text)
    sent_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class MeetingRemoval(Base):
    """A participant the chair removed from a live meeting: its sockets are refused until the chair readmits
    it (the row is then deleted). Kept in the database so that a node resuming the meeting keeps it out."""

    __tablename__ = "meeting_removals"

    meeting_id: Mapped[int] = mapped_column(ForeignKey("meetings.id", ondelete="CASCADE"), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    removed_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    removed_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))


class MeetingFloor(Base):
    """The floor of a live meeting as its node last saw it (``server.live.roomstate``): who holds it, whether
    floor control is on, whether the holder's microphone was open and whose hands are raised.
    A node resuming the meeting after its node died restores it; the chat is kept in ``chat_messages``."""

    __tablename__ = "meeting_floors"

    meeting_id: Mapped[int] = mapped_column(ForeignKey("meetings.id", ondelete="CASCADE"), primary_key=True)
    holder_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    floor_control: Mapped[bool] = mapped_column(default=True)
    holder_mic_open: Mapped[bool] = mapped_column(default=False)
    hand_user_ids: Mapped[list[int]] = mapped_column(JSON, default=list)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, onupdate=utcnow)
