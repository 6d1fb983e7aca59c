"""the floor of a live meeting kept for the node that resumes it after a takeover

``meeting_floors``: one row per live meeting, written by the node holding it whenever the floor changes (the
holder, floor control, whether the holder's microphone was open, the raised hands); a node that
adopts the meeting after its node died restores it. The chat is kept in ``chat_messages`` (already there).

Revision ID: 0014
Revises: 0013
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import server.models.base

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "meeting_floors",
        sa.Column("meeting_id", sa.Integer(), nullable=False),
        sa.Column("holder_user_id", sa.Integer(), nullable=True),
        sa.Column("floor_control", sa.Boolean(), nullable=False),
        sa.Column("holder_mic_open", sa.Boolean(), nullable=False),
        sa.Column("hand_user_ids", sa.JSON(), nullable=False),
        sa.Column("updated_at", server.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["holder_user_id"],
            ["users.id"],
            name=op.f("fk_meeting_floors_holder_user_id_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["meeting_id"],
            ["meetings.id"],
            name=op.f("fk_meeting_floors_meeting_id_meetings"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("meeting_id", name=op.f("pk_meeting_floors")),
    )


def downgrade() -> None:
    op.drop_table("meeting_floors")
