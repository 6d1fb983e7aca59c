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
        # Only differences a migration would have to carry count (not e.g. server-side FTS tables).
        significant = [d for d in diff if not (isinstance(d, tuple) and d[0] == "remove_table")]
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
