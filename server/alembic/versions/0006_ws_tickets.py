"""one-use WebSocket tickets; audit events indexed by client address

Session tokens in socket URLs (``/ws/meetings/2?token=...``) reached the access log and stayed valid for the
session's 12 hours. A socket now opens with a ticket: 30 seconds, one use, bound to the login session
(``ws_tickets``; only its SHA-256 is stored). The login throttle counts failures per client address over all
usernames, read from ``audit_events`` by ``ip``: an index keeps that lookup short.

Revision ID: 0006
Revises: 0005
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import server.models.base

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "ws_tickets",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("ticket_sha256", sa.String(length=64), nullable=False),
        sa.Column("session_id", sa.Integer(), nullable=False),
        sa.Column("expires_at", server.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("used_at", server.models.base.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["session_id"],
            ["auth_sessions.id"],
            name=op.f("fk_ws_tickets_session_id_auth_sessions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ws_tickets")),
        sa.UniqueConstraint("ticket_sha256", name=op.f("uq_ws_tickets_ticket_sha256")),
    )
    with op.batch_alter_table("ws_tickets", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_ws_tickets_session_id"), ["session_id"], unique=False)
    with op.batch_alter_table("audit_events", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_audit_events_ip"), ["ip"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("audit_events", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_audit_events_ip"))
    with op.batch_alter_table("ws_tickets", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_ws_tickets_session_id"))
    op.drop_table("ws_tickets")
