"""Janus (Debian's `janus` package, 1.1.x) as the peer SFU of the benchmark: a subprocess with a generated
minimal configuration in a temporary directory, and its HTTP REST API (the Janus API, videoroom plugin).

Only the videoroom plugin and the HTTP transport are loaded (symlinked into the temporary plugin and transport
folders); no STUN/TURN server, the HTTP API bound to 127.0.0.1 on a free port, no admin API, no event handlers
or loggers. ICE: libnice (Janus's ICE library) never gathers on a loopback interface, and Janus fails ICE
against a client's 127.0.0.1 candidate, so Janus's candidates are restricted (`ice_enforce_list`) to this
host's own IPv4 address, and its clients use that address too: datagrams between two addresses of the same
host go through the kernel's loopback device like 127.0.0.1's and never reach the network. Everything else
is Janus's default (in particular one media thread per handle: `event_loops` unset, unless given).

Install: `apt-get install -y janus` (Debian 12: 1.1.2). Never a test dependency: `JanusMissing` when absent.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import re
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

JANUS_BINARY = "janus"
JANUS_LIB_DIRS = (
    Path("/usr/lib/x86_64-linux-gnu/janus"),
    Path("/usr/lib/janus"),
    Path("/usr/local/lib/janus"),
)
INSTALL_HINT = "Janus is not installed: `apt-get install -y janus` (Debian's package, 1.1.2 in Debian 12)"
CLOCK_TICKS_PER_S = os.sysconf("SC_CLK_TCK")


class JanusMissing(RuntimeError):
    """The `janus` binary or its videoroom plugin / HTTP transport is not installed."""


class JanusError(RuntimeError):
    """The Janus API answered an error."""


def _lib_dir() -> Path:
    for base in JANUS_LIB_DIRS:
        if (base / "plugins" / "libjanus_videoroom.so").exists() and (
            base / "transports" / "libjanus_http.so"
        ).exists():
            return base
    raise JanusMissing(INSTALL_HINT)


def check_installed() -> None:
    """Raise `JanusMissing` (with how to install it) when Janus or its videoroom plugin is absent."""
    if shutil.which(JANUS_BINARY) is None:
        raise JanusMissing(INSTALL_HINT)
    _lib_dir()


def host_address() -> str:
    """This host's first global IPv4 address: Janus's ICE address (libnice leaves out loopback interfaces)."""
    out = subprocess.run(
        ["ip", "-4", "-o", "addr", "show", "scope", "global"], capture_output=True, text=True, check=True
    ).stdout
    match = re.search(r"inet (\d+\.\d+\.\d+\.\d+)/", out)
    if match is None:
        raise JanusError("no global IPv4 address on this host: Janus gathers no ICE candidate on loopback")
    return match.group(1)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class JanusProcess:
    """A Janus server in its own temporary directory; `close()` stops it and removes the directory."""

    def __init__(self, event_loops: int = 0) -> None:
        binary = shutil.which(JANUS_BINARY)
        if binary is None:
            raise JanusMissing(INSTALL_HINT)
        lib = _lib_dir()
        self.dir = Path(tempfile.mkdtemp(prefix="bench-janus-"))
        self.port = _free_port()
        self.ice_address = host_address()
        folders = {name: self.dir / name for name in ("conf", "plugins", "transports", "events", "loggers")}
        for folder in folders.values():
            folder.mkdir()
        (folders["plugins"] / "libjanus_videoroom.so").symlink_to(lib / "plugins" / "libjanus_videoroom.so")
        (folders["transports"] / "libjanus_http.so").symlink_to(lib / "transports" / "libjanus_http.so")
        loops = f"\tevent_loops = {event_loops}\n" if event_loops > 0 else ""
        (folders["conf"] / "janus.jcfg").write_text(
            "general: {\n"
            f'\tconfigs_folder = "{folders["conf"]}"\n'
            f'\tplugins_folder = "{folders["plugins"]}"\n'
            f'\ttransports_folder = "{folders["transports"]}"\n'
            f'\tevents_folder = "{folders["events"]}"\n'
            f'\tloggers_folder = "{folders["loggers"]}"\n'
            "\tdebug_level = 4\n"
            "\tsession_timeout = 60\n"
            f"{loops}"
            "}\n"
            "certificates: {\n}\n"
            "media: {\n}\n"
            "nat: {\n"
            "\tnice_debug = false\n"
            "\tignore_mdns = true\n"
            f'\tice_enforce_list = "{self.ice_address}"\n'
            "}\n"
            "plugins: {\n}\ntransports: {\n}\nloggers: {\n}\nevents: {\n}\n"
        )
        (folders["conf"] / "janus.transport.http.jcfg").write_text(
            "general: {\n"
            '\tjson = "compact"\n'
            '\tbase_path = "/janus"\n'
            "\thttp = true\n"
            f"\tport = {self.port}\n"
            '\tip = "127.0.0.1"\n'
            "\thttps = false\n"
            "}\n"
            "admin: {\n\tadmin_http = false\n\tadmin_https = false\n}\n"
            "cors: {\n}\n"
        )
        (folders["conf"] / "janus.plugin.videoroom.jcfg").write_text("general: {\n}\n")
        self.log_path = self.dir / "janus.log"
        self._log = self.log_path.open("wb")
        self.process = subprocess.Popen(
            [binary, "-C", str(folders["conf"] / "janus.jcfg"), "-F", str(folders["conf"]), "-o"],
            stdout=self._log,
            stderr=subprocess.STDOUT,
            cwd=self.dir,
        )
        self.url = f"http://127.0.0.1:{self.port}/janus"

    async def wait_ready(self, timeout_s: float = 15.0) -> None:
        deadline = time.monotonic() + timeout_s
        async with httpx.AsyncClient() as client:
            while True:
                if self.process.poll() is not None:
                    raise JanusError(f"Janus exited ({self.process.returncode}); log: {self.log_tail()}")
                try:
                    reply = await client.get(f"{self.url}/info", timeout=1.0)
                    if reply.status_code == 200 and "janus.plugin.videoroom" in reply.json().get(
                        "plugins", {}
                    ):
                        return
                except httpx.HTTPError:
                    pass
                if time.monotonic() > deadline:
                    raise JanusError(f"Janus did not answer on {self.url}; log: {self.log_tail()}")
                await asyncio.sleep(0.1)

    def cpu_s(self) -> tuple[float, float]:
        """User and system CPU seconds of the Janus process, all its threads (from /proc/PID/stat)."""
        fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return int(fields[11]) / CLOCK_TICKS_PER_S, int(fields[12]) / CLOCK_TICKS_PER_S

    def rss_mb(self) -> float:
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        return 0.0

    def threads(self) -> int:
        return len(os.listdir(f"/proc/{self.process.pid}/task"))

    def log_tail(self, lines: int = 200) -> str:
        self._log.flush()
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._log.close()
        shutil.rmtree(self.dir, ignore_errors=True)


class JanusSession:
    """One Janus API session over HTTP: requests, plugin handles, a long-poll loop dispatching events by
    handle, and keepalives. Every participant's handles live in this one session (a browser would open its
    own; the media path, which is what is measured, is per handle either way)."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.http = httpx.AsyncClient(timeout=httpx.Timeout(60.0), limits=httpx.Limits(max_connections=None))
        self.session_id = 0
        self._transactions = (f"t{i}" for i in itertools.count())
        self._events: dict[int, asyncio.Queue[dict[str, Any]]] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self._up: set[int] = set()  # handles whose PeerConnection is up ("webrtcup")

    async def open(self) -> None:
        self.session_id = int((await self._post(self.url, {"janus": "create"}))["data"]["id"])
        self._tasks = [asyncio.create_task(self._poll()), asyncio.create_task(self._keepalive())]

    async def attach(self) -> int:
        reply = await self._post(
            f"{self.url}/{self.session_id}", {"janus": "attach", "plugin": "janus.plugin.videoroom"}
        )
        handle = int(reply["data"]["id"])
        self._events[handle] = asyncio.Queue()
        return handle

    async def request(self, handle: int, body: dict[str, Any]) -> dict[str, Any]:
        """A synchronous plugin request (create, list...): the plugin's data."""
        reply = await self._post(self._handle_url(handle), {"janus": "message", "body": body})
        data: dict[str, Any] = reply["plugindata"]["data"]
        if "error" in data:
            raise JanusError(f"{body['request']}: {data['error']}")
        return data

    async def message(
        self,
        handle: int,
        body: dict[str, Any],
        jsep: dict[str, str] | None = None,
        expect: str = "",
        timeout_s: float = 30.0,
    ) -> tuple[dict[str, Any], dict[str, str] | None]:
        """An asynchronous plugin request: acked, then its event (plugin data, JSEP) arrives by long poll;
        `expect` names the answer (`"videoroom": expect` or an `expect` key), skipping the notifications
        (other publishers joining...) that arrive on the same handle."""
        payload: dict[str, Any] = {"janus": "message", "body": body}
        if jsep is not None:
            payload["jsep"] = jsep
        await self._post(self._handle_url(handle), payload)
        while True:
            event = await asyncio.wait_for(self._events[handle].get(), timeout_s)
            if event.get("janus") != "event":
                continue  # webrtcup, media, slowlink...: not an answer to a request
            data: dict[str, Any] = event["plugindata"]["data"]
            if "error" in data:
                raise JanusError(f"{body['request']}: {data['error']}")
            if not expect or data.get("videoroom") == expect or expect in data:
                return data, event.get("jsep")

    async def wait_up(self, handle: int, timeout_s: float = 30.0) -> None:
        """Wait for the handle's PeerConnection to be up (ICE and DTLS done: Janus's "webrtcup")."""
        deadline = time.monotonic() + timeout_s
        while handle not in self._up:
            if time.monotonic() > deadline:
                raise JanusError(f"handle {handle}: no webrtcup in {timeout_s:g} s")
            await asyncio.sleep(0.05)

    async def trickle_completed(self, handle: int) -> None:
        """The client's candidates were all in its SDP (aiortc gathers before it offers or answers)."""
        await self._post(self._handle_url(handle), {"janus": "trickle", "candidate": {"completed": True}})

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            try:
                await task
            except (asyncio.CancelledError, httpx.HTTPError):
                pass
        try:
            await self._post(f"{self.url}/{self.session_id}", {"janus": "destroy"})
        except (httpx.HTTPError, JanusError):
            pass
        await self.http.aclose()

    def _handle_url(self, handle: int) -> str:
        return f"{self.url}/{self.session_id}/{handle}"

    async def _post(self, url: str, payload: dict[str, Any]) -> dict[str, Any]:
        payload["transaction"] = next(self._transactions)
        reply: dict[str, Any] = (await self.http.post(url, json=payload)).json()
        if reply.get("janus") == "error":
            raise JanusError(f"{payload['janus']}: {reply['error']}")
        return reply

    async def _poll(self) -> None:
        while True:
            reply = await self.http.get(f"{self.url}/{self.session_id}", params={"maxev": 50})
            events = reply.json()
            for event in events if isinstance(events, list) else [events]:
                sender = int(event.get("sender", 0))
                if event.get("janus") == "webrtcup":
                    self._up.add(sender)
                queue = self._events.get(sender)
                if queue is not None:
                    queue.put_nowait(event)

    async def _keepalive(self) -> None:
        while True:
            await asyncio.sleep(25)
            await self._post(f"{self.url}/{self.session_id}", {"janus": "keepalive"})
