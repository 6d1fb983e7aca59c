"""Shared pieces of the site tests (tests/server/test_site*.py) and benchmarks/site: the Redis database they
use, and a TCP relay to Redis that a test can cut and restore (Redis "down" without stopping the machine's
Redis)."""

from __future__ import annotations

import os
import socket
import threading
from urllib.parse import urlsplit, urlunsplit

import redis

SITE_REDIS_DB = 13  # not 15 (the PostgreSQL pass's queue) nor 14 (ad-hoc runs); flushed by these tests


def site_redis_url() -> str:
    """GIAOBAN_TEST_REDIS_URL's server (default 127.0.0.1:6379) with database 13."""
    base = os.environ.get("GIAOBAN_TEST_REDIS_URL") or "redis://127.0.0.1:6379/0"
    parts = urlsplit(base)
    return urlunsplit((parts.scheme, parts.netloc, f"/{SITE_REDIS_DB}", "", ""))


def flush_site_redis() -> None:
    redis.Redis.from_url(site_redis_url()).flushdb()


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
