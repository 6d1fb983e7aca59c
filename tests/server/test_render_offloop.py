"""Document rendering never starves live meetings: a real server subprocess with a long meeting (3 000
transcript segments), four parallel minutes.pdf downloads, and the signaling socket's ping round trip sampled
meanwhile (the event loop that forwards media answers it). Rendered in the server's threadpool (the old way,
``GIAOBAN_RENDER_WORKERS=0``) the round trips were p50 31.8 ms, p99 312 ms on a loaded shared machine; in
the render processes p50 0.7 ms, p99 16-45 ms on the same machine (its own noise: 20-80 ms spikes).
Also: a full queue answers 503 with Retry-After, and a render process killed with -9 answers its request
with an error (not a hang) and is replaced."""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.server.live_harness import LiveServer
from tests.server.render_load import measure_renders, percentile, render_children, store_long_meeting

pytestmark = [pytest.mark.e2e, pytest.mark.any_database]

MEETING = 1  # the demo meeting
PARALLEL_DOWNLOADS = 4
PING_P99_BOUND_MS = 20.0
PING_P50_BOUND_MS = 5.0
QUIET_S = 8.0  # pings with nothing of ours running: the machine's own noise
WORKER_WAIT_S = 30.0


def _start(tmp_path: Path, database_url: str | None, **env: str) -> LiveServer:
    live = LiveServer(tmp_path / "data", database_url, extra_env=env).start()
    store_long_meeting(live, MEETING)
    return live


@pytest.fixture
def live(tmp_path: Path, database_url: str | None) -> Iterator[LiveServer]:
    server = _start(tmp_path, database_url)
    try:
        yield server
    finally:
        server.stop()


def test_parallel_minutes_pdfs_do_not_delay_the_signaling_loop(live: LiveServer) -> None:
    token = live.token("chutri")
    headers = {"Authorization": f"Bearer {token}"}
    assert httpx.post(f"{live.url}/api/meetings/{MEETING}/start", headers=headers).status_code == 200
    figures = measure_renders(live, MEETING, token, parallel=PARALLEL_DOWNLOADS, quiet_s=QUIET_S)
    print("quiet :", figures.summary(figures.quiet_ms))
    print("loaded:", figures.summary(figures.loaded_ms))
    print(f"{PARALLEL_DOWNLOADS} PDFs in {figures.wall_s:.1f} s; over 15 ms: {figures.spikes(15.0)}")
    # the four downloads are real PDFs of the long meeting (a preview: only the creation date differs)
    assert all(d.status == 200 and d.content_type == "application/pdf" for d in figures.downloads)
    assert len({d.size for d in figures.downloads}) == 1 and figures.downloads[0].size > 200_000
    assert all(d.body.startswith(b"%PDF") and b"/Count 2" in d.body for d in figures.downloads)
    # sampled all along (a stalled loop would give few samples), and the loop answered promptly: p99 within
    # 20 ms of what this shared machine gives with nothing of ours running (the quiet pings' p99, 5-10 ms;
    # other jobs' load alone makes 20-100 ms spikes here)
    assert len(figures.loaded_ms) >= figures.wall_s * 5
    bound = PING_P99_BOUND_MS + percentile(figures.quiet_ms, 99)
    assert percentile(figures.loaded_ms, 99) <= bound, (figures.summary(figures.loaded_ms), bound)
    assert percentile(figures.loaded_ms, 50) <= PING_P50_BOUND_MS, figures.summary(figures.loaded_ms)


def _get(live: LiveServer, token: str, path: str, out: list[httpx.Response]) -> None:
    out.append(httpx.get(f"{live.url}{path}", headers={"Authorization": f"Bearer {token}"}, timeout=120))


def _wait_for_worker(live: LiveServer) -> int:
    assert live.proc is not None
    deadline = time.monotonic() + WORKER_WAIT_S
    while time.monotonic() < deadline:
        pids = render_children(live.proc.pid)
        if pids:
            return pids[0]
        time.sleep(0.05)
    raise AssertionError("no render process started")


def test_full_queue_is_refused_and_a_killed_render_process_is_replaced(
    tmp_path: Path, database_url: str | None
) -> None:
    live = _start(tmp_path, database_url, GIAOBAN_RENDER_WORKERS="1", GIAOBAN_RENDER_QUEUE_LIMIT="0")
    try:
        token = live.token("chutri")
        assert live.proc is not None and render_children(live.proc.pid) == []  # started lazily
        first: list[httpx.Response] = []
        running = threading.Thread(
            target=_get, args=(live, token, f"/api/meetings/{MEETING}/minutes.pdf", first)
        )
        running.start()
        worker = _wait_for_worker(live)
        # one render running, no room to wait: refused at once, in the house error shape, with Retry-After
        busy: list[httpx.Response] = []
        _get(live, token, f"/api/meetings/{MEETING}/minutes.docx", busy)
        assert busy[0].status_code == 503
        assert int(busy[0].headers["retry-after"]) > 0
        assert busy[0].json()["error"]["code"] == "render_busy"
        assert set(busy[0].json()["error"]) == {"code", "message", "details"}
        # the render process dies under the running download: an error, not a hang
        time.sleep(1.0)
        os.kill(worker, signal.SIGKILL)
        running.join(timeout=30)
        assert not running.is_alive(), "the download hung after its render process died"
        assert first[0].status_code == 503 and first[0].json()["error"]["code"] == "render_failed"
        # a fresh process renders the next one
        again: list[httpx.Response] = []
        _get(live, token, f"/api/meetings/{MEETING}/notice.pdf", again)
        assert again[0].status_code == 200 and again[0].content.startswith(b"%PDF")
        replacements = render_children(live.proc.pid)
        assert replacements and worker not in replacements
    finally:
        live.stop()
    # the app's shutdown stops its render processes
    assert not any(Path(f"/proc/{pid}").exists() for pid in replacements)
