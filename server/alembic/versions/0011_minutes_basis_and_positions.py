"""minutes drafts remember what they were prefilled from; accounts carry a position

``minutes_versions.basis_sha256``: the SHA-256 of the transcript and the conclusions a draft was prefilled
from (a clerk's edit keeps its parent's); a draft whose basis differs from the current data is stale and is
not sealed without the chair's confirmation ("" for versions stored before this revision: not judged).
``users.position``: the person's position, printed with the name in the minutes ("Người dự", chair, clerk).

Revision ID: 0011
Revises: 0009
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("minutes_versions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("basis_sha256", sa.String(length=64), nullable=False, server_default=""))
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.add_column(sa.Column("position", sa.String(length=200), nullable=False, server_default=""))


def downgrade() -> None:
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_column("position")
    with op.batch_alter_table("minutes_versions", schema=None) as batch_op:
        batch_op.drop_column("basis_sha256")
