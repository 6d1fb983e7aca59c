"""The API probed from its own OpenAPI document with schemathesis, in process (ASGI), as CI runs it.

Every operation gets :data:`EXAMPLES` generated requests in each generation mode (data that fits the schema
and data that does not), with a fixed seed (``derandomize``), once as the admin and once as a commune member,
over a database holding a meeting that ran (transcript, conclusions, a task, minutes and notice), so that
small ids reach real rows. Two checks: no answer is a 5xx (``not_a_server_error``), and every status
answered is one the operation documents (``status_code_conformance``). Failures of all operations are
collected and reported together.

The app's lifespan is schemathesis' own (``from_asgi`` starts it and keeps it for the process; the module's
fixture stops it), so the requests and the app's background tasks share one event loop.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis import APIOperation, Case, GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import FailureGroup
from schemathesis.openapi import from_asgi
from schemathesis.python import asgi
from schemathesis.schemas import BaseSchema
from schemathesis.specs.openapi.checks import status_code_conformance

from server.app import create_app
from server.config import Settings
from tests.conftest import PG_URL, _pg_drop, _pg_schema_url, login_headers, seed_accounts
from tests.server.test_minutes_api import held_meeting

EXAMPLES = 12  # per operation, per generation mode, per user
REQUEST_TIMEOUT_S = 30.0
# The progress stream of a transcript not done yet stays open (up to 10 minutes): read it this long, then cut.
STREAM_TIMEOUT_S = 2.0
USERS = ("admin", "chumo")  # an admin of the chairing unit; a member of a commune (most things refused)

# Operations that would end the session the probe runs under: they are tested in tests/server/test_auth.py.
EXCLUDED = {
    ("POST", "/api/auth/logout"),  # revokes the very token every later request carries
}


@dataclass
class Probe:
    schema: BaseSchema
    headers: dict[str, dict[str, str]]
    requests: int = 0
    failures: list[str] = field(default_factory=list)


@pytest.fixture(scope="module")
def probe(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Probe]:
    url, pg_schema = _pg_schema_url(PG_URL) if PG_URL else (None, "")
    app = create_app(
        Settings(
            data_dir=tmp_path_factory.mktemp("schemathesis"),
            database_url=url,
            ice_addresses=["127.0.0.1"],
            secret_key="test-secret",
        )
    )
    try:
        schema = from_asgi("/openapi.json", app)  # starts the app's lifespan
        with asgi.get_client(app) as client:
            seed_accounts(client)  # type: ignore[arg-type]
            mid = held_meeting(client)  # type: ignore[arg-type]
            clerk = login_headers(client, "clerk")  # type: ignore[arg-type]
            conclusions = client.get(f"/api/meetings/{mid}/conclusions", headers=clerk).json()
            task = {"conclusion_id": conclusions[-1]["id"]}  # assigned to CHUMO, with a deadline
            assert client.post("/api/tasks", json=task, headers=clerk).status_code == 201
            for kind in ("minutes", "notice"):
                assert client.post(f"/api/meetings/{mid}/{kind}", json={}, headers=clerk).status_code == 201
            headers = {user: login_headers(client, user) for user in USERS}  # type: ignore[arg-type]
        yield Probe(schema, headers)
    finally:
        asgi.shutdown_lifespans()
        if pg_schema:
            _pg_drop(PG_URL, pg_schema)


def _run_operation(probe: Probe, user: str, operation: APIOperation) -> None:
    method, path = operation.method.upper(), operation.path
    strategy = st.one_of(
        operation.as_strategy(generation_mode=GenerationMode.POSITIVE),
        operation.as_strategy(generation_mode=GenerationMode.NEGATIVE),
    )
    timeout = STREAM_TIMEOUT_S if path.endswith("/events") else REQUEST_TIMEOUT_S

    @given(case=strategy)
    @settings(
        max_examples=2 * EXAMPLES,
        derandomize=True,
        database=None,
        deadline=None,
        phases=[Phase.explicit, Phase.generate],  # no shrinking: every failure is reported as found
        suppress_health_check=list(HealthCheck),
    )
    def run(case: Case) -> None:
        probe.requests += 1
        case.call_and_validate(
            headers=probe.headers[user],
            checks=[not_a_server_error, status_code_conformance],
            timeout=timeout,
        )

    try:
        run()
    except (Exception, FailureGroup) as exc:  # every operation's failures are collected, reported together
        probe.failures.append(f"{user} {method} {path}:\n{exc}")


@pytest.mark.parametrize("user", USERS)
def test_no_server_error_and_every_status_documented(probe: Probe, user: str) -> None:
    started = time.monotonic()
    operations = [
        op
        for op in (result.ok() for result in probe.schema.get_all_operations())
        if (op.method.upper(), op.path) not in EXCLUDED
    ]
    assert len(operations) > 50  # the whole API, not an empty schema
    before, probe.failures = probe.requests, []
    for operation in operations:
        _run_operation(probe, user, operation)
    print(
        f"schemathesis as {user}: {len(operations)} operations, {probe.requests - before} requests "
        f"(<= {2 * EXAMPLES} each), {len(probe.failures)} failing, {time.monotonic() - started:.1f} s"
    )
    assert not probe.failures, "\n\n".join(probe.failures)
