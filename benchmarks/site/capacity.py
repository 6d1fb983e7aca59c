"""Site capacity: how many meetings of N a site of 1 node holds, and a site of 2 nodes, on this machine.

Each step starts M meetings of N real participants (the chair's hall and N-1 communes, every one publishing a
pre-encoded VP8 320x240@30 stream and Opus silence) through the site's first process — the placement spreads
them over the nodes — and connects every participant through a real signaling socket (redirects followed,
`server.bot._open`). The media clients (aiortc, counting at the RTP level: no decoding) run in two child
processes; the sockets in this one. After a warm-up, a window measures what each participant received from
each other one: a meeting count is **held** when every received video stream ran at >= ``HELD_FPS_MIN`` fps,
their mean at >= ``HELD_FPS_MEAN`` fps, and no packet was lost. The count grows until a step is not held.

Also measured per step: each server process's CPU, the client processes' CPU, this process's, and the whole
machine's busy time over the window (``/proc/stat``, of the 2 cores): when clients and servers together fill
the machine, the machine, not the site, is what stopped the count.
"""

from __future__ import annotations

import asyncio
import json
import os
import statistics
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import httpx
import websockets

from server.bot import _offer, _open
from server.cli import DEMO_ACCOUNTS
from server.media import ClientConfig
from server.media.client_process import ClientProcess
from server.media.config import MediaConfig
from server.media.stats import ClientStats
from tests.server.live_harness import LiveServer

HELD_FPS_MEAN = 28.0
HELD_FPS_MIN = 25.0
WARMUP_S = 3.0
CONNECT_TIMEOUT_S = 90.0
CLIENT_PROCESSES = 2
MEDIA = MediaConfig(ice_addresses=("127.0.0.1",))
# the demo's chair, then its communes (giaoban serve --demo): one account per connection point
ACCOUNTS = ("chutri", *(name for name, role, _, _ in DEMO_ACCOUNTS if role == "member"))
UNIT_OF = {name: unit for name, _, unit, _ in DEMO_ACCOUNTS}
CHAIR_UNIT = "IAPA"
TICKS = os.sysconf("SC_CLK_TCK")


# ---- the media clients, in child processes ------------------------------------------------------------
def client_processes(config: ClientConfig) -> list[ClientProcess]:
    """``CLIENT_PROCESSES`` children of media clients, one client per (meeting, account) key, made on the
    key's first offer."""
    return [ClientProcess([], config) for _ in range(CLIENT_PROCESSES)]


async def close_clients(procs: list[ClientProcess]) -> None:
    for proc in procs:
        try:
            await asyncio.wait_for(proc.close(), 20)
        except (TimeoutError, EOFError, OSError):
            pass


async def _participant(clients: ClientProcess, key: str, url: str, token: str, stop: asyncio.Event) -> None:
    """One participant's socket: join publishing video, answer every offer, until ``stop``. Opening it is
    tried again while the machine is too loaded to answer in time."""
    deadline = time.monotonic() + CONNECT_TIMEOUT_S
    while True:
        try:
            ws, welcome, _ = await _open(url, {"Authorization": f"Bearer {token}"})
            break
        except (OSError, TimeoutError, websockets.WebSocketException) as exc:
            if time.monotonic() > deadline or stop.is_set():
                print(f"    {key}: not connected ({exc!r})", flush=True)
                raise
            await asyncio.sleep(1.0)
    pid = welcome["participant_id"]
    try:
        await ws.send(json.dumps({"type": "join", "audio_only": False, "publish_video": True}))
        while not stop.is_set():
            try:
                raw = await asyncio.wait_for(ws.recv(), timeout=0.5)
            except TimeoutError:
                continue
            msg = json.loads(raw)
            if msg["type"] == "offer":
                answer = await clients.answer(key, _offer(pid, msg))
                await ws.send(json.dumps({"type": "answer", "sdp": answer}))
    except websockets.ConnectionClosed:
        pass
    finally:
        await ws.close()


# ---- CPU --------------------------------------------------------------------------------------------------
def process_cpu_s(pid: int) -> float:
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / TICKS


