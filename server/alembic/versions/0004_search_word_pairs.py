"""search word pairs (PostgreSQL): adjacent folded word pairs per row, GIN-indexed, for phrase queries

A phrase query's words are usually common syllables ("công trình thủy lợi"): the tsvector GIN index finds the
rows holding all of them (tens of thousands at 1 M rows) and PostgreSQL rechecks their positions one heap row
at a time (p95 191 ms measured). Rows holding every adjacent pair of the phrase are few, so the pairs column
narrows the candidates first; the positional tsvector test stays the judge. SQLite's FTS5 stores positions in
its index and needs nothing.

Revision ID: 0004
Revises: 0003
"""
from collections.abc import Sequence

from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Adjacent pairs of the alphanumeric runs of a folded (ASCII, lower-case) text: 'xa chu mo' -> {'chu mo',
# 'xa chu'}. Queries call the same function on a phrase, so both sides split words the same way.
PAIRS_FUNCTION = r"""
CREATE OR REPLACE FUNCTION giaoban_pairs(folded text) RETURNS text[]
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
    SELECT coalesce(array_agg(DISTINCT p.pair), '{}'::text[])
    FROM (
        SELECT w.word || ' ' || lead(w.word) OVER (ORDER BY w.n) AS pair
        FROM unnest(regexp_split_to_array(lower(folded), '[^a-z0-9]+')) WITH ORDINALITY AS w(word, n)
        WHERE w.word <> ''
    ) p
    WHERE p.pair IS NOT NULL
$$
"""


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(PAIRS_FUNCTION)
    op.execute(
        "ALTER TABLE search_docs ADD COLUMN IF NOT EXISTS pairs text[]"
        " GENERATED ALWAYS AS (giaoban_pairs(fold)) STORED"
    )
    op.execute("CREATE INDEX IF NOT EXISTS ix_search_docs_pairs ON search_docs USING GIN (pairs)")


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("DROP INDEX IF EXISTS ix_search_docs_pairs")
    op.execute("ALTER TABLE search_docs DROP COLUMN IF EXISTS pairs")
    op.execute("DROP FUNCTION IF EXISTS giaoban_pairs(text)")
