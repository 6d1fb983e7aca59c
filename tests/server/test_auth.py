"""Login returns a bearer token and an httpOnly cookie; logout revokes; failures are throttled and audited."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from server.models import AuditEvent
from tests.conftest import TEST_PASSWORD, Account


def test_login_returns_token_and_sets_http_only_cookie(
    client: TestClient, seeded: dict[str, Account]
) -> None:
    r = client.post("/api/auth/login", json={"username": "chumo", "password": TEST_PASSWORD})
    assert r.status_code == 200
    body = r.json()
    assert body["token_type"] == "bearer" and len(body["access_token"]) > 30
    assert body["user"]["unit"] == "CHUMO" and body["user"]["role"] == "member"
    cookie = r.headers["set-cookie"]
    assert "giaoban_session=" in cookie and "HttpOnly" in cookie and "samesite=lax" in cookie.lower()
    # the cookie alone authenticates (web client)
    assert client.get("/api/auth/me").json()["username"] == "chumo"
    # the bearer token alone authenticates (bot, API clients)
    client.cookies.clear()
    me = client.get("/api/auth/me", headers={"Authorization": f"Bearer {body['access_token']}"})
    assert me.status_code == 200 and me.json()["unit_name"] == "UBND xã Chư Mố"


def test_wrong_password_is_401_in_the_error_shape(client: TestClient, seeded: dict[str, Account]) -> None:
    r = client.post("/api/auth/login", json={"username": "chumo", "password": "wrong-password"})
    assert r.status_code == 401
    assert r.json() == {
        "error": {"code": "unauthenticated", "message": "Sai tên đăng nhập hoặc mật khẩu.", "details": None}
    }
    unknown = client.post("/api/auth/login", json={"username": "nobody", "password": "wrong-password"})
    assert unknown.status_code == 401 and unknown.json() == r.json()


def test_logout_revokes_the_session(client: TestClient, seeded: dict[str, Account]) -> None:
    token = client.post("/api/auth/login", json={"username": "chair", "password": TEST_PASSWORD}).json()[
        "access_token"
    ]
    headers = {"Authorization": f"Bearer {token}"}
    assert client.post("/api/auth/logout", headers=headers).status_code == 204
    client.cookies.clear()
    r = client.get("/api/auth/me", headers=headers)
    assert r.status_code == 401 and r.json()["error"]["code"] == "unauthenticated"


def test_failed_logins_are_throttled_then_audited(client: TestClient, seeded: dict[str, Account]) -> None:
    for _ in range(5):
        assert (
            client.post("/api/auth/login", json={"username": "iatul", "password": "x" * 9}).status_code == 401
        )
    r = client.post("/api/auth/login", json={"username": "iatul", "password": TEST_PASSWORD})
    assert r.status_code == 429 and r.json()["error"]["code"] == "too_many_requests"
    # another account is not affected
    assert (
        client.post("/api/auth/login", json={"username": "chumo", "password": TEST_PASSWORD}).status_code
        == 200
    )
    with client.app.state.db.session() as session:  # type: ignore[attr-defined]
        failures = session.scalars(select(AuditEvent).where(AuditEvent.action == "auth.login_failed")).all()
        assert len(failures) == 5 and {f.object_id for f in failures} == {"iatul"}


def test_missing_fields_are_422_in_the_error_shape(client: TestClient, seeded: dict[str, Account]) -> None:
    r = client.post("/api/auth/login", json={"username": "chumo"})
    assert r.status_code == 422
    err = r.json()["error"]
    assert err["code"] == "invalid_input" and err["details"][0]["loc"] == ["body", "password"]


def test_unknown_route_is_404_in_the_error_shape(client: TestClient) -> None:
    r = client.get("/api/nothing-here")
    assert r.status_code == 404 and r.json()["error"]["code"] == "not_found"


def test_health_reports_database(client: TestClient) -> None:
    r = client.get("/api/health")
    assert r.status_code == 200
    body = r.json()
    assert body["status"] == "ok" and body["version"] and body["database"]["status"] == "ok"
    assert body["media"] == {"accelerations_off": {}}  # the pinned aiortc: every acceleration in use


def test_health_names_an_acceleration_switched_off(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    from server.media import aiortc_hooks as hooks
    from server.media.aiortc_hooks import checks

    monkeypatch.setattr(checks, "_srtp_protect_type", lambda: "int(*)(void *)")
    try:
        hooks.self_check()
        r = client.get("/api/health")
        assert r.status_code == 200  # slower, not broken
        assert list(r.json()["media"]["accelerations_off"]) == ["c_sender"]
    finally:
        monkeypatch.undo()
        hooks.self_check()


def test_openapi_is_served(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    assert "/api/meetings" in spec["paths"] and "/api/auth/login" in spec["paths"]
