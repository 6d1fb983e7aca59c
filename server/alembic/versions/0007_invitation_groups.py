"""saved invitation groups

A chairing unit with 135 connection points (a province after the 2025 reform) invites the same sets again
and again ("Các phường", "Cụm Quy Nhơn"): ``invitation_groups`` names such a set for its owner unit (unique
name per unit), ``invitation_group_units`` holds its units in order. Both are dropped with their unit.

Revision ID: 0007
Revises: 0006
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import server.models.base

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "invitation_groups",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("owner_unit_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("created_by_id", sa.Integer(), nullable=True),
        sa.Column("created_at", server.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", server.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["created_by_id"],
            ["users.id"],
            name=op.f("fk_invitation_groups_created_by_id_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["owner_unit_id"],
            ["units.id"],
            name=op.f("fk_invitation_groups_owner_unit_id_units"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_invitation_groups")),
        sa.UniqueConstraint("owner_unit_id", "name", name=op.f("uq_invitation_groups_owner_unit_id")),
    )
    with op.batch_alter_table("invitation_groups", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_invitation_groups_owner_unit_id"), ["owner_unit_id"], unique=False
        )

    op.create_table(
        "invitation_group_units",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("group_id", sa.Integer(), nullable=False),
        sa.Column("unit_id", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["group_id"],
            ["invitation_groups.id"],
            name=op.f("fk_invitation_group_units_group_id_invitation_groups"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["unit_id"],
            ["units.id"],
            name=op.f("fk_invitation_group_units_unit_id_units"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_invitation_group_units")),
        sa.UniqueConstraint("group_id", "unit_id", name=op.f("uq_invitation_group_units_group_id")),
    )
    with op.batch_alter_table("invitation_group_units", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_invitation_group_units_group_id"), ["group_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_invitation_group_units_unit_id"), ["unit_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("invitation_group_units", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_invitation_group_units_unit_id"))
        batch_op.drop_index(batch_op.f("ix_invitation_group_units_group_id"))
    op.drop_table("invitation_group_units")
    with op.batch_alter_table("invitation_groups", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_invitation_groups_owner_unit_id"))
    op.drop_table("invitation_groups")
