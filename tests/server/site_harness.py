"""Shared pieces of the site tests (tests/server/test_site*.py) and benchmarks/site: the Redis database they
use, a site of `giaoban serve` processes (:func:`running_site`), and a TCP relay to Redis that a test can cut
and restore (Redis "down" without stopping the machine's Redis)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import redis

from server.site.placement import MEETINGS_KEY
from server.site.registry import node_key
from tests.server.live_harness import LiveServer, server_env

SITE_REDIS_DB = 13  # not 15 (the PostgreSQL pass's queue) nor 14 (ad-hoc runs); flushed by these tests
HEARTBEAT_S, TTL_S = 0.5, 2.5  # a killed node is given up within 2.5 s


def site_redis_url() -> str:
    """GIAOBAN_TEST_REDIS_URL's server (default 127.0.0.1:6379) with database 13."""
    base = os.environ.get("GIAOBAN_TEST_REDIS_URL") or "redis://127.0.0.1:6379/0"
    parts = urlsplit(base)
    return urlunsplit((parts.scheme, parts.netloc, f"/{SITE_REDIS_DB}", "", ""))


def flush_site_redis() -> None:
    redis.Redis.from_url(site_redis_url()).flushdb()


@dataclass
class Site:
    nodes: list[LiveServer]
    worker: subprocess.Popen[str] | None = None
    redis: redis.Redis = field(default_factory=lambda: redis.Redis.from_url(site_redis_url()))

    def holder_or_none(self, meeting_id: int) -> LiveServer | None:
        """The node the meeting is placed on, if that node is alive."""
        node_id = self.redis.hget(MEETINGS_KEY, str(meeting_id))
        raw = self.redis.get(node_key(node_id.decode())) if node_id is not None else None
        if raw is None:
            return None
        url = json.loads(raw)["url"]
        return next(n for n in self.nodes if n.url == url)

    def holder(self, meeting_id: int) -> LiveServer:
        node = self.holder_or_none(meeting_id)
        assert node is not None, f"meeting {meeting_id} is not placed on a live node"
        return node

    def participants_on(self, node: LiveServer) -> int:
        for key in self.redis.scan_iter(node_key("*")):
            raw = self.redis.get(key)
            if raw is not None and json.loads(raw)["url"] == node.url:
                return int(json.loads(raw)["participants"])
        return -1


@contextmanager
def running_site(
    tmp_path: Path,
    database_url: str | None,
    nodes: int,
    worker: bool,
    extra_env: dict[str, str] | None = None,
) -> Iterator[Site]:
    """``nodes`` `giaoban serve` processes (the first with --demo) on one data dir, one database and one
    Redis (database 13, flushed before and after), and a `giaoban worker` if asked."""
    flush_site_redis()
    env = {
        "GIAOBAN_REDIS_URL": site_redis_url(),
        "GIAOBAN_WORKER_IN_PROCESS": "false",
        "GIAOBAN_NODE_HEARTBEAT_S": str(HEARTBEAT_S),
        "GIAOBAN_NODE_TTL_S": str(TTL_S),
        **(extra_env or {}),
    }
    data = tmp_path / "data"  # one data dir: the shared volume of the compose file
    started: list[LiveServer] = []
    s = Site(started)
    try:
        first = LiveServer(data, database_url, extra_env=env).start(demo=True)
        started.append(first)
        for _ in range(nodes - 1):
            node = LiveServer(data, database_url, extra_env=env).start(demo=False)
            node.creds = first.creds
            started.append(node)
        if worker:
            s.worker = subprocess.Popen(
                [sys.executable, "-m", "server.cli", "worker"],
                env=server_env(data, database_url, **env),
                text=True,
                stdout=subprocess.DEVNULL,
                stderr=open(tmp_path / "worker.log", "a"),  # noqa: SIM115 - lives as long as the worker
            )
        yield s
    finally:
        if s.worker is not None and s.worker.poll() is None:
            s.worker.kill()
            s.worker.wait()
        for node in started:
            node.stop()
        flush_site_redis()


class RedisRelay:
    """Forwards 127.0.0.1:<port> to Redis; :meth:`cut` closes every connection and stops listening,
    :meth:`restore` listens again on the same port."""

    def __init__(self, target_url: str) -> None:
        parts = urlsplit(target_url)
        self.target = (parts.hostname or "127.0.0.1", parts.port or 6379)
        self.db = parts.path
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = int(s.getsockname()[1])
        self._lock = threading.Lock()
        self._conns: list[socket.socket] = []
        self._listener: socket.socket | None = None
        self.restore()

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}{self.db}"

    def restore(self) -> None:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def cut(self) -> None:
        with self._lock:
            listener, self._listener = self._listener, None
            conns, self._conns = self._conns, []
        if listener is not None:
            listener.close()
        for c in conns:
            try:
                c.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            c.close()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(self.target)
            with self._lock:
                if self._listener is not listener:
                    client.close()
                    upstream.close()
                    return
                self._conns += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass


class UnixRedisRelay:
    """Forwards a Unix socket to Redis over TCP: processes in a network namespace (the browser tests') reach
    the machine's Redis through it as ``unix://<path>?db=13``, as they reach PostgreSQL through its socket."""

    def __init__(self, path: str, target_url: str) -> None:
        parts = urlsplit(target_url)
        self.path = path
        self.target = (parts.hostname or "127.0.0.1", parts.port or 6379)
        self.db = parts.path.lstrip("/") or "0"
        self._listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._listener.bind(path)
        os.chmod(path, 0o777)
        self._listener.listen(64)
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def url(self) -> str:
        return f"unix://{self.path}?db={self.db}"

    def close(self) -> None:
        self._listener.close()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(self.target)
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=RedisRelay._pipe, args=(a, b), daemon=True).start()
