"""Two `giaoban serve` processes of one site (PostgreSQL + Redis): what one process does reaches the sockets
and requests of the other (issue 17).

- a notification written by a request on process A reaches a notification socket open on process B at once:
  B's socket polls only every 60 s while the Redis bus listens (``/api/health`` says so), and the notification
  arrives well before that poll;
- a logout through A closes the session's socket open on B at once (4401, ``session_ended``), although B
  re-reads sessions only every 60 s here (``GIAOBAN_WS_SESSION_CHECK_S``); the session's token is refused by
  B as by A;
- a session opened on A is valid on B; the login throttle counts failures made through A when the next
  attempt comes through B (the audit log is in the shared database).

Marker ``pg`` (Redis database 13, see tests/server/site_harness.py)."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest

from tests.server.live_harness import LiveServer, SocketClient
from tests.server.site_harness import running_site

pytestmark = [pytest.mark.pg, pytest.mark.e2e]

SESSION_CHECK_S = 60.0  # B's own re-reading of sessions: far longer than the test waits for the close
FALLBACK_POLL_S = 60.0  # B's notification sockets read the outbox this often while the bus listens
MAX_FAILURES = 3


def login(node: LiveServer, username: str, password: str) -> httpx.Response:
    return httpx.post(
        f"{node.url}/api/auth/login", json={"username": username, "password": password}, timeout=30
    )


def notification_socket(node: LiveServer, token: str) -> SocketClient:
    return SocketClient(f"ws://127.0.0.1:{node.port}/ws/notifications?token={token}")


def test_notifications_logouts_sessions_and_login_throttle_across_two_processes(
    tmp_path: Path, database_url: str | None
) -> None:
    env = {
        "GIAOBAN_WS_SESSION_CHECK_S": str(SESSION_CHECK_S),
        "GIAOBAN_LOGIN_MAX_FAILURES": str(MAX_FAILURES),
        "GIAOBAN_NOTIFY_FALLBACK_POLL_S": str(FALLBACK_POLL_S),
    }
    with running_site(tmp_path, database_url, nodes=2, worker=False, extra_env=env) as site:
        a, b = site.nodes
        for node in (a, b):
            health = httpx.get(f"{node.url}/api/health", timeout=10).json()
            assert health["bus"] == {"status": "listening"}, health

        # a notification written through A reaches Chư Mố's socket on B before B would have polled
        chair_token, chumo_token = a.token("chutri"), a.token("chumo")
        auth = {"Authorization": f"Bearer {chair_token}"}
        body = {
            "title": "Giao ban phòng chống lụt bão",
            "chair_unit": "IAPA",
            "units": ["CHUMO", "POTO"],
            "starts_at": "2026-12-08T08:00:00+07:00",
            "record": False,
        }
        created = httpx.post(f"{a.url}/api/meetings", json=body, headers=auth, timeout=30)
        assert created.status_code == 201, created.text
        meeting_id = created.json()["id"]
        opened_at = time.monotonic()
        sock = notification_socket(b, chumo_token)
        try:
            time.sleep(1.0)  # the socket's first read of the outbox is done: its next poll is 60 s later
            sent_at = time.monotonic()
            cancel = {"reason": "Bão số 9 đổ bộ"}
            cancelled = httpx.post(
                f"{a.url}/api/meetings/{meeting_id}/cancel", json=cancel, headers=auth, timeout=30
            )
            assert cancelled.status_code == 200, cancelled.text
            got = sock.wait_for(lambda x: x.get("type") == "notification", timeout_s=FALLBACK_POLL_S * 2)
            arrived_at = time.monotonic()
            assert got["kind"] == "meeting_cancelled" and got["data"]["meeting_id"] == meeting_id
            assert "Bão số 9 đổ bộ" in got["text"]
            print(
                f"\nnotification written through A reached B's socket {arrived_at - sent_at:.3f} s after the "
                f"request was sent"
            )
            # before B's first poll after the socket opened: the Redis bus woke it
            assert arrived_at - opened_at < FALLBACK_POLL_S - 1.0, arrived_at - opened_at
        finally:
            sock.close()

        # a session opened on A is valid on B; logged out through A, its socket on B closes at once
        token = a.token("poto")
        assert (
            httpx.get(f"{b.url}/api/auth/me", headers={"Authorization": f"Bearer {token}"}).status_code == 200
        )
        sock = notification_socket(b, token)
        try:
            time.sleep(0.5)
            logged_out_at = time.monotonic()
            out = httpx.post(
                f"{a.url}/api/auth/logout", headers={"Authorization": f"Bearer {token}"}, timeout=30
            )
            assert out.status_code == 204
            assert sock.wait_closed(timeout_s=SESSION_CHECK_S / 3) == 4401
            closed_s = time.monotonic() - logged_out_at
            assert any(x.get("code") == "session_ended" for x in sock.received), sock.received
            print(f"logout through A closed the session's socket on B after {closed_s:.3f} s")
            assert closed_s < SESSION_CHECK_S / 3
        finally:
            sock.close()
        for node in (a, b):
            me = httpx.get(f"{node.url}/api/auth/me", headers={"Authorization": f"Bearer {token}"})
            assert me.status_code == 401, me.text

        # the login throttle: failures through A count when the next attempt comes through B
        for _ in range(MAX_FAILURES):
            assert login(a, "iatul", "sai-mat-khau").status_code == 401
        refused = login(b, "iatul", a.creds["iatul"])
        assert refused.status_code == 429, refused.text
        assert refused.json()["error"]["details"]["scope"] == "user_address"
        assert login(b, "poto", a.creds["poto"]).status_code == 200  # another username is not delayed
