"""Migrations build the schema from empty, on SQLite and (second CI run) PostgreSQL, and match the models."""

from __future__ import annotations

from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from server.config import Settings
from server.db import Database, migrate
from server.models import Base


def test_upgrade_from_empty_creates_every_table(settings: Settings) -> None:
    migrate(settings)
    db = Database(settings)
    try:
        tables = set(inspect(db.engine).get_table_names())
        assert set(Base.metadata.tables) <= tables
        assert "alembic_version" in tables
    finally:
        db.dispose()


def test_migrations_match_the_models(settings: Settings) -> None:
    migrate(settings)
    db = Database(settings)
    try:
        with db.engine.connect() as conn:
            diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
        # The search index (search_docs, its FTS5 tables or GIN indexes) is built by migrations on purpose and
        # has no ORM model: only differences for the modelled tables count.
        def unmodelled(d: object) -> bool:
            if not isinstance(d, tuple):
                return False
            if d[0] == "remove_table":
                return True
            return d[0] == "remove_index" and d[1].table.name not in Base.metadata.tables

        significant = [d for d in diff if not unmodelled(d)]
        assert significant == [], f"models and migrations differ: {significant}"
    finally:
        db.dispose()


def test_upgrade_is_idempotent(settings: Settings) -> None:
    migrate(settings)
    migrate(settings)


def test_sqlite_runs_in_wal_mode(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path)  # the embedded default, whatever backend the run uses
    migrate(settings)
    db = Database(settings)
    try:
        with db.engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
    finally:
        db.dispose()
