"""search index, conclusion links and assignees

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-28 09:00:00

- ``conclusions``: ``segment_ids`` (JSON list), ``assignee_unit_id``, ``deadline``, ``updated_at``.
- ``search_docs``: one row per searchable thing (kind = segment, minutes, task), not an ORM model: the
  services write it with SQL (server/services/search_backends.py). Columns: the original text (NFC),
  ``canon`` and
  ``fold`` (server.domain.vntext), ``tags`` (filter tokens: ``k<kind>``, ``m<meeting>``, ``u<unit>``,
  ``s<unit allowed to see it>``), ``speaker_fold``, ``start_s``/``end_s``, ``day`` (local date).
- SQLite: external-content FTS5 tables ``search_fts_canon(canon, tags)`` and ``search_fts_fold(fold, tags)``
  kept in step by triggers.
- PostgreSQL: the ``unaccent`` extension, a text search configuration ``giaoban_fold`` (``simple`` +
  unaccent), generated tsvector columns ``canon_tsv``/``fold_tsv``/``tags_tsv`` with GIN indexes.
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import server.models.base

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SQLITE_DDL = [
    """CREATE TABLE IF NOT EXISTS search_docs (
        id INTEGER PRIMARY KEY,
        kind VARCHAR(16) NOT NULL,
        ref_id INTEGER NOT NULL,
        meeting_id INTEGER,
        unit_id INTEGER,
        speaker VARCHAR(200) NOT NULL DEFAULT '',
        speaker_fold VARCHAR(200) NOT NULL DEFAULT '',
        start_s REAL,
        end_s REAL,
        day VARCHAR(10),
        text TEXT NOT NULL,
        canon TEXT NOT NULL,
        fold TEXT NOT NULL,
        tags TEXT NOT NULL,
        UNIQUE (kind, ref_id)
    )""",
    # Two FTS5 tables, one per form: a token of one form (an unaccented "thuy") never lengthens the posting
    # lists that a query of the other form walks. Each carries the tags so filters intersect in the index.
    """CREATE VIRTUAL TABLE IF NOT EXISTS search_fts_canon USING fts5(
        canon, tags, content='search_docs', content_rowid='id', tokenize = 'unicode61 remove_diacritics 0'
    )""",
    """CREATE VIRTUAL TABLE IF NOT EXISTS search_fts_fold USING fts5(
        fold, tags, content='search_docs', content_rowid='id', tokenize = 'unicode61 remove_diacritics 0'
    )""",
    """CREATE TRIGGER IF NOT EXISTS search_docs_ai AFTER INSERT ON search_docs BEGIN
        INSERT INTO search_fts_canon(rowid, canon, tags) VALUES (new.id, new.canon, new.tags);
        INSERT INTO search_fts_fold(rowid, fold, tags) VALUES (new.id, new.fold, new.tags);
    END""",
    """CREATE TRIGGER IF NOT EXISTS search_docs_ad AFTER DELETE ON search_docs BEGIN
        INSERT INTO search_fts_canon(search_fts_canon, rowid, canon, tags)
        VALUES ('delete', old.id, old.canon, old.tags);
        INSERT INTO search_fts_fold(search_fts_fold, rowid, fold, tags)
        VALUES ('delete', old.id, old.fold, old.tags);
    END""",
    """CREATE TRIGGER IF NOT EXISTS search_docs_au AFTER UPDATE ON search_docs BEGIN
        INSERT INTO search_fts_canon(search_fts_canon, rowid, canon, tags)
        VALUES ('delete', old.id, old.canon, old.tags);
        INSERT INTO search_fts_fold(search_fts_fold, rowid, fold, tags)
        VALUES ('delete', old.id, old.fold, old.tags);
        INSERT INTO search_fts_canon(rowid, canon, tags) VALUES (new.id, new.canon, new.tags);
        INSERT INTO search_fts_fold(rowid, fold, tags) VALUES (new.id, new.fold, new.tags);
    END""",
]

POSTGRES_DDL = [
    "CREATE EXTENSION IF NOT EXISTS unaccent",
    """DO $$ BEGIN
        IF NOT EXISTS (
            SELECT 1 FROM pg_ts_config c JOIN pg_namespace n ON n.oid = c.cfgnamespace
            WHERE c.cfgname = 'giaoban_fold' AND n.nspname = current_schema()
        ) THEN
            CREATE TEXT SEARCH CONFIGURATION giaoban_fold (COPY = simple);
            ALTER TEXT SEARCH CONFIGURATION giaoban_fold
                ALTER MAPPING FOR hword, hword_part, word WITH unaccent, simple;
        END IF;
    END $$""",
    """CREATE TABLE IF NOT EXISTS search_docs (
        id BIGSERIAL PRIMARY KEY,
        kind VARCHAR(16) NOT NULL,
        ref_id INTEGER NOT NULL,
        meeting_id INTEGER,
        unit_id INTEGER,
        speaker VARCHAR(200) NOT NULL DEFAULT '',
        speaker_fold VARCHAR(200) NOT NULL DEFAULT '',
        start_s DOUBLE PRECISION,
        end_s DOUBLE PRECISION,
        day DATE,
        text TEXT NOT NULL,
        canon TEXT NOT NULL,
        fold TEXT NOT NULL,
        tags TEXT NOT NULL,
        canon_tsv tsvector GENERATED ALWAYS AS (to_tsvector('simple'::regconfig, canon)) STORED,
        fold_tsv tsvector GENERATED ALWAYS AS (to_tsvector('giaoban_fold'::regconfig, fold)) STORED,
        tags_tsv tsvector GENERATED ALWAYS AS (to_tsvector('simple'::regconfig, tags)) STORED,
        UNIQUE (kind, ref_id)
    )""",
    "CREATE INDEX IF NOT EXISTS ix_search_docs_canon_tsv ON search_docs USING GIN (canon_tsv)",
    "CREATE INDEX IF NOT EXISTS ix_search_docs_fold_tsv ON search_docs USING GIN (fold_tsv)",
    "CREATE INDEX IF NOT EXISTS ix_search_docs_tags_tsv ON search_docs USING GIN (tags_tsv)",
]


def upgrade() -> None:
    with op.batch_alter_table("conclusions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("segment_ids", sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column("assignee_unit_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("deadline", sa.Date(), nullable=True))
        batch_op.add_column(
            sa.Column("updated_at", server.models.base.UTCDateTime(timezone=True), nullable=True)
        )
        batch_op.create_foreign_key(
            batch_op.f("fk_conclusions_assignee_unit_id_units"),
            "units",
            ["assignee_unit_id"],
            ["id"],
            ondelete="SET NULL",
        )
    op.execute("UPDATE conclusions SET segment_ids = '[]' WHERE segment_ids IS NULL")
    with op.batch_alter_table("conclusions", schema=None) as batch_op:
        batch_op.alter_column("segment_ids", existing_type=sa.JSON(), nullable=False)

    dialect = op.get_bind().dialect.name
    for statement in POSTGRES_DDL if dialect == "postgresql" else SQLITE_DDL:
        op.execute(statement)


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "postgresql":
        op.execute("DROP TABLE IF EXISTS search_docs")
        op.execute("DROP TEXT SEARCH CONFIGURATION IF EXISTS giaoban_fold")
    else:
        for name in ("search_docs_ai", "search_docs_ad", "search_docs_au"):
            op.execute(f"DROP TRIGGER IF EXISTS {name}")
        op.execute("DROP TABLE IF EXISTS search_fts_canon")
        op.execute("DROP TABLE IF EXISTS search_fts_fold")
        op.execute("DROP TABLE IF EXISTS search_docs")
    with op.batch_alter_table("conclusions", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("fk_conclusions_assignee_unit_id_units"), type_="foreignkey")
        batch_op.drop_column("updated_at")
        batch_op.drop_column("deadline")
        batch_op.drop_column("assignee_unit_id")
        batch_op.drop_column("segment_ids")
