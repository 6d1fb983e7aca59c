"""The web client on a site of two `giaoban serve` processes (PostgreSQL + Redis), in real Chromium: a commune
whose page is served by the process that does not hold the meeting follows the `redirect` to the meeting's
node and joins; that node is killed (SIGKILL) and the page reconnects on its own, the meeting resumed on the
surviving process. Runs in the PostgreSQL pass (``pg``); Redis is reached from the namespace through a Unix
socket relayed to the machine's Redis (database 13)."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import redis
from playwright.sync_api import expect

from server.site.placement import MEETINGS_KEY
from server.site.registry import node_key
from tests.e2e.conftest import (
    _CRED_LINE,
    REPO,
    SERVER_START_TIMEOUT_S,
    Chromium,
    _in_netns_url,
    _wait_healthy,
)
from tests.e2e.pages import join_room, login, new_page, open_demo_meeting
from tests.env import child_env
from tests.server.site_harness import UnixRedisRelay, flush_site_redis, site_redis_url

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.pg]

PORTS = (8000, 8001)


@dataclass
class Node:
    port: int
    proc: subprocess.Popen[str]
    log: list[str]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


@pytest.fixture
def site(netns: str, tmp_path: Path, database_url: str | None) -> Iterator[tuple[list[Node], dict[str, str]]]:
    flush_site_redis()
    relay = UnixRedisRelay(str(tmp_path / "redis.sock"), site_redis_url())
    env = child_env()
    env.update(
        GIAOBAN_ICE_ADDRESSES="127.0.0.1",
        GIAOBAN_SECRET_KEY="e2e-secret",
        GIAOBAN_REDIS_URL=relay.url,
        GIAOBAN_WORKER_IN_PROCESS="false",
        GIAOBAN_NODE_HEARTBEAT_S="0.5",
        GIAOBAN_NODE_TTL_S="2.5",
        PYTHONUNBUFFERED="1",
    )
    pg = _in_netns_url(database_url)
    if pg:
        env["GIAOBAN_DATABASE_URL"] = pg
    nodes: list[Node] = []
    passwords: dict[str, str] = {}
    try:
        for i, port in enumerate(PORTS):
            cmd = ["ip", "netns", "exec", netns, sys.executable, "-m", "server.cli", "serve", "--host",
                   "127.0.0.1", "--port", str(port), "--data-dir", str(tmp_path / "data")]
            if i == 0:
                cmd.append("--demo")
            proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                    text=True)
            node = Node(port, proc, [])
            nodes.append(node)
            assert proc.stdout is not None
            deadline = time.time() + SERVER_START_TIMEOUT_S
            for line in proc.stdout:
                node.log.append(line)
                m = _CRED_LINE.match(line)
                if m:
                    passwords[m.group(1)] = m.group(2)
                if "giaoban đang chạy tại" in line or time.time() > deadline:
                    break
            threading.Thread(target=lambda n=node: n.log.extend(n.proc.stdout or []), daemon=True).start()
            _wait_healthy(netns, node.url + "/api/health", deadline)
        yield nodes, passwords
    finally:
        for node in nodes:  # shown by pytest when the test failed
            print(f"---- node :{node.port} log (tail) ----\n" + "".join(node.log[-60:]))
            if node.proc.poll() is None:
                node.proc.terminate()
                try:
                    node.proc.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    node.proc.kill()
                    node.proc.wait()
        relay.close()
        flush_site_redis()


def test_the_web_client_follows_the_redirect_and_survives_its_node(
    site: tuple[list[Node], dict[str, str]], chromium: Chromium
) -> None:
    nodes, passwords = site
    r = redis.Redis.from_url(site_redis_url())
    browser = chromium.launch()

    def holder_port() -> int | None:
        node_id = r.hget(MEETINGS_KEY, str(meeting_id))
        raw = r.get(node_key(node_id.decode())) if node_id else None
        return int(json.loads(raw)["url"].rsplit(":", 1)[1]) if raw else None

    chair = new_page(browser, nodes[0].url)
    login(chair, "chutri", passwords["chutri"])
    meeting_id = open_demo_meeting(chair)
    held_on = holder_port()
    assert held_on in PORTS
    page_node = next(n for n in nodes if n.port != held_on)  # the commune's page: the other process
    dead = next(n for n in nodes if n.port == held_on)

    commune = new_page(browser, page_node.url)
    login(commune, "chumo", passwords["chumo"])
    join_room(commune, meeting_id)
    socket_url = commune.evaluate("() => window.__giaoban.sig.ws.url")
    assert socket_url.startswith(f"ws://127.0.0.1:{held_on}/ws/meetings/{meeting_id}?ticket="), socket_url

    dead.proc.send_signal(signal.SIGKILL)
    dead.proc.wait()
    badge = commune.get_by_test_id("connection")
    expect(badge).to_have_attribute("data-state", "reconnecting", timeout=15_000)
    expect(badge).to_have_attribute("data-state", "connected", timeout=30_000)
    socket_url = commune.evaluate("() => window.__giaoban.sig.ws.url")
    assert socket_url.startswith(f"ws://127.0.0.1:{page_node.port}/ws/meetings/{meeting_id}?"), socket_url
    assert holder_port() == page_node.port
    # the media comes back too: the new peer connection to the surviving node connects
    commune.wait_for_function("() => window.__giaoban.session && "
                              "window.__giaoban.session.pc.connectionState === 'connected'", timeout=30_000)
