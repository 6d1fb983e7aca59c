"""A real server in a subprocess for live-meeting tests: `giaoban serve --demo`, its credentials, bots."""

from __future__ import annotations

import json
import re
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from tests.env import child_env

CRED_RE = re.compile(r"^\s+(\S+)\s+([a-z0-9]{4}(?:-[a-z0-9]{4}){3})\s+(\w+)\s+(\S+)$")
START_TIMEOUT_S = 90.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def server_env(data_dir: Path, database_url: str | None, **extra: str) -> dict[str, str]:
    env = child_env()
    env.update(GIAOBAN_DATA_DIR=str(data_dir), GIAOBAN_ICE_ADDRESSES="127.0.0.1", GIAOBAN_LOG_LEVEL="INFO")
    if database_url:
        env["GIAOBAN_DATABASE_URL"] = database_url
    env.update(extra)
    return env


@dataclass
class LiveServer:
    data_dir: Path
    database_url: str | None
    extra_env: dict[str, str] = field(default_factory=dict)
    port: int = field(default_factory=free_port)
    creds: dict[str, str] = field(default_factory=dict)
    proc: subprocess.Popen[str] | None = None
    log_path: Path | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, demo: bool = True) -> LiveServer:
        self.log_path = self.data_dir.parent / f"serve-{self.port}.log"
        log = open(self.log_path, "a", encoding="utf-8")  # noqa: SIM115 - lives as long as the process
        args = [sys.executable, "-m", "server.cli", "serve", "--host", "127.0.0.1", "--port", str(self.port)]
        if demo:
            args.append("--demo")
        self.proc = subprocess.Popen(
            args,
            stdout=subprocess.PIPE,
            stderr=log,
            text=True,
            env=server_env(self.data_dir, self.database_url, **self.extra_env),
        )
        assert self.proc.stdout is not None
        deadline = time.monotonic() + START_TIMEOUT_S
        for line in self.proc.stdout:
            m = CRED_RE.match(line)
            if m:
                self.creds[m.group(1)] = m.group(2)
            if "đang chạy tại" in line or time.monotonic() > deadline:
                break
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{self.url}/api/health", timeout=2).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited: {self.log_path.read_text()[-3000:]}")
            time.sleep(0.2)
        raise RuntimeError("server did not become healthy")

    def stop(self, sig: int = signal.SIGINT) -> None:
        if self.proc is None:
            return
        self.proc.send_signal(sig)
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.proc = None

    def token(self, username: str) -> str:
        r = httpx.post(
            f"{self.url}/api/auth/login",
            json={"username": username, "password": self.creds[username]},
            timeout=30,
        )
        r.raise_for_status()
        return str(r.json()["access_token"])

    def api(self, method: str, path: str, username: str, **kw: Any) -> httpx.Response:
        headers = {"Authorization": f"Bearer {self.token(username)}", **kw.pop("headers", {})}
        return httpx.request(method, f"{self.url}{path}", headers=headers, timeout=60, **kw)

    def ws_url(self, meeting_id: int, token: str) -> str:
        return f"ws://127.0.0.1:{self.port}/ws/meetings/{meeting_id}?token={token}"

    def bot(
        self,
        meeting_id: int,
        username: str,
        *,
        play: Path | None = None,
        video: bool = False,
        duration_s: float = 8.0,
        stats: Path | None = None,
        extra: tuple[str, ...] = (),
        captions: Path | None = None,
    ) -> subprocess.Popen[str]:
        args = [
            sys.executable,
            "-m",
            "server.cli",
            "bot",
            "--server",
            self.url,
            "--meeting",
            str(meeting_id),
            "--username",
            username,
            "--password-stdin",
            "--duration",
            str(duration_s),
        ]
        if play is not None:
            args += ["--play", str(play)]
        if video:
            args.append("--video")
        if stats is not None:
            args += ["--stats-json", str(stats)]
        args += extra
        if captions is not None:
            args += ["--captions-json", str(captions)]
        proc = subprocess.Popen(
            args,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=server_env(self.data_dir, None),
        )
        assert proc.stdin is not None
        proc.stdin.write(self.creds[username] + "\n")
        proc.stdin.flush()
        return proc


def wait_bots(*procs: subprocess.Popen[str], timeout_s: float = 120) -> list[str]:
    outs = []
    for p in procs:
        assert p.stdout is not None
        if p.stdin is not None and not p.stdin.closed:
            p.stdin.close()
        p.wait(timeout=timeout_s)
        out = p.stdout.read()
        assert p.returncode == 0, out
        outs.append(out)
    return outs


def read_stats(path: Path) -> dict[str, dict[str, Any]]:
    return {p["username"]: p for p in json.loads(path.read_text(encoding="utf-8"))["participants"]}


class SocketClient:
    """A signaling socket driven from a test thread (the chair's panel, or a misbehaving client)."""

    def __init__(self, url: str) -> None:
        import asyncio
        import threading

        self.url = url
        self.received: list[dict[str, Any]] = []
        self.close_code: int | None = None
        self._loop = asyncio.new_event_loop()
        self._ws: Any = None
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._thread.start()
        self._call(self._connect())

    def _call(self, coro: Any, timeout: float = 30) -> Any:
        import asyncio

        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout)

    async def _connect(self) -> None:
        import asyncio

        import websockets

        self._ws = await websockets.connect(self.url, max_size=1 << 22)
        asyncio.get_running_loop().create_task(self._reader())

    async def _reader(self) -> None:
        import websockets

        try:
            async for raw in self._ws:
                self.received.append(json.loads(raw))
        except websockets.ConnectionClosed:
            pass
        self.close_code = self._ws.close_code

    def send(self, msg: dict[str, Any] | str | bytes) -> None:
        """A dict as JSON text; a str as is (text frame); bytes as a binary frame."""

        async def _send() -> None:
            await self._ws.send(msg if isinstance(msg, str | bytes) else json.dumps(msg))

        self._call(_send())

    def wait_for(self, predicate: Any, timeout_s: float = 20) -> dict[str, Any]:
        deadline = time.monotonic() + timeout_s
        seen = 0
        while time.monotonic() < deadline:
            for msg in self.received[seen:]:
                if predicate(msg):
                    return msg
            seen = len(self.received)
            time.sleep(0.05)
        raise AssertionError(f"no matching message; got {[m.get('type') for m in self.received]}")

    def wait_closed(self, timeout_s: float = 20) -> int | None:
        deadline = time.monotonic() + timeout_s
        while self.close_code is None and time.monotonic() < deadline:
            time.sleep(0.05)
        return self.close_code

    def close(self) -> None:
        async def _close() -> None:
            await self._ws.close()

        try:
            self._call(_close(), timeout=10)
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(5)
