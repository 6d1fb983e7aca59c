"""Saved invitation groups: a named list of connection points a chairing unit invites often (e.g. "Các
phường", "Các xã phía Đông"), picked in one click on the scheduling page."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from server.models.base import Base, utcnow
from server.models.units import Unit


class InvitationGroup(Base):
    __tablename__ = "invitation_groups"
    __table_args__ = (UniqueConstraint("owner_unit_id", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    owner_unit_id: Mapped[int] = mapped_column(ForeignKey("units.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    owner_unit: Mapped[Unit] = relationship()
    members: Mapped[list[InvitationGroupUnit]] = relationship(
        back_populates="group", cascade="all, delete-orphan", order_by="InvitationGroupUnit.position"
    )


class InvitationGroupUnit(Base):
    """One connection point of a group, in the order it was saved."""

    __tablename__ = "invitation_group_units"
    __table_args__ = (UniqueConstraint("group_id", "unit_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    group_id: Mapped[int] = mapped_column(ForeignKey("invitation_groups.id", ondelete="CASCADE"), index=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id", ondelete="CASCADE"), index=True)
    position: Mapped[int] = mapped_column(default=0)

    group: Mapped[InvitationGroup] = relationship(back_populates="members")
    unit: Mapped[Unit] = relationship()
