"""Each signaling socket's `welcome` carries TURN entries with a time-limited credential of its own
(GIAOBAN_TURN_URLS, GIAOBAN_TURN_SECRET, GIAOBAN_TURN_TTL_S; server/media/turn.py), verified here against an
HMAC computed independently; `ice_servers` stays a list of strings."""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from server.config import Settings
from tests.conftest import login_headers, seed_accounts

SECRET = "hall-turn-secret"
TTL_S = 5400
URLS = ["turn:10.20.0.5:3478", "turn:10.20.0.5:3478?transport=tcp"]
MEETING = {
    "title": "Giao ban tuần",
    "chair_unit": "IAPA",
    "units": ["CHUMO"],
    "starts_at": "2026-12-01T08:00:00+07:00",
    "record": False,
}


def _welcome(client: TestClient, meeting_id: int, headers: dict[str, str]) -> dict[str, Any]:
    with client.websocket_connect(f"/ws/meetings/{meeting_id}", headers=headers) as ws:
        msg = ws.receive_json()
    assert msg["type"] == "welcome", msg
    return dict(msg)


def _check(entry: dict[str, Any], account: str, before: float) -> None:
    assert entry["urls"] == URLS
    expires, _, who = entry["username"].partition(":")
    assert who == account and int(expires) == entry["expires"]
    assert int(before) + TTL_S <= entry["expires"] <= int(time.time()) + TTL_S
    digest = hmac.new(SECRET.encode(), entry["username"].encode(), hashlib.sha1).digest()
    assert entry["credential"] == base64.b64encode(digest).decode()


def test_welcome_carries_fresh_turn_credentials_per_socket(tmp_path: Path, database_url: str | None) -> None:
    settings = Settings(
        data_dir=tmp_path / "data",
        database_url=database_url,
        ice_addresses=["127.0.0.1"],
        ice_servers=["stun:10.20.0.5:3478"],
        turn_urls=URLS,
        turn_secret=SECRET,
        turn_ttl_s=TTL_S,
        secret_key="test-secret",
    )
    from server.app import create_app

    with TestClient(create_app(settings)) as client:
        seed_accounts(client)
        chair, chumo = login_headers(client, "chair"), login_headers(client, "chumo")
        mid = client.post("/api/meetings", json=MEETING, headers=chair).json()["id"]
        assert client.post(f"/api/meetings/{mid}/start", headers=chair).status_code == 200

        before = time.time()
        first = _welcome(client, mid, chair)
        assert first["ice_servers"] == ["stun:10.20.0.5:3478"]  # strings, as before
        (turn,) = first["turn"]
        _check(turn, "chair", before)
        (commune,) = _welcome(client, mid, chumo)["turn"]
        _check(commune, "chumo", before)
        assert commune["credential"] != turn["credential"]

        time.sleep(1.1)  # a reconnect a second later is issued a new credential, expiring later
        (again,) = _welcome(client, mid, chair)["turn"]
        _check(again, "chair", before)
        assert again["expires"] > turn["expires"] and again["credential"] != turn["credential"]
        assert client.post(f"/api/meetings/{mid}/end", headers=chair).status_code == 200


def test_no_turn_settings_no_turn_entries(client: TestClient) -> None:
    seed_accounts(client)
    chair = login_headers(client, "chair")
    mid = client.post("/api/meetings", json=MEETING, headers=chair).json()["id"]
    assert client.post(f"/api/meetings/{mid}/start", headers=chair).status_code == 200
    welcome = _welcome(client, mid, chair)
    assert welcome["turn"] == [] and welcome["ice_servers"] == []
