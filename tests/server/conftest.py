"""Fixtures of the server tests beyond tests/conftest.py's."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.server.live_harness import LiveServer


@pytest.fixture
def live(tmp_path: Path, database_url: str | None) -> Iterator[LiveServer]:
    """``giaoban serve --demo`` in a subprocess on a free port (tests/server/live_harness.py)."""
    server = LiveServer(tmp_path / "data", database_url).start()
    try:
        yield server
    finally:
        server.stop()
