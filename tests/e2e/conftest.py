"""Real-browser tests: the server (``giaoban serve --demo``) and headless Chromium run inside a network
namespace that the test creates, with only the loopback interface up — so every signaling and media packet
stays on 127.0.0.1 and ICE never sees (or tries) the machine's external address (field notes, network rule).

Chromium is Debian's (/usr/bin/chromium, never ``playwright install``), started through a small wrapper that
enters the namespace; Playwright talks to it over a pipe, not the network. PostgreSQL (when
GIAOBAN_TEST_DATABASE_URL is set) is reached through its Unix socket, which a network namespace does not hide.
"""

from __future__ import annotations

import re
import stat
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest
from playwright.sync_api import Browser, Playwright, sync_playwright

from tests.e2e.chromium_child import CHROMIUM, FLAGS
from tests.env import child_env
from tests.netns import namespace
from tests.speech import joined, shippable

REPO = Path(__file__).resolve().parents[2]
SCREENSHOTS = REPO / "test-artifacts" / "screenshots"
SERVER_PORT = 8000  # free by construction: the namespace is new and holds nothing else
SERVER_START_TIMEOUT_S = 60.0
PG_SOCKET_DIR = "/var/run/postgresql"
FAKE_VIDEO_SIZE = "320x240"
FAKE_VIDEO_FPS = 15
SPEECH_SAMPLE_RATE_HZ = 48000
SPEECH_CLIPS = 8  # synthesised sentences (tests/speech.py) joined into the speaker's microphone (~29 s)

CHROMIUM_FLAGS = (*FLAGS, "--autoplay-policy=no-user-gesture-required")


@dataclass(frozen=True)
class DemoAccount:
    username: str
    password: str
    role: str
    unit: str


