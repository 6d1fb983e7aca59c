"""A long meeting and parallel minutes downloads against a live server, with the signaling socket's ping round
trip sampled meanwhile: how much document rendering delays the event loop that serves live meetings.

Used by ``tests/server/test_render_offloop.py`` and ``benchmarks/rendering/run.py``.
"""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import websockets

from server.config import Settings
from server.db import Database
from server.services import transcripts
from tests.server.live_harness import LiveServer

LONG_MEETING_SEGMENTS = 3000
SEGMENT_UNITS = ("CHUMO", "POTO", "IATUL", "IAKDAM", "KIMTAN")  # alternating: one contribution each
SEGMENT_S = 4.0
PING_INTERVAL_S = 0.06  # ~16 pings a second: under the socket's flood limit (20 messages a second)
DOWNLOAD_TIMEOUT_S = 300.0


def store_long_meeting(live: LiveServer, meeting_id: int, count: int = LONG_MEETING_SEGMENTS) -> None:
    """``count`` transcript segments for the meeting, through the transcription service, in the server's
    database (another process: SQLite in WAL mode or PostgreSQL)."""
    settings = Settings(data_dir=live.data_dir, database_url=live.database_url)
    db = Database(settings)
    try:
        segments = [
            transcripts.SegmentInput(
                start_s=i * SEGMENT_S,
                end_s=i * SEGMENT_S + SEGMENT_S - 0.5,
                text=f"Ý kiến thứ {i}: xã đã rà soát diện tích lúa bị thiếu nước, huy động máy bơm dã chiến "
                "và đề nghị huyện hỗ trợ kinh phí nạo vét kênh mương trước mùa khô.",
                unit_code=SEGMENT_UNITS[i % len(SEGMENT_UNITS)],
                speaker=f"Đại biểu {i % len(SEGMENT_UNITS) + 1}",
            )
            for i in range(count)
        ]
        with db.session() as session:
            transcripts.store_segments(session, meeting_id, segments)
    finally:
        db.dispose()


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))]


@dataclass(frozen=True)
class Download:
    status: int
    seconds: float
    size: int
    content_type: str
    body: bytes


@dataclass(frozen=True)
class LoadFigures:
    quiet_ms: list[float]  # ping round trips before any download
    loaded_ms: list[float]  # ping round trips while the downloads ran
    loaded_at_s: list[float]  # when each of those pings was sent (seconds after the downloads started)
    downloads: list[Download]
    wall_s: float  # first request sent to last response received

    @staticmethod
    def summary(values: list[float]) -> str:
        return (
            f"p50 {percentile(values, 50):7.1f} ms  p99 {percentile(values, 99):7.1f} ms  "
            f"max {max(values):7.1f} ms  (n={len(values)})"
        )

    def spikes(self, over_ms: float) -> str:
        """The loaded round trips over ``over_ms``, with when they were sent."""
        pairs = zip(self.loaded_at_s, self.loaded_ms, strict=True)
        return ", ".join(f"{rtt:.0f} ms at {at:.1f} s" for at, rtt in pairs if rtt > over_ms)


async def _pinger(ws_url: str, token: str, out: list[tuple[float, float]], stop: asyncio.Event) -> None:
    """(time sent, round trip ms) of one ping after another, until ``stop``."""
    async with websockets.connect(
        ws_url, additional_headers={"Authorization": f"Bearer {token}"}, max_size=1 << 22
    ) as ws:
        while not stop.is_set():
            sent = time.perf_counter()
            await ws.send(json.dumps({"type": "ping"}))
            while True:  # other messages (joins, roll-call) may come first
                if json.loads(await ws.recv()).get("type") == "pong":
                    break
            out.append((sent, (time.perf_counter() - sent) * 1000))
            await asyncio.sleep(PING_INTERVAL_S)


async def _download(client: httpx.AsyncClient, url: str, token: str) -> Download:
    started = time.perf_counter()
    r = await client.get(url, headers={"Authorization": f"Bearer {token}"}, timeout=DOWNLOAD_TIMEOUT_S)
    return Download(
        r.status_code,
        time.perf_counter() - started,
        len(r.content),
        r.headers.get("content-type", ""),
        r.content,
    )


async def _measure(
    live: LiveServer, meeting_id: int, token: str, path: str, parallel: int, quiet_s: float
) -> LoadFigures:
    samples: list[tuple[float, float]] = []
    stop = asyncio.Event()
    ws_url = f"ws://127.0.0.1:{live.port}/ws/meetings/{meeting_id}"
    # made first: an httpx client loads its TLS context (~0.1-0.5 s) and would stall this process's pinger
    async with httpx.AsyncClient() as client:
        pinger = asyncio.create_task(_pinger(ws_url, token, samples, stop))
        await asyncio.sleep(quiet_s)
        started = time.perf_counter()
        downloads = await asyncio.gather(
            *(_download(client, f"{live.url}{path}", token) for _ in range(parallel))
        )
        ended = time.perf_counter()
    stop.set()
    await pinger
    wall = ended - started
    quiet = [rtt for sent, rtt in samples if sent < started]
    loaded = [rtt for sent, rtt in samples if started <= sent < ended]
    loaded_at = [sent - started for sent, _ in samples if started <= sent < ended]
    return LoadFigures(quiet, loaded, loaded_at, list(downloads), wall)


def measure_renders(
    live: LiveServer,
    meeting_id: int,
    token: str,
    *,
    path: str | None = None,
    parallel: int = 4,
    quiet_s: float = 3.0,
) -> LoadFigures:
    """Ping round trips for ``quiet_s`` with nothing else running, then while ``parallel`` downloads of the
    meeting's minutes PDF (the preview: rendered each time) run at once."""
    path = path or f"/api/meetings/{meeting_id}/minutes.pdf"
    return asyncio.run(_measure(live, meeting_id, token, path, parallel, quiet_s))


def render_children(server_pid: int) -> list[int]:
    """The server's spawned render processes (``spawn_main`` children; not its resource tracker)."""
    pids = []
    for task in Path(f"/proc/{server_pid}/task").iterdir():
        for child in (task / "children").read_text().split():
            try:
                cmdline = Path(f"/proc/{child}/cmdline").read_bytes().replace(b"\0", b" ")
            except FileNotFoundError:
                continue
            if b"spawn_main" in cmdline:
                pids.append(int(child))
    return pids
