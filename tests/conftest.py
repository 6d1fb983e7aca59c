"""Shared fixtures: settings on a fresh data dir and a fresh database (SQLite by default, or a new PostgreSQL
schema per test when GIAOBAN_TEST_DATABASE_URL names a PostgreSQL database), the app, seeded accounts."""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from server.config import Settings
from tests import speech
from tests.env import TEST_SETTINGS

REPO = Path(__file__).resolve().parent.parent
TEST_PASSWORD = "mat-khau-thu-nghiem"
PG_URL = os.environ.get("GIAOBAN_TEST_DATABASE_URL", "")

# Settings read GIAOBAN_* from the environment: tests build them explicitly, so drop what the shell set.
for _key in [k for k in os.environ if k.startswith("GIAOBAN_") and not k.startswith("GIAOBAN_TEST_")]:
    del os.environ[_key]
os.environ.update(TEST_SETTINGS)  # what every process of the suite runs with (tests/env.py)

_NOT_MEASURED = pytest.StashKey[list[str]]()
_FIRST_RUN_ONLY = pytest.StashKey[int]()

# In the PostgreSQL run (GIAOBAN_TEST_DATABASE_URL set, the second pass of .ci/run) a test runs only where
# the code differs from the first pass: it takes the database_url fixture (directly or through another
# fixture, e.g. a live server), or its module reaches the database or Redis another way (a module-wide app,
# the site harness). The rest (codecs, forwarding, documents, ASR, the web client's unit tests) already ran
# in the first pass against the same code and are deselected; the summary says how many. So are the tests
# marked ``any_database``: they start a server (so they reach a database) but check what does not depend on
# it (media, the browser's rendering, the document renderer, the signaling's bad input); the store code they
# pass through runs on PostgreSQL in the API and service tests.
_DATABASE_MARKERS = ("database_url", "open_app", "open_world", "PG_URL", "GIAOBAN_TEST_", "site_harness")


def pytest_configure(config: pytest.Config) -> None:
    # one speech cache for the session, shared with the child processes the tests start
    config.stash[_NOT_MEASURED] = []
    if not os.environ.get(speech.CACHE_ENV):
        os.environ[speech.CACHE_ENV] = tempfile.mkdtemp(prefix="giaoban-speech-")
        config.add_cleanup(lambda: shutil.rmtree(os.environ.pop(speech.CACHE_ENV), ignore_errors=True))


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """``speech_corpus``: one run per corpus present (tests/speech.py); an absent corpus is counted."""
    if "speech_corpus" not in metafunc.fixturenames:
        return
    present = speech.corpora_present()
    metafunc.parametrize("speech_corpus", present, ids=[c.name for c in present])
    if not speech.vivos_present():
        metafunc.config.stash[_NOT_MEASURED].append(f"{metafunc.definition.nodeid}[{speech.VIVOS}]")


def _reaches_database(item: pytest.Item, sources: dict[str, bool]) -> bool:
    if item.get_closest_marker("any_database") is not None:
        return False
    if "database_url" in getattr(item, "fixturenames", ()):
        return True
    path = str(item.path)
    if path not in sources:
        try:
            text = item.path.read_text(encoding="utf-8")
        except OSError:
            text = ""
        sources[path] = any(marker in text for marker in _DATABASE_MARKERS)
    return sources[path]


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if not PG_URL:
        return
    sources: dict[str, bool] = {}
    kept: list[pytest.Item] = []
    dropped: list[pytest.Item] = []
    for item in items:
        (kept if _reaches_database(item, sources) else dropped).append(item)
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = kept
    config.stash[_FIRST_RUN_ONLY] = len(dropped)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter, config: pytest.Config) -> None:
    first_only = config.stash.get(_FIRST_RUN_ONLY, 0)
    if first_only:
        terminalreporter.write_line(
            f"PostgreSQL run: {first_only} tests that reach no database or Redis were left to the first run "
            "(same code, same result)"
        )
    missing = config.stash.get(_NOT_MEASURED, [])
    if missing:
        terminalreporter.write_line(
            f"real-speech measurements: VIVOS corpus not found at {speech.VIVOS_DIR} — "
            f"{len(missing)} accuracy measurements not run (the espeak-ng speech was measured instead)"
        )


