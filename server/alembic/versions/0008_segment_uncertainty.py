"""transcript segments the engine doubts: uncertain, its reason, the engine's confidence

A segment said over audio lost in transit, rated by the model as probably not speech, or whose words the model
barely believes is kept (it used to be dropped as "decoded from silence") and marked for the clerk:
``uncertain`` (cleared when the clerk edits or confirms it), ``uncertain_reason`` ("loss", "no_speech",
"low_confidence"; "" when certain) and ``confidence`` (0..1, the mean probability of the engine's words;
NULL for segments stored before this revision). Existing segments stay certain.

Revision ID: 0008
Revises: 0007
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("transcript_segments", schema=None) as batch_op:
        batch_op.add_column(sa.Column("uncertain", sa.Boolean(), nullable=False, server_default=sa.false()))
        batch_op.add_column(
            sa.Column("uncertain_reason", sa.String(length=16), nullable=False, server_default="")
        )
        batch_op.add_column(sa.Column("confidence", sa.Double(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("transcript_segments", schema=None) as batch_op:
        batch_op.drop_column("confidence")
        batch_op.drop_column("uncertain_reason")
        batch_op.drop_column("uncertain")