@dataclass
class RunningServer:
    base_url: str
    netns: str
    data_dir: Path
    accounts: dict[str, DemoAccount]
    process: subprocess.Popen[str]
    log: list[str] = field(default_factory=list)

    def url(self, path: str) -> str:
        return self.base_url + path

    def bot(self, meeting_id: int, username: str, duration_s: float, *args: str) -> subprocess.Popen[str]:
        """`giaoban bot` as ``username`` in the server's namespace for ``duration_s`` (whole seconds), its
        password on stdin, its output piped; ``args``: what it sends (``--video``, ``--play FILE``)."""
        env = child_env()
        env["GIAOBAN_ICE_ADDRESSES"] = "127.0.0.1"  # the namespace has loopback only, as the server is told
        login = ["--meeting", str(meeting_id), "--username", username, "--password-stdin"]
        command = ["ip", "netns", "exec", self.netns, sys.executable, "-m", "server.cli", "bot"]
        proc = subprocess.Popen(
            [*command, "--server", self.base_url, *login, *args, "--duration", f"{duration_s:.0f}"],
            cwd=REPO,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        assert proc.stdin is not None
        proc.stdin.write(self.accounts[username].password + "\n")
        proc.stdin.close()
        return proc


@pytest.fixture(scope="session")
def netns() -> Iterator[str]:
    """A fresh network namespace with only ``lo`` (127.0.0.1) up."""
    why = "the e2e tests create a network namespace: run them as root, with iproute2"
    with namespace("gb-e2e", why=why) as name:
        yield name


def _in_netns_url(database_url: str | None) -> str | None:
    """A PostgreSQL URL on 127.0.0.1 rewritten to the Unix socket (reachable from inside the namespace)."""
    if not database_url:
        return None
    parts = urlsplit(database_url)
    user = parts.username or "postgres"
    netloc = f"{user}:{parts.password}@" if parts.password else f"{user}@"
    query = f"host={PG_SOCKET_DIR}" + (f"&{parts.query}" if parts.query else "")
    return urlunsplit((parts.scheme, netloc, parts.path, query, ""))


_CRED_LINE = re.compile(r"^\s+(\S+)\s+(\S+)\s+(admin|chair|clerk|member|viewer)\s+(\S+)\s*$")


def _wait_healthy(netns: str, url: str, deadline: float) -> None:
    probe = (
        "import sys, time, urllib.request\n"
        f"end = time.time() + {max(1.0, deadline - time.time()):.1f}\n"
        "while time.time() < end:\n"
        "    try:\n"
        f"        urllib.request.urlopen({url!r}, timeout=2).read(); sys.exit(0)\n"
        "    except Exception:\n"
        "        time.sleep(0.2)\n"
        "sys.exit(1)\n"
    )
    subprocess.run(
        ["ip", "netns", "exec", netns, sys.executable, "-c", probe],
        check=True,
        timeout=SERVER_START_TIMEOUT_S,
    )


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    """Keep each phase's report on the item, so the server fixture can print its log when a test failed."""
    outcome = yield
    report = outcome.get_result()  # type: ignore[attr-defined]
    setattr(item, f"report_{report.when}", report)


SERVER_LOG_TAIL_LINES = 80


@pytest.fixture
def server_extra_env(request: pytest.FixtureRequest) -> dict[str, str]:
    """GIAOBAN_* settings a test gives its server (parametrize this fixture with indirect=True)."""
    return dict(getattr(request, "param", {}))


@pytest.fixture
def server(
    netns: str,
    tmp_path: Path,
    database_url: str | None,
    server_extra_env: dict[str, str],
    request: pytest.FixtureRequest,
) -> Iterator[RunningServer]:
    """``python -m server.cli serve --demo`` as a subprocess in the namespace; the demo passwords parsed."""
    data_dir = tmp_path / "data"
    env = child_env()
    env.update(
        GIAOBAN_ICE_ADDRESSES="127.0.0.1",
        GIAOBAN_SECRET_KEY="e2e-secret",
        GIAOBAN_LOG_LEVEL="INFO",
        PYTHONUNBUFFERED="1",
    )
    env.update(server_extra_env)
    pg = _in_netns_url(database_url)
    if pg:
        env["GIAOBAN_DATABASE_URL"] = pg
    cmd = [
        "ip",
        "netns",
        "exec",
        netns,
        sys.executable,
        "-m",
        "server.cli",
        "serve",
        "--demo",
        "--host",
        "127.0.0.1",
        "--port",
        str(SERVER_PORT),
        "--data-dir",
        str(data_dir),
    ]
    proc = subprocess.Popen(
        cmd, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    assert proc.stdout is not None
    accounts: dict[str, DemoAccount] = {}
    log: list[str] = []
    deadline = time.time() + SERVER_START_TIMEOUT_S
    for line in proc.stdout:
        log.append(line)
        m = _CRED_LINE.match(line)
        if m:
            accounts[m.group(1)] = DemoAccount(m.group(1), m.group(2), m.group(3), m.group(4))
        if "giaoban đang chạy tại" in line or time.time() > deadline:
            break
    if proc.poll() is not None or not accounts:
        proc.kill()
        raise RuntimeError("the server did not start:\n" + "".join(log))

    def drain() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            log.append(line)

    threading.Thread(target=drain, daemon=True).start()
    base = f"http://127.0.0.1:{SERVER_PORT}"
    _wait_healthy(netns, base + "/api/health", deadline)
    running = RunningServer(base, netns, data_dir, accounts, proc, log)
    try:
        yield running
    finally:
        report = getattr(request.node, "report_call", None)
        if report is not None and report.failed:
            print("---- server log (tail) ----\n" + "".join(log[-SERVER_LOG_TAIL_LINES:]))
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture(scope="session")
def media_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small fake camera (320×240 at 15 fps, Y4M) and the known speech as 48 kHz WAV, made once."""
    out = tmp_path_factory.mktemp("media")
    video = out / "camera.y4m"
    subprocess.run(
        [
            "ffmpeg",
            "-loglevel",
            "error",
            "-f",
            "lavfi",
            "-i",
            f"testsrc2=size={FAKE_VIDEO_SIZE}:rate={FAKE_VIDEO_FPS}",
            "-t",
            "2",
            "-pix_fmt",
            "yuv420p",
            str(video),
        ],
        check=True,
    )
    voice = joined([u.path for u in shippable()[:SPEECH_CLIPS]], SPEECH_SAMPLE_RATE_HZ)
    speech = out / "speech-48k.wav"
    # a room's noise floor under the synthesised voice (pink noise, -34 dBFS, sox's repeatable seed): between
    # words espeak-ng's output is digital silence, which Chromium's noise suppression and gain control treat
    # unlike a microphone's; with it the listener's copy correlates 0.43–0.53 with the file (0.34 without;
    # VIVOS clips: 0.80)
    noise = out / "room.wav"
    length_s = subprocess.run(["soxi", "-D", str(voice)], capture_output=True, text=True, check=True).stdout
    length_s = length_s.strip()
    subprocess.run(
        [
            "sox",
            "-R",
            "-n",
            "-r",
            str(SPEECH_SAMPLE_RATE_HZ),
            "-c",
            "1",
            "-b",
            "16",
            str(noise),
            "synth",
            length_s,
            "pinknoise",
            "vol",
            "0.02",
        ],
        check=True,
    )
    subprocess.run(
        ["sox", "-m", "-v", "1", str(voice), "-v", "1", str(noise), "-b", "16", str(speech)], check=True
    )
    return out


@dataclass
class Chromium:
    """Launches headless Chromium instances inside the test's namespace."""

    playwright: Playwright
    wrapper: Path
    video: Path
    launched: list[Browser] = field(default_factory=list)

    def launch(self, fake_audio: Path | None = None) -> Browser:
        args = [*CHROMIUM_FLAGS, f"--use-file-for-fake-video-capture={self.video}"]
        if fake_audio is not None:
            args.append(f"--use-file-for-fake-audio-capture={fake_audio}")  # looped: speech whenever measured
        browser = self.playwright.chromium.launch(executable_path=str(self.wrapper), headless=True, args=args)
        self.launched.append(browser)
        return browser


@pytest.fixture
def chromium(netns: str, tmp_path: Path, media_dir: Path) -> Iterator[Chromium]:
    wrapper = tmp_path / "chromium-in-netns"
    wrapper.write_text(f'#!/bin/sh\nexec ip netns exec {netns} {CHROMIUM} "$@"\n')
    wrapper.chmod(wrapper.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    with sync_playwright() as pw:
        c = Chromium(pw, wrapper, media_dir / "camera.y4m")
        try:
            yield c
        finally:
            for b in c.launched:
                b.close()


@pytest.fixture(scope="session")
def screenshots() -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    return SCREENSHOTS