def _pg_schema_url(base: str) -> tuple[str, str]:
    import psycopg

    schema = f"t_{uuid.uuid4().hex[:12]}"
    plain = base.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(plain, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
        conn.execute("CREATE EXTENSION IF NOT EXISTS unaccent SCHEMA public")
    sep = "&" if "?" in base else "?"
    return f"{base}{sep}options=-csearch_path%3D{schema},public", schema


def _pg_drop(base: str, schema: str) -> None:
    import psycopg

    plain = base.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(plain, autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


@pytest.fixture
def database_url(tmp_path: Path) -> Iterator[str | None]:
    """None (SQLite under the data dir) or a PostgreSQL URL bound to a fresh schema."""
    if not PG_URL:
        yield None
        return
    url, schema = _pg_schema_url(PG_URL)
    try:
        yield url
    finally:
        _pg_drop(PG_URL, schema)


@pytest.fixture
def settings(tmp_path: Path, database_url: str | None) -> Settings:
    return Settings(
        data_dir=tmp_path / "data",
        database_url=database_url,
        ice_addresses=["127.0.0.1"],
        secret_key="test-secret",
        login_max_failures=5,
    )


@pytest.fixture
def app(settings: Settings):  # type: ignore[no-untyped-def]
    from server.app import create_app

    return create_app(settings)


@pytest.fixture
def client(app) -> Iterator[TestClient]:  # type: ignore[no-untyped-def]
    with TestClient(app) as c:
        yield c


@dataclass(frozen=True)
class Account:
    username: str
    role: str
    unit: str


ACCOUNTS: tuple[Account, ...] = (
    Account("admin", "admin", "IAPA"),
    Account("chair", "chair", "IAPA"),
    Account("clerk", "clerk", "IAPA"),
    Account("viewer", "viewer", "IAPA"),
    Account("chumo", "member", "CHUMO"),
    Account("chumo-chair", "chair", "CHUMO"),
    Account("iatul", "member", "IATUL"),
    Account("iatul-clerk", "clerk", "IATUL"),
)


@pytest.fixture
def seeded(client: TestClient) -> dict[str, Account]:
    """Ia Pa, its nine communes and one account per (role, unit) of ACCOUNTS, all with TEST_PASSWORD."""
    return seed_accounts(client)


def seed_accounts(client: TestClient, accounts: Sequence[Account] = ACCOUNTS) -> dict[str, Account]:
    """What the ``seeded`` fixture does, for a client a test made itself: Ia Pa's units and ``accounts``, all
    with TEST_PASSWORD."""
    from server.services import accounts as account_service
    from server.services import units

    db = client.app.state.db  # type: ignore[attr-defined]
    with db.session() as session:
        units.seed_ia_pa(session)
        for acc in accounts:
            account_service.create_user(
                session, username=acc.username, password=TEST_PASSWORD, role=acc.role, unit_code=acc.unit
            )
    return {a.username: a for a in accounts}


def login_headers(client: TestClient, username: str, password: str = TEST_PASSWORD) -> dict[str, str]:
    r = client.post("/api/auth/login", json={"username": username, "password": password})
    assert r.status_code == 200, r.text
    client.cookies.clear()
    return {"Authorization": f"Bearer {r.json()['access_token']}"}


@contextmanager
def open_app(tmp_path_factory: pytest.TempPathFactory, name: str) -> Iterator[TestClient]:
    """One app (data dir + database, a fresh PostgreSQL schema in the PostgreSQL run) for a whole module."""
    from server.app import create_app

    url, schema = _pg_schema_url(PG_URL) if PG_URL else (None, "")
    settings = Settings(
        data_dir=tmp_path_factory.mktemp(name),
        database_url=url,
        ice_addresses=["127.0.0.1"],
        secret_key="test-secret",
    )
    try:
        with TestClient(create_app(settings)) as client:
            yield client
    finally:
        if schema:
            _pg_drop(PG_URL, schema)


@dataclass
class World:
    """One app shared by the tests of a module, with Ia Pa seeded and every account logged in."""

    client: TestClient
    headers: dict[str, dict[str, str]]
    settings: Settings

    def h(self, username: str) -> dict[str, str]:
        return self.headers[username]


@contextmanager
def open_world(
    tmp_path_factory: pytest.TempPathFactory, name: str, accounts: Sequence[Account] = ACCOUNTS
) -> Iterator[World]:
    """Seeding and logging in cost seconds (argon2): a module pays once, then makes fresh data per test."""
    with open_app(tmp_path_factory, name) as client:
        seed_accounts(client, accounts)
        headers = {a.username: login_headers(client, a.username) for a in accounts}
        yield World(client, headers, client.app.state.settings)  # type: ignore[attr-defined]
