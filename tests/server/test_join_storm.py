"""A province meeting filling up (issue 17 item 1): 135 connection points join one after another over the
signaling socket, then the clerk changes one roll-call entry with 135 sockets open.

Measured, printed with ``-s`` (total time, the cost of a join early and late, messages and bytes each socket
received): a join used to send the full 135-entry ``roll_call`` to every open socket (N² entries). A socket
that announced ``roll_call_delta`` (``hello``) receives one ``roll_call_entry`` per changed unit; one that did
not (today's web client) still receives full ``roll_call`` snapshots, coalesced per batching window."""

from __future__ import annotations

import datetime as dt
import json
import statistics
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from typing import Any

import pytest
from fastapi.testclient import TestClient

from server.services.units import SEED_DIR
from tests.conftest import TEST_PASSWORD, login_headers, open_app

PROVINCE = "GIALAI"
CALLED = "GL-IAPUCH"  # the unit whose roll-call entry the clerk changes at the end


@dataclass
class Storm:
    client: TestClient
    clerk: dict[str, str]
    tokens: list[tuple[str, str]]  # (unit code, token) of one member account per unit, in tree order


@pytest.fixture(scope="module")
def storm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Storm]:
    from server.models import AuthSession, utcnow
    from server.security import hash_password, new_token, token_digest
    from server.services import accounts, units

    one_hash = hash_password(TEST_PASSWORD)  # hashed once: 136 accounts at ~0.4 s a hash would take a minute
    with open_app(tmp_path_factory, "storm") as client, pytest.MonkeyPatch.context() as mp:
        mp.setattr(accounts, "hash_password", lambda _password: one_hash)
        app: Any = client.app
        tokens = []
        with app.state.db.session() as session:
            units.seed_ia_pa(session)
            tree = units.parse_tree_file(SEED_DIR / "gia-lai.json")
            units.load_tree(session, tree)
            accounts.create_user(
                session, username="tinh-chutri", password=TEST_PASSWORD, role="chair", unit_code=PROVINCE
            )
            for child in tree.children:
                user = accounts.create_user(
                    session,
                    username=child.code.lower(),
                    password=TEST_PASSWORD,
                    role="member",
                    unit_code=child.code,
                )
                session.flush()
                token = new_token()
                expires = utcnow() + dt.timedelta(hours=1)
                session.add(
                    AuthSession(token_sha256=token_digest(token), user_id=user.id, expires_at=expires)
                )
                tokens.append((child.code, token))
        yield Storm(client, login_headers(client, "tinh-chutri"), tokens)


def _ms(seconds: list[float]) -> str:
    ms = [s * 1000 for s in seconds]
    return f"median {statistics.median(ms):.1f} ms, mean {statistics.mean(ms):.1f} ms"


@pytest.mark.any_database  # signaling fan-out: the same on either store
@pytest.mark.parametrize("mode", ["legacy", "delta"])
def test_135_points_join_one_after_another(storm: Storm, mode: str) -> None:
    c, clerk = storm.client, storm.clerk
    body = {
        "title": f"Giao ban {mode}",
        "chair_unit": PROVINCE,
        "units": [code for code, _ in storm.tokens],
        "starts_at": "2026-12-01T08:00:00+07:00",
        "record": False,
        "agenda": ["Tình hình kinh tế - xã hội"],
    }
    mid = c.post("/api/meetings", json=body, headers=clerk).json()["id"]
    assert c.post(f"/api/meetings/{mid}/start", headers=clerk).status_code == 200
    received: list[list[dict[str, Any]]] = []
    sizes: list[int] = []
    join_s: list[float] = []
    with ExitStack() as stack:
        socks = []
        t_all = time.perf_counter()
        for code, token in storm.tokens:
            t0 = time.perf_counter()
            sock = stack.enter_context(c.websocket_connect(f"/ws/meetings/{mid}?token={token}"))
            welcome = sock.receive_json()
            assert welcome["type"] == "welcome" and len(welcome["roll_call"]) == 135
            assert {e["unit"]: e["status"] for e in welcome["roll_call"]}[code] == "present_online"
            if mode == "delta":
                sock.send_json({"type": "hello", "features": ["roll_call_delta"]})
            join_s.append(time.perf_counter() - t0)
            socks.append(sock)
            received.append([])
            sizes.append(0)
        total_s = time.perf_counter() - t_all

        def drain(i: int, until: Any) -> None:
            while True:
                text = socks[i].receive_text()
                sizes[i] += len(text)
                msg = json.loads(text)
                received[i].append(msg)
                if until(msg):
                    return

        last = storm.tokens[-1][0]
        for i in range(len(socks) - 1):  # every socket but the last one hears of the last joiner
            drain(i, lambda m: m["type"] == "participant_joined" and m["participant"]["unit"] == last)
        # one roll-call change with 135 sockets open: until the last socket has it
        t0 = time.perf_counter()
        r = c.post(
            f"/api/meetings/{mid}/roll-call",
            json={"unit": CALLED, "status": "absent", "reason": "Mất điện lưới"},
            headers=clerk,
        )
        assert r.status_code == 200, r.text
        api_s = time.perf_counter() - t0

        def changed(m: dict[str, Any]) -> bool:
            if m["type"] == "roll_call_entry":
                return bool(m["entry"]["unit"] == CALLED and m["entry"]["status"] == "absent")
            if m["type"] == "roll_call":
                return {e["unit"]: e["status"] for e in m["entries"]}[CALLED] == "absent"
            return False

        for i in range(len(socks)):
            drain(i, changed)
        change_s = time.perf_counter() - t0
        assert c.post(f"/api/meetings/{mid}/end", headers=clerk).status_code == 200

    counts = Counter(m["type"] for msgs in received for m in msgs)
    full_entries = sum(len(m["entries"]) for msgs in received for m in msgs if m["type"] == "roll_call")
    print(
        f"\n[join storm, {mode}] 135 joins in {total_s:.2f} s; per join: first 10 {_ms(join_s[:10])}, "
        f"last 10 {_ms(join_s[-10:])}; roll-call change: API {api_s * 1000:.0f} ms, at every socket "
        f"{change_s * 1000:.0f} ms; after the welcomes {sum(counts.values())} messages, {sum(sizes)} bytes "
        f"({dict(counts)}), {full_entries} roll-call entries in full snapshots"
    )
    # every socket ends with the same roll-call state, whichever way it was told
    assert all(any(changed(m) for m in msgs) for msgs in received)
    if mode == "delta":
        # no full snapshot after the welcome: one entry per changed unit (each later joiner, and the call)
        assert counts["roll_call"] == 0
        assert all(
            sum(m["type"] == "roll_call_entry" for m in msgs) <= 136 - i for i, msgs in enumerate(received)
        )
        assert counts["roll_call_entry"] <= 135 * 136 // 2 + 135
