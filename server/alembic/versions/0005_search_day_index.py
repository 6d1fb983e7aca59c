"""search by date: a btree index on ``search_docs.day``

A search inside a date range ("what was said about sugar cane in March") filtered the day on each row the
full-text index returned, newest first: a common word at 1 M rows meant hundreds of thousands of rows read to
keep a month's worth (PostgreSQL 120–430 ms, SQLite 63 ms p50 / 150 ms p95 measured). With the index,
PostgreSQL's planner intersects the word's postings with the range's rows, and the SQLite engine narrows its
FTS5 walk to the ids of the range's rows (``search_backends.Fts5Backend``).

Revision ID: 0005
Revises: 0004
"""
from collections.abc import Sequence

from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute("CREATE INDEX IF NOT EXISTS ix_search_docs_day ON search_docs (day)")


def downgrade() -> None:
    op.execute("DROP INDEX IF EXISTS ix_search_docs_day")
