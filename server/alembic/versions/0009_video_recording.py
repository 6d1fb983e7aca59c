"""video recording: the meeting's choice (record_video) and each recorded track's kind

``meetings.record_video``: "none" (the default, what every existing meeting keeps), "all" (every camera and
screen share) or "hall_and_floor" (the chairing unit's cameras, the floor holder's, and screen shares).
``recording_tracks.kind``: "audio" (every existing track), "camera" or "screen".

Revision ID: 0009
Revises: 0008
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("meetings", schema=None) as batch_op:
        batch_op.add_column(sa.Column("record_video", sa.String(length=16), nullable=False, server_default="none"))
    with op.batch_alter_table("recording_tracks", schema=None) as batch_op:
        batch_op.add_column(sa.Column("kind", sa.String(length=16), nullable=False, server_default="audio"))


def downgrade() -> None:
    with op.batch_alter_table("recording_tracks", schema=None) as batch_op:
        batch_op.drop_column("kind")
    with op.batch_alter_table("meetings", schema=None) as batch_op:
        batch_op.drop_column("record_video")
