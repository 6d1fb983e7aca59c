"""Placement on a site's media nodes (server.site) against a real Redis: the least-loaded healthy node is
chosen, a node whose heartbeat went stale never is, concurrent placements agree, with Redis unreachable a
start is refused with 503 ``site_unavailable`` (the live meeting held here goes on) until Redis returns, and
a meeting re-placed elsewhere meanwhile is handed over (its sockets redirected).

Marked ``pg``: it runs in the PostgreSQL pass, where CI starts the machine's Redis
(tests/server/site_harness.py)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

from server.config import Settings
from server.rooms import messages as m
from server.site import NodeInfo, NodeRegistry, Placement, SiteUnavailable
from server.site.placement import MEETINGS_KEY
from server.site.registry import connect
from tests.conftest import login_headers, seed_accounts
from tests.server.site_harness import RedisRelay, flush_site_redis, site_redis_url

pytestmark = pytest.mark.pg

TTL_S = 0.6


@pytest.fixture
def registry() -> Iterator[NodeRegistry]:
    flush_site_redis()
    yield NodeRegistry(connect(site_redis_url()), TTL_S)
    flush_site_redis()


def beat(reg: NodeRegistry, *nodes: NodeInfo) -> None:
    for n in nodes:
        reg.heartbeat(n)


def test_least_loaded_healthy_node_is_chosen_and_a_stale_one_never(registry: NodeRegistry) -> None:
    place = Placement(registry)
    a = NodeInfo("a", "http://127.0.0.1:1", participants=9)
    b = NodeInfo("b", "http://127.0.0.1:2", participants=0)
    c = NodeInfo("c", "http://127.0.0.1:3", participants=3)
    beat(registry, a, b, c)
    # no meeting placed yet: fewest participants first
    assert place.locate(1).id == "b"
    assert place.locate(1).id == "b"  # placed: stays where it is
    # then fewest meetings placed, participants breaking ties
    assert place.locate(2).id == "c"
    assert place.locate(3).id == "a"
    assert place.placed_counts() == {"a": 1, "b": 1, "c": 1}
    # a stops heartbeating; b and c go on
    deadline = time.monotonic() + TTL_S + 0.5
    while time.monotonic() < deadline:
        beat(registry, b, c)
        time.sleep(0.1)
    assert set(registry.healthy()) == {"b", "c"}
    moved = place.locate(3)  # its node is gone: the next join places it again
    assert moved.id in {"b", "c"}
    assert place.owner(3) == moved.id
    for meeting_id in range(10, 30):
        beat(registry, b, c)
        assert place.locate(meeting_id).id != "a"
    place.release(10)
    assert place.owner(10) is None


def test_concurrent_placements_of_one_meeting_agree(registry: NodeRegistry) -> None:
    nodes = [NodeInfo(f"n{i}", f"http://127.0.0.1:{i}") for i in range(4)]
    beat(registry, *nodes)
    chosen: list[str] = []

    def place_it(i: int) -> None:
        # each thread its own connection, and a different view of the load (as different processes)
        own = Placement(NodeRegistry(connect(site_redis_url()), TTL_S))
        chosen.append(own.locate(77).id)

    threads = [threading.Thread(target=place_it, args=(i,)) for i in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(chosen) == 12 and len(set(chosen)) == 1, chosen


def test_redis_unreachable_raises_site_unavailable() -> None:
    reg = NodeRegistry(connect("redis://127.0.0.1:1/0"), TTL_S)  # nothing listens on port 1
    with pytest.raises(SiteUnavailable) as err:
        Placement(reg).locate(1)
    assert err.value.status_code == 503 and err.value.code == "site_unavailable"


MEETING = {
    "title": "Giao ban tuần",
    "chair_unit": "IAPA",
    "units": ["CHUMO"],
    "starts_at": "2026-12-01T08:00:00+07:00",
    "record": False,
}


def test_redis_down_refuses_new_placements_and_they_resume(tmp_path: Path, database_url: str | None) -> None:
    flush_site_redis()
    relay = RedisRelay(site_redis_url())
    settings = Settings(
        data_dir=tmp_path / "data",
        database_url=database_url,
        redis_url=relay.url,
        ice_addresses=["127.0.0.1"],
        secret_key="test-secret",
        worker_in_process=False,
        node_heartbeat_s=0.3,
        node_ttl_s=1.5,
    )
    from server.app import create_app

    try:
        with TestClient(create_app(settings)) as client:
            seed_accounts(client)
            chair = login_headers(client, "chair")
            site = client.app.state.site  # type: ignore[attr-defined]
            ids = [client.post("/api/meetings", json=MEETING, headers=chair).json()["id"] for _ in range(3)]

            # held here: started, placed on this node
            assert client.post(f"/api/meetings/{ids[0]}/start", headers=chair).status_code == 200
            direct = connect(site_redis_url())
            assert direct.hget(MEETINGS_KEY, str(ids[0])) == site.id.encode()

            # another node, idle, takes the next meeting: this process redirects its sockets there
            other = NodeRegistry(direct, 30.0)
            other.heartbeat(NodeInfo("other", "http://127.0.0.1:9"))
            assert client.post(f"/api/meetings/{ids[1]}/start", headers=chair).status_code == 200
            assert direct.hget(MEETINGS_KEY, str(ids[1])) == b"other"
            with client.websocket_connect(f"/ws/meetings/{ids[1]}", headers=chair) as ws:
                expected = {"type": "redirect", "url": f"ws://127.0.0.1:9/ws/meetings/{ids[1]}"}
                assert ws.receive_json() == expected
                with pytest.raises(WebSocketDisconnect) as closed:
                    ws.receive_json()
                assert closed.value.code == m.CLOSE_REDIRECT

            relay.cut()
            refused = client.post(f"/api/meetings/{ids[2]}/start", headers=chair)
            assert refused.status_code == 503, refused.text
            body = refused.json()["error"]
            assert body["code"] == "site_unavailable" and body["message"]
            assert client.get(f"/api/meetings/{ids[2]}", headers=chair).json()["status"] == "scheduled"
            # the meeting held here goes on: its sockets are admitted
            with client.websocket_connect(f"/ws/meetings/{ids[0]}", headers=chair) as ws:
                assert ws.receive_json()["type"] == "welcome"
            # one held elsewhere cannot be routed: try again later
            with client.websocket_connect(f"/ws/meetings/{ids[1]}", headers=chair) as ws:
                assert ws.receive_json()["code"] == "site_unavailable"
                with pytest.raises(WebSocketDisconnect) as closed:
                    ws.receive_json()
                assert closed.value.code == m.CLOSE_TRY_AGAIN

            time.sleep(settings.node_ttl_s + 0.5)  # down longer than the TTL: this node's entry expired
            relay.restore()
            # placements resume as soon as Redis answers (the node registers itself again at once)
            r = client.post(f"/api/meetings/{ids[2]}/start", headers=chair)
            assert r.status_code == 200, r.text
            assert direct.hget(MEETINGS_KEY, str(ids[2])) in (site.id.encode(), b"other")
            # Redis emptied under a running site (flushed, restarted without persistence): the same
            flush_site_redis()
            fourth = client.post("/api/meetings", json=MEETING, headers=chair).json()["id"]
            assert client.post(f"/api/meetings/{fourth}/start", headers=chair).status_code == 200
            assert direct.hget(MEETINGS_KEY, str(fourth)) == site.id.encode()
            ended = client.post(f"/api/meetings/{ids[0]}/end", headers=chair)
            assert ended.status_code == 200
            assert direct.hget(MEETINGS_KEY, str(ids[0])) is None  # no longer counts on its node

            # a meeting held here but placed on another node meanwhile (this node was cut off from Redis
            # longer than its TTL, the other resumed it): the next heartbeat sends its sockets there
            other.heartbeat(NodeInfo("other", "http://127.0.0.1:9"))
            assert direct.hget(MEETINGS_KEY, str(fourth)) == site.id.encode()
            with client.websocket_connect(f"/ws/meetings/{fourth}", headers=chair) as ws:
                assert ws.receive_json()["type"] == "welcome"
                direct.hset(MEETINGS_KEY, str(fourth), "other")
                got = ws.receive_json()
                while got["type"] != "redirect":
                    got = ws.receive_json()
                assert got["url"] == f"ws://127.0.0.1:9/ws/meetings/{fourth}"
                with pytest.raises(WebSocketDisconnect) as closed:
                    ws.receive_json()
                assert closed.value.code == m.CLOSE_REDIRECT
            assert fourth not in client.app.state.live.rooms  # type: ignore[attr-defined]
    finally:
        relay.cut()
        flush_site_redis()
