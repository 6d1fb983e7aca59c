"""Every setting is documented; GIAOBAN_* variables reach the settings; derived paths follow the data dir."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from server.config import Settings

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("name", sorted(Settings.model_fields))
def test_every_setting_is_documented(name: str) -> None:
    field = Settings.model_fields[name]
    assert field.description and len(field.description) > 15, f"GIAOBAN_{name.upper()} needs a description"
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    assert f"GIAOBAN_{name.upper()}" in readme, f"GIAOBAN_{name.upper()} is missing from the README"


def test_environment_variables_are_read(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("GIAOBAN_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("GIAOBAN_ICE_ADDRESSES", "127.0.0.1, 127.0.0.2")
    monkeypatch.setenv("GIAOBAN_PORT", "8123")
    s = Settings()
    assert s.data_dir == tmp_path
    assert s.ice_addresses == ["127.0.0.1", "127.0.0.2"]
    assert s.port == 8123
    assert s.resolved_database_url == f"sqlite:///{(tmp_path / 'giaoban.sqlite3').resolve()}"
    assert s.recordings_dir == tmp_path / "recordings"


def test_postgres_url_switches_backend(tmp_path: Path) -> None:
    s = Settings(data_dir=tmp_path, database_url="postgresql+psycopg://u@127.0.0.1/db")
    assert not s.is_sqlite
    assert s.resolved_database_url.startswith("postgresql")


def test_settings_command_lists_every_variable() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "server.cli", "settings"], capture_output=True, text=True, check=True
    ).stdout
    for name in Settings.model_fields:
        assert f"GIAOBAN_{name.upper()}" in out
