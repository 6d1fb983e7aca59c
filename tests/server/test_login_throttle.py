"""The login throttle: per username *and* client address, per address over all usernames, exponential
back-off, ``Retry-After`` on every 429, and the admin unlock (API and ``giaoban user unlock``).

Each client address is a ``TestClient`` with its own ``client`` tuple on the same app (real HTTP through the
app, real database). Time passing is the audit log's failures moved back, so the back-off is read exactly.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from server.config import Settings
from server.models import AuditEvent
from tests.conftest import TEST_PASSWORD, Account, login_headers
from tests.server.test_cli import giaoban

WRONG = "sai-mat-khau-1"


def at(client: TestClient, address: str) -> TestClient:
    """Another machine talking to the same running app."""
    return TestClient(client.app, client=(address, 40000))


def attempt(c: TestClient, username: str, password: str) -> Any:
    return c.post("/api/auth/login", json={"username": username, "password": password})


def fail(c: TestClient, username: str, times: int) -> None:
    for _ in range(times):
        r = attempt(c, username, WRONG)
        assert r.status_code == 401, r.text


def retry_after(r: Any) -> int:
    """The 429's wait, checked to be the same in the header and in the error's details."""
    assert r.status_code == 429, r.text
    err = r.json()["error"]
    assert err["code"] == "too_many_requests"
    assert r.headers["Retry-After"] == str(err["details"]["retry_after_s"])
    return int(err["details"]["retry_after_s"])


def age_failures(client: TestClient, seconds: float) -> None:
    """Let ``seconds`` pass for the throttle: every recorded failure moves back in time."""
    with client.app.state.db.session() as session:  # type: ignore[attr-defined]
        for event in session.scalars(select(AuditEvent).where(AuditEvent.action == "auth.login_failed")):
            event.at -= dt.timedelta(seconds=seconds)


def test_guesses_from_one_address_never_lock_the_chair_out_elsewhere(
    client: TestClient, seeded: dict[str, Account], settings: Settings
) -> None:
    attacker, office = at(client, "10.0.0.66"), at(client, "10.0.0.10")
    fail(attacker, "chair", settings.login_max_failures)
    # the attacker's address now waits, even with the right password
    wait = retry_after(attempt(attacker, "chair", TEST_PASSWORD))
    assert wait == settings.login_backoff_s == 30
    assert retry_after(attempt(attacker, "chair", WRONG)) <= wait
    # the chair, from the office, logs in as usual
    assert attempt(office, "chair", TEST_PASSWORD).status_code == 200
    # the attacker's address is not blocked for other accounts (under the per-address limit)
    assert attempt(attacker, "chumo", TEST_PASSWORD).status_code == 200


def test_an_address_that_also_failed_waits_too(client: TestClient, seeded: dict[str, Account]) -> None:
    office = at(client, "10.0.0.10")
    fail(office, "chair", 5)
    retry_after(attempt(office, "chair", TEST_PASSWORD))


def test_back_off_doubles_with_each_further_failure_up_to_the_cap(
    client: TestClient, seeded: dict[str, Account]
) -> None:
    attacker = at(client, "10.0.0.66")
    fail(attacker, "chair", 5)
    waits = []
    for _ in range(7):
        wait = retry_after(attempt(attacker, "chair", WRONG))
        waits.append(wait)
        age_failures(client, wait + 1)  # the wait passes
        fail(attacker, "chair", 1)  # one more failure is allowed, and doubles the next wait
    assert waits == [30, 60, 120, 240, 480, 900, 900]
    # refused attempts (429) did not count: 5 + 7 failures recorded
    with client.app.state.db.session() as session:  # type: ignore[attr-defined]
        assert session.query(AuditEvent).filter(AuditEvent.action == "auth.login_failed").count() == 12


def test_a_successful_login_from_that_address_resets_its_count(
    client: TestClient, seeded: dict[str, Account]
) -> None:
    office = at(client, "10.0.0.10")
    fail(office, "chair", 4)
    assert attempt(office, "chair", TEST_PASSWORD).status_code == 200
    fail(office, "chair", 4)
    assert attempt(office, "chair", TEST_PASSWORD).status_code == 200


def test_a_password_spray_from_one_address_is_throttled(
    client: TestClient, seeded: dict[str, Account], settings: Settings
) -> None:
    sprayer = at(client, "10.0.0.99")
    statuses: dict[int, int] = {}
    retry_afters = set()
    for i in range(200):
        r = attempt(sprayer, f"user{i:03d}", WRONG)
        statuses[r.status_code] = statuses.get(r.status_code, 0) + 1
        if r.status_code == 429:
            retry_afters.add(retry_after(r))
            assert r.json()["error"]["details"]["scope"] == "address"
    # 20 guesses were checked; the other 180 were refused without checking a password
    assert statuses == {401: settings.login_ip_max_failures, 429: 200 - settings.login_ip_max_failures}
    assert retry_afters and max(retry_afters) <= 30
    # a real account from that address waits too; from elsewhere it does not
    retry_after(attempt(sprayer, "chumo", TEST_PASSWORD))
    assert attempt(at(client, "10.0.0.10"), "chumo", TEST_PASSWORD).status_code == 200


def test_failures_older_than_the_window_are_forgotten(
    client: TestClient, seeded: dict[str, Account], settings: Settings
) -> None:
    attacker = at(client, "10.0.0.66")
    fail(attacker, "chair", 5)
    retry_after(attempt(attacker, "chair", TEST_PASSWORD))
    age_failures(client, settings.login_window_s + 1)
    assert attempt(attacker, "chair", TEST_PASSWORD).status_code == 200


def test_an_admin_unlocks_a_username(client: TestClient, seeded: dict[str, Account]) -> None:
    attacker = at(client, "10.0.0.66")
    fail(attacker, "chair", 5)
    retry_after(attempt(attacker, "chair", TEST_PASSWORD))
    admin = login_headers(client, "admin")
    member = login_headers(client, "chumo")
    refused = client.post("/api/users/chair/unlock", headers=member)
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "forbidden"
    assert client.post("/api/users/nobody/unlock", headers=admin).status_code == 404
    assert client.post("/api/users/chair/unlock", headers=admin).status_code == 204
    assert attempt(attacker, "chair", TEST_PASSWORD).status_code == 200
    with client.app.state.db.session() as session:  # type: ignore[attr-defined]
        unlock = session.query(AuditEvent).filter(AuditEvent.action == "auth.unlock").one()
        assert (unlock.actor, unlock.object_type, unlock.object_id) == ("admin", "user", "chair")


def test_an_admin_unlocks_an_address_after_a_spray(client: TestClient, seeded: dict[str, Account]) -> None:
    sprayer = at(client, "10.0.0.99")
    for i in range(20):
        attempt(sprayer, f"user{i:03d}", WRONG)
    retry_after(attempt(sprayer, "chumo", TEST_PASSWORD))
    admin = login_headers(client, "admin")
    r = client.post("/api/users/chumo/unlock", headers=admin, json={"address": "10.0.0.99"})
    assert r.status_code == 204
    assert attempt(sprayer, "chumo", TEST_PASSWORD).status_code == 200


@pytest.mark.e2e
def test_giaoban_user_unlock_clears_the_throttle(
    client: TestClient, seeded: dict[str, Account], settings: Settings
) -> None:
    attacker = at(client, "10.0.0.66")
    fail(attacker, "chair", 5)
    retry_after(attempt(attacker, "chair", TEST_PASSWORD))
    out = giaoban(settings, "user", "unlock", "chair")
    assert out.stdout.strip() == "Đã mở khóa đăng nhập cho tài khoản chair."
    assert attempt(attacker, "chair", TEST_PASSWORD).status_code == 200
    unknown = giaoban(settings, "user", "unlock", "nobody", check=False)
    assert unknown.returncode == 2 and "Không có tài khoản nobody" in unknown.stderr
