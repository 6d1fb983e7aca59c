"""Sockets and login sessions: one-use tickets (``POST /api/auth/ws-ticket``), and a socket closed with 4401
when its session is logged out or expires (the notification socket through the app; the signaling socket
against a real server in ``test_signaling_fuzz.py``)."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

from server.config import Settings
from server.models import WsTicket
from tests.conftest import Account, login_headers, seed_accounts


def ticket(client: TestClient, headers: dict[str, str]) -> str:
    r = client.post("/api/auth/ws-ticket", headers=headers)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["expires_in"] == 30 and len(body["ticket"]) > 30
    return str(body["ticket"])


def refused_with(client: TestClient, url: str) -> tuple[int, dict[str, object]]:
    """Open a socket that the server refuses: the error it sent and its close code."""
    with client.websocket_connect(url) as ws:
        error = ws.receive_json()
        with pytest.raises(WebSocketDisconnect) as closed:
            ws.receive_json()
    return closed.value.code, error


def test_a_ticket_opens_one_socket_once(client: TestClient, seeded: dict[str, Account]) -> None:
    headers = login_headers(client, "chumo")
    assert client.post("/api/auth/ws-ticket").status_code == 401
    t = ticket(client, headers)
    with client.websocket_connect(f"/ws/notifications?ticket={t}&after=0") as ws:
        ws.send_text("ping")  # the socket is open and reads
    code, error = refused_with(client, f"/ws/notifications?ticket={t}")
    assert code == 4401 and error["code"] == "unauthenticated"
    assert "đã được dùng" in str(error["message"])
    code, _ = refused_with(client, "/ws/notifications?ticket=made-up")
    assert code == 4401
    with client.app.state.db.session() as session:  # type: ignore[attr-defined]
        stored = session.query(WsTicket).one()
        assert stored.used_at is not None and t not in stored.ticket_sha256  # only a digest is kept


def test_an_expired_ticket_or_one_of_a_logged_out_session_is_refused(
    client: TestClient, seeded: dict[str, Account]
) -> None:
    headers = login_headers(client, "chumo")
    old = ticket(client, headers)
    with client.app.state.db.session() as session:  # type: ignore[attr-defined]
        for row in session.query(WsTicket):
            row.expires_at -= dt.timedelta(seconds=31)
    assert refused_with(client, f"/ws/notifications?ticket={old}")[0] == 4401
    fresh = ticket(client, headers)
    assert client.post("/api/auth/logout", headers=headers).status_code == 204
    code, error = refused_with(client, f"/ws/notifications?ticket={fresh}")
    assert code == 4401 and "Phiên đăng nhập" in str(error["message"])


def test_logout_closes_the_sessions_sockets_with_4401(client: TestClient, seeded: dict[str, Account]) -> None:
    headers = login_headers(client, "chumo")
    other = login_headers(client, "chumo")  # another login of the same account stays open
    with (
        client.websocket_connect(f"/ws/notifications?ticket={ticket(client, headers)}") as mine,
        client.websocket_connect(f"/ws/notifications?ticket={ticket(client, other)}") as theirs,
        client.websocket_connect(
            "/ws/notifications", headers={"Authorization": headers["Authorization"]}
        ) as by_header,
    ):
        started = time.monotonic()
        assert client.post("/api/auth/logout", headers=headers).status_code == 204
        for ws in (mine, by_header):
            assert ws.receive_json()["code"] == "session_ended"
            with pytest.raises(WebSocketDisconnect) as closed:
                ws.receive_json()
            assert closed.value.code == 4401
        assert time.monotonic() - started < 5  # at once, not at the next periodic check (30 s)
        theirs.send_text("still here")
        assert client.get("/api/auth/me", headers=other).status_code == 200
    assert client.app.state.session_sockets.count(1) == 0  # type: ignore[attr-defined]


@pytest.fixture
def short_sessions(tmp_path: Path, database_url: str | None) -> Iterator[TestClient]:
    from server.app import create_app

    settings = Settings(data_dir=tmp_path / "short", database_url=database_url, session_ttl_s=3)
    with TestClient(create_app(settings)) as c:
        seed_accounts(c)
        yield c


def test_a_socket_closes_when_its_session_expires(short_sessions: TestClient) -> None:
    client = short_sessions
    headers = login_headers(client, "chumo")
    r = client.get("/api/auth/me", headers=headers)
    assert r.status_code == 200
    with client.websocket_connect(f"/ws/notifications?ticket={ticket(client, headers)}") as ws:
        opened = time.monotonic()
        assert ws.receive_json()["code"] == "session_ended"
        with pytest.raises(WebSocketDisconnect) as closed:
            ws.receive_json()
        waited = time.monotonic() - opened
    assert closed.value.code == 4401
    # closed at the expiry (3 s after login, less what the ticket took), not 30 s later at a periodic check
    assert 1.0 < waited < 4.5, waited
    assert client.get("/api/auth/me", headers=headers).status_code == 401