def machine_busy_s() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine since boot, all cores."""
    with open("/proc/stat") as f:
        values = [int(v) for v in f.readline().split()[1:]]
    idle = values[3] + values[4]
    return (sum(values) - idle) / TICKS, sum(values) / TICKS


@dataclass(frozen=True)
class Step:
    meetings: int
    size: int
    connected: bool
    fps_mean: float
    fps_min: float
    lost: int
    streams: int
    servers_cpu: list[float]  # % of one core per server process
    clients_cpu: float  # % of one core, all client processes
    driver_cpu: float  # this process (the sockets)
    machine_busy: float  # % of one core, the whole machine (all cores: 200 = both full)
    cores: int

    @property
    def held(self) -> bool:
        return (
            self.connected
            and self.fps_min >= HELD_FPS_MIN
            and self.fps_mean >= HELD_FPS_MEAN
            and self.lost == 0
        )

    def line(self) -> str:
        ours = sum(self.servers_cpu) + self.clients_cpu + self.driver_cpu
        return (
            f"{self.meetings} meetings of {self.size}: "
            + ("" if self.connected else "NOT ALL CONNECTED; ")
            + f"video fps mean {self.fps_mean:.1f} / min {self.fps_min:.1f} over {self.streams} streams, "
            f"lost {self.lost} -> {'held' if self.held else 'NOT held'}; CPU % of a core: servers "
            + " + ".join(f"{c:.0f}" for c in self.servers_cpu)
            + f", clients {self.clients_cpu:.0f}, sockets {self.driver_cpu:.0f} (ours {ours:.0f}); "
            f"machine busy {self.machine_busy:.0f} of {self.cores * 100} (other jobs "
            f"{max(0.0, self.machine_busy - ours):.0f}); load {os.getloadavg()[0]:.1f}"
        )


# ---- one step ---------------------------------------------------------------------------------------------
@contextmanager
def meetings_started(
    first: LiveServer, headers: dict[str, str], count: int, size: int
) -> Iterator[list[int]]:
    body = {
        "title": "Đo sức chứa",
        "chair_unit": CHAIR_UNIT,
        "units": [],
        "starts_at": "2026-12-01T08:00:00+07:00",
        "record": False,
    }
    with httpx.Client(base_url=first.url, headers=headers, timeout=60) as http:
        ids = []
        for _ in range(count):
            created = http.post(
                "/api/meetings", json={**body, "units": [UNIT_OF[n] for n in ACCOUNTS[1:size]]}
            )
            assert created.status_code == 201, created.text
            ids.append(int(created.json()["id"]))
            assert http.post(f"/api/meetings/{ids[-1]}/start").status_code == 200
        try:
            yield ids
        finally:
            for mid in ids:
                http.post(f"/api/meetings/{mid}/end")


async def step(
    nodes: list[LiveServer],
    tokens: dict[str, str],
    count: int,
    size: int,
    window_s: float,
    config: ClientConfig,
) -> Step:
    first = nodes[0]
    accounts = ACCOUNTS[:size]
    procs = client_processes(config)
    stop = asyncio.Event()
    with meetings_started(first, {"Authorization": f"Bearer {tokens['chutri']}"}, count, size) as ids:
        entry = [n.url for n in nodes]
        tasks = []
        for i, (mid, name) in enumerate((mid, name) for mid in ids for name in accounts):
            url = entry[i % len(entry)].replace("http", "ws", 1) + f"/ws/meetings/{mid}"
            key = f"{mid}:{name}"
            tasks.append(
                asyncio.create_task(_participant(procs[i % len(procs)], key, url, tokens[name], stop))
            )
        try:
            connected = await _all_flowing(procs, count * size, size)
            await asyncio.sleep(WARMUP_S)
            server_pids = [n.proc.pid for n in nodes if n.proc is not None]
            client_pids = [p.process.pid for p in procs if p.process.pid is not None]
            before = await _timed_stats(procs)
            t0 = time.monotonic()
            cpu0 = [process_cpu_s(p) for p in server_pids + client_pids + [os.getpid()]]
            busy0, total0 = machine_busy_s()
            await asyncio.sleep(window_s)
            busy1, total1 = machine_busy_s()
            cpu1 = [process_cpu_s(p) for p in server_pids + client_pids + [os.getpid()]]
            t1 = time.monotonic()
            after = await _timed_stats(procs)
        finally:
            stop.set()
            await asyncio.gather(*tasks, return_exceptions=True)
            await close_clients(procs)
    wall = t1 - t0
    pct = [(c1 - c0) / wall * 100 for c0, c1 in zip(cpu0, cpu1, strict=True)]
    n_servers = len(server_pids)
    fps, lost = [], 0
    for key, (stats, at) in after.items():
        prev, prev_at = before.get(key, (None, at - wall))
        for remote in stats.participants:
            prev_remote = prev.by_username(remote.username) if prev else None
            frames = remote.video_frames - (prev_remote.video_frames if prev_remote else 0)
            fps.append(frames / (at - prev_at))
            lost += remote.packets_lost - (prev_remote.packets_lost if prev_remote else 0)
    cores = os.cpu_count() or 1
    return Step(
        meetings=count,
        size=size,
        connected=connected and len(fps) == count * size * (size - 1),
        fps_mean=statistics.fmean(fps) if fps else 0.0,
        fps_min=min(fps) if fps else 0.0,
        lost=lost,
        streams=len(fps),
        servers_cpu=pct[:n_servers],
        clients_cpu=sum(pct[n_servers:-1]),
        driver_cpu=pct[-1],
        machine_busy=(busy1 - busy0) / ((total1 - total0) / cores) * 100,
        cores=cores,
    )


async def _stats(procs: list[ClientProcess]) -> dict[str, ClientStats]:
    return {k: v for k, (v, _) in (await _timed_stats(procs)).items()}


async def _timed_stats(procs: list[ClientProcess]) -> dict[str, tuple[ClientStats, float]]:
    """Each client's stats and when its process took them (the midpoint of the call: a loaded machine may
    answer late, and fps over the time between two calls' starts would be off)."""
    out: dict[str, tuple[ClientStats, float]] = {}
    for p in procs:
        asked = time.monotonic()
        reply = await p.stats()
        at = (asked + time.monotonic()) / 2
        out.update((k, (v, at)) for k, v in reply.items())
    return out


async def _all_flowing(procs: list[ClientProcess], participants: int, size: int) -> bool:
    """Every participant receives video from every other one (False after ``CONNECT_TIMEOUT_S``)."""
    deadline = time.monotonic() + CONNECT_TIMEOUT_S
    while time.monotonic() < deadline:
        stats = await _stats(procs)
        flowing = sum(
            1 for s in stats.values() if sum(1 for r in s.participants if r.video_frames > 0) >= size - 1
        )
        if flowing == participants:
            return True
        await asyncio.sleep(0.5)
    return False


async def capacity(
    nodes: list[LiveServer], counts: list[int], size: int, window_s: float, config: ClientConfig
) -> tuple[int, list[Step]]:
    """Step the meeting count up until a step is not held; the largest held count and every step."""
    tokens = {name: nodes[0].token(name) for name in ACCOUNTS[:size]}
    held, steps = 0, []
    for count in counts:
        s = await step(nodes, tokens, count, size, window_s, config)
        print(f"  {len(nodes)} node(s): {s.line()}", flush=True)
        steps.append(s)
        if not s.held:
            break
        held = count
    return held, steps
