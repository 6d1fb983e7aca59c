"""the composed video of a meeting: its background job's state and the files it made

``video_compositions``: one row per meeting whose video is (being) composed; status, progress, attempts and
lease as the transcript's, the MP4's and the WebVTT's SHA-256 for the integrity check, the picture gaps.

Revision ID: 0015
Revises: 0014
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import server.models.base

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "video_compositions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("meeting_id", sa.Integer(), nullable=False),
        sa.Column(
            "status",
            sa.Enum("QUEUED", "RUNNING", "DONE", "FAILED", name="jobstatus", native_enum=False, length=16),
            nullable=False,
        ),
        sa.Column("mode", sa.String(length=16), nullable=False),
        sa.Column("progress", sa.Double(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("error", sa.Text(), nullable=False),
        sa.Column("queued_at", server.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("started_at", server.models.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("finished_at", server.models.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("worker", sa.String(length=200), nullable=False),
        sa.Column("heartbeat_at", server.models.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("file", sa.String(length=500), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("bytes", sa.BigInteger(), nullable=False),
        sa.Column("length_s", sa.Double(), nullable=False),
        sa.Column("subtitles_file", sa.String(length=500), nullable=False),
        sa.Column("subtitles_sha256", sa.String(length=64), nullable=False),
        sa.Column("picture_gaps", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["meeting_id"],
            ["meetings.id"],
            name=op.f("fk_video_compositions_meeting_id_meetings"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_video_compositions")),
        sa.UniqueConstraint("meeting_id", name=op.f("uq_video_compositions_meeting_id")),
    )


def downgrade() -> None:
    op.drop_table("video_compositions")
