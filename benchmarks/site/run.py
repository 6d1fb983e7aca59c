"""Site benchmark: placement time, failover time and capacity of a site of `giaoban serve` processes
(server/site).

    python benchmarks/site/run.py [--parts placement,failover,capacity] [--nodes 3] [--meetings 12]
                                  [--rounds 3] [--ttl 2.5] [--heartbeat 0.5]
                                  [--size 4] [--counts 1,2,3,4,5,6,8] [--window 8]

Starts N `giaoban serve` processes on one PostgreSQL (a fresh schema of GIAOBAN_BENCH_DATABASE_URL, default
postgresql+psycopg://postgres@127.0.0.1:5432/test) and one Redis (GIAOBAN_BENCH_REDIS_URL's server, database
12, flushed), sharing one data dir.

Placement: `--meetings` meetings started one after another through the first process (POST .../start: the
database write, the Redis look-up of the healthy nodes and the compare-and-set of the placement), then 200
placements measured alone (`Placement.locate` of fresh ids: the Redis round trips only); and where the
meetings landed.

Failover: the demo meeting with two real participants (aiortc, in this process): the chair publishes a
synthesised speech file and a 320x240 video, a commune receives. Each round kills (SIGKILL) the node holding
the meeting and measures the time until the commune receives the chair's media again — its socket dropped,
it reconnects through a live process, is redirected to the node the meeting was placed on again, and
renegotiates; then starts a fresh node in place of the dead one. Also printed: the moment the dead node left
Redis (its heartbeat TTL) and the media gap the commune saw.

Capacity (benchmarks/site/capacity.py): meetings of `--size` real participants, all publishing video, on a
site of 1 node (the baseline) and then of 2 nodes, in the same run: the meeting count steps up through
`--counts` until the received video drops under 25 fps (any stream) or 28 fps (mean) or a packet is lost;
the largest count held on each and their ratio are printed, with the CPU of the servers, the clients and
the whole machine at each step (the clients share the machine's 2 cores with the servers).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import httpx  # noqa: E402
import redis  # noqa: E402
import websockets  # noqa: E402

from benchmarks.site.capacity import capacity  # noqa: E402
from server.bot import _offer, _open  # noqa: E402
from server.media import ClientConfig, MediaClient  # noqa: E402
from server.media.client import encode_test_pattern  # noqa: E402
from server.media.config import MediaConfig  # noqa: E402
from server.site import NodeRegistry, Placement  # noqa: E402
from server.site.placement import MEETINGS_KEY  # noqa: E402
from server.site.registry import connect, node_key  # noqa: E402
from tests.server.live_harness import LiveServer  # noqa: E402
from tests.speech import spoken  # noqa: E402

DEMO_MEETING = 1
REDIS_DB = 12
MEDIA = MediaConfig(ice_addresses=("127.0.0.1",))


def _s(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def pg_schema(base: str) -> tuple[str, str]:
    import psycopg

    schema = f"bench_site_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(base.replace("postgresql+psycopg://", "postgresql://"), autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
        conn.execute("CREATE EXTENSION IF NOT EXISTS unaccent SCHEMA public")
    return f"{base}?options=-csearch_path%3D{schema},public", schema


def drop_schema(base: str, schema: str) -> None:
    import psycopg

    with psycopg.connect(base.replace("postgresql+psycopg://", "postgresql://"), autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


class Participant:
    """A real participant that reconnects through any live process after its connection is lost."""

    def __init__(self, username: str, token: str, entries: Any, publish: bool, play: Path | None) -> None:
        self.username, self.token, self.entries = username, token, entries
        self.config = ClientConfig(
            media=MEDIA,
            audio_file=str(play) if play else None,
            video=publish,
            decode=False,
            publish_audio=publish,
        )
        self.clients: list[MediaClient] = []
        self.connected_at: list[float] = []
        self.lost_at: list[float] = []
        self.stop = asyncio.Event()

    def frames_from(self, username: str, since: float = 0.0) -> int:
        """Frames received from ``username`` over the connections opened after ``since`` (monotonic)."""
        total = 0
        for c, at in zip(self.clients, self.connected_at, strict=True):
            if at < since:
                continue
            for p in c.stats().participants:
                if p.username == username:
                    total += p.audio_frames + p.video_frames
        return total

    async def run(self) -> None:
        while not self.stop.is_set():
            for base in self.entries():
                url = base.replace("http", "ws", 1) + f"/ws/meetings/{DEMO_MEETING}"
                try:
                    ws, welcome, _ = await _open(url, {"Authorization": f"Bearer {self.token}"})
                except (OSError, websockets.InvalidHandshake, websockets.ConnectionClosed, Exception):
                    continue
                await self._session(ws, welcome)
                break
            else:
                await asyncio.sleep(0.3)

    async def _session(self, ws: Any, welcome: dict[str, Any]) -> None:
        pid = welcome["participant_id"]
        client = MediaClient(pid, self.config)
        self.clients.append(client)
        self.connected_at.append(time.monotonic())
        try:
            await ws.send(
                json.dumps({"type": "join", "audio_only": False, "publish_video": self.config.video})
            )
            await ws.send(json.dumps({"type": "mute", "audio": False, "video": not self.config.video}))
            while not self.stop.is_set():
                try:
                    raw = await asyncio.wait_for(ws.recv(), timeout=0.5)
                except TimeoutError:
                    continue
                msg = json.loads(raw)
                if msg["type"] == "offer":
                    answer = await client.accept_offer(_offer(pid, msg))
                    await ws.send(json.dumps({"type": "answer", "sdp": answer}))
        except websockets.ConnectionClosed:
            self.lost_at.append(time.monotonic())
        finally:
            if self.stop.is_set():
                await ws.close()


async def failover_rounds(
    nodes: list[LiveServer], rounds: int, r: redis.Redis, ttl_s: float
) -> list[dict[str, float]]:
    def holder() -> LiveServer | None:
        node_id = r.hget(MEETINGS_KEY, str(DEMO_MEETING))
        raw = r.get(node_key(_s(node_id))) if node_id else None
        url = json.loads(raw)["url"] if raw else None
        return next((n for n in nodes if n.url == url), None)

    def live_urls() -> list[str]:
        return [n.url for n in nodes if n.proc is not None]

    first = nodes[0]
    chair = Participant(
        "chutri",
        first.token("chutri"),
        live_urls,
        True,
        spoken(("GB01", "GB02", "GB03", "GB04", "GB05", "GB06")),
    )
    commune = Participant("chumo", first.token("chumo"), live_urls, False, None)
    tasks = [asyncio.create_task(p.run()) for p in (chair, commune)]
    results: list[dict[str, float]] = []
    try:
        await wait_for(lambda: commune.frames_from("chutri") > 50, 60)
        for i in range(rounds):
            dead = holder()
            assert dead is not None and dead.proc is not None
            await asyncio.sleep(3)
            dead_id = _node_id_of(r, dead)
            killed = time.monotonic()
            dead.proc.send_signal(signal.SIGKILL)
            dead.proc.wait()
            dead.proc = None
            dead_key = node_key(dead_id)
            await wait_for(lambda k=dead_key: r.get(k) is None, 30)  # type: ignore[misc]
            gone = time.monotonic() - killed
            await wait_for(lambda t=killed: commune.frames_from("chutri", since=t) > 0, 60)  # type: ignore[misc]
            back = time.monotonic() - killed
            now = holder()
            results.append({"round": i + 1, "node_gone_s": gone, "media_back_s": back})
            print(
                f"round {i + 1}: node :{dead.port} killed; out of Redis after {gone:.2f} s; "
                f"the commune receives the chair again after {back:.2f} s "
                f"(meeting now on :{now.port if now else '?'})",
                flush=True,
            )
            replacement = LiveServer(dead.data_dir, dead.database_url, extra_env=dead.extra_env).start(
                demo=False
            )
            replacement.creds = first.creds
            nodes[nodes.index(dead)] = replacement
    finally:
        for p in (chair, commune):
            p.stop.set()
        await asyncio.gather(*tasks, return_exceptions=True)
        for p in (chair, commune):
            for c in p.clients:
                await c.close()
    return results


_node_ids: dict[int, str] = {}


def _node_id_of(r: redis.Redis, node: LiveServer) -> str:
    if node.port not in _node_ids:
        for key in r.scan_iter(node_key("*")):
            raw = r.get(key)
            if raw and json.loads(raw)["url"] == node.url:
                _node_ids[node.port] = json.loads(raw)["id"]
    return _node_ids.get(node.port, "?")


async def wait_for(predicate: Any, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError("benchmark: condition not reached")
        await asyncio.sleep(0.02)


def start_site(count: int, db_url: str, env: dict[str, str]) -> list[LiveServer]:
    """``count`` processes on one fresh data dir (the first with the demo accounts)."""
    data = Path(tempfile.mkdtemp(prefix="giaoban-site-bench-")) / "data"
    nodes = [LiveServer(data, db_url, extra_env=env).start(demo=True)]
    for _ in range(count - 1):
        node = LiveServer(data, db_url, extra_env=env).start(demo=False)
        node.creds = nodes[0].creds
        nodes.append(node)
    return nodes


def placement(args: argparse.Namespace, first: LiveServer, r: redis.Redis, redis_url: str) -> None:
    headers = {"Authorization": f"Bearer {first.token('chutri')}"}
    body = {
        "title": "Đo xếp cuộc họp",
        "chair_unit": "IAPA",
        "units": ["CHUMO"],
        "starts_at": "2026-12-01T08:00:00+07:00",
        "record": False,
    }
    start_ms: list[float] = []
    with httpx.Client(base_url=first.url, headers=headers, timeout=30) as http:
        ids = [http.post("/api/meetings", json=body).json()["id"] for _ in range(args.meetings)]
        for mid in ids:
            t0 = time.perf_counter()
            assert http.post(f"/api/meetings/{mid}/start").status_code == 200
            start_ms.append((time.perf_counter() - t0) * 1000)
        per_node: dict[str, int] = {}
        for mid in ids:
            node_id = r.hget(MEETINGS_KEY, str(mid))
            per_node[_s(node_id) if node_id else "-"] = (
                per_node.get(_s(node_id) if node_id else "-", 0) + 1
            )
        place = Placement(NodeRegistry(connect(redis_url), args.ttl))
        locate_ms = []
        for i in range(200):
            t0 = time.perf_counter()
            place.locate(10_000_000 + i)
            locate_ms.append((time.perf_counter() - t0) * 1000)
            place.release(10_000_000 + i)
        for mid in ids:
            http.post(f"/api/meetings/{mid}/end")
    print(
        f"placement: POST start of {args.meetings} meetings p50 {statistics.median(start_ms):.1f} ms, "
        f"p95 {pct(start_ms, 0.95):.1f} ms; placement alone (Redis) "
        f"p50 {statistics.median(locate_ms):.2f} ms, "
        f"p95 {pct(locate_ms, 0.95):.2f} ms; meetings per node {sorted(per_node.values(), reverse=True)}",
        flush=True,
    )


def failover(args: argparse.Namespace, nodes: list[LiveServer], r: redis.Redis) -> None:
    first = nodes[0]
    assert first.api("POST", f"/api/meetings/{DEMO_MEETING}/start", "chutri").status_code == 200
    results = asyncio.run(failover_rounds(nodes, args.rounds, r, args.ttl))
    backs = [x["media_back_s"] for x in results]
    print(
        f"failover: media back after {statistics.median(backs):.2f} s median "
        f"(min {min(backs):.2f}, max {max(backs):.2f}) over {len(backs)} kills; "
        f"node out of Redis after {statistics.median(x['node_gone_s'] for x in results):.2f} s median",
        flush=True,
    )


def run_capacity(args: argparse.Namespace, base_db: str, r: redis.Redis, env: dict[str, str]) -> None:
    frames = encode_test_pattern(320, 240, 30, frames=300, bitrate_bps=250_000, keyframe_interval=60)
    config = ClientConfig(media=MEDIA, video=True, video_fps=30, decode=False, encoded_video=frames)
    counts = [int(x) for x in args.counts.split(",") if x]
    held: dict[int, int] = {}
    print(
        f"capacity: meetings of {args.size}, each participant publishing VP8 320x240@30 "
        f"({sum(len(f) for f in frames) * 8 / 10 / 1000:.0f} kb/s) + Opus silence; held = every stream "
        f">= 25 fps, mean >= 28 fps, 0 lost; {args.window:g} s windows; {os.cpu_count()} cores",
        flush=True,
    )
    for count in (1, 2):
        r.flushdb()
        db_url, schema = pg_schema(base_db)
        nodes: list[LiveServer] = []
        try:
            nodes = start_site(count, db_url, env)
            held[count], steps = asyncio.run(capacity(nodes, counts, args.size, args.window, config))
        finally:
            for node in nodes:
                node.stop()
            drop_schema(base_db, schema)
        ok = [x for x in steps if x.held] or steps[:1]
        server = statistics.fmean(sum(x.servers_cpu) / x.meetings for x in ok)
        busiest = max(max(x.servers_cpu) for x in ok)
        clients = statistics.fmean(x.clients_cpu / x.meetings for x in ok)
        last = steps[-1]
        print(
            f"capacity: a site of {count} node(s) held {held[count]} meetings of {args.size}; per meeting "
            f"the servers spent {server:.1f} % of a core and the clients {clients:.1f} % (busiest node "
            f"{busiest:.0f} % of its core); at the last step the machine was {last.machine_busy:.0f} % busy "
            f"of {last.cores * 100}, "
            + ("the machine (clients starved), not the site, was the limit" if last.machine_busy >= 190
               and max(last.servers_cpu) < 80 else "see the step above"),
            flush=True,
        )
    ratio = held[2] / held[1] if held[1] else float("nan")
    print(f"capacity: 2 nodes / 1 node (baseline) = {held[2]} / {held[1]} meetings = {ratio:.2f}x")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--parts", default="placement,failover,capacity")
    ap.add_argument("--nodes", type=int, default=3)
    ap.add_argument("--meetings", type=int, default=12)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--heartbeat", type=float, default=0.5)
    ap.add_argument("--ttl", type=float, default=2.5)
    ap.add_argument("--size", type=int, default=4, help="capacity: participants per meeting")
    ap.add_argument("--counts", default="1,2,3,4,5,6,8", help="capacity: meeting counts stepped through")
    ap.add_argument("--window", type=float, default=8.0, help="capacity: measuring window (s)")
    args = ap.parse_args()
    parts = set(args.parts.split(","))

    base_db = os.environ.get(
        "GIAOBAN_BENCH_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
    )
    redis_base = os.environ.get("GIAOBAN_BENCH_REDIS_URL", "redis://127.0.0.1:6379/0").rsplit("/", 1)[0]
    redis_url = f"{redis_base}/{REDIS_DB}"
    r = redis.Redis.from_url(redis_url)
    r.flushdb()
    env = {
        "GIAOBAN_REDIS_URL": redis_url,
        "GIAOBAN_WORKER_IN_PROCESS": "false",
        "GIAOBAN_NODE_HEARTBEAT_S": str(args.heartbeat),
        "GIAOBAN_NODE_TTL_S": str(args.ttl),
        "GIAOBAN_LOG_LEVEL": "WARNING",
    }
    if parts & {"placement", "failover"}:
        db_url, schema = pg_schema(base_db)
        nodes: list[LiveServer] = []
        try:
            nodes = start_site(args.nodes, db_url, env)
            print(
                f"site: {args.nodes} nodes on PostgreSQL + Redis, heartbeat {args.heartbeat} s, "
                f"TTL {args.ttl} s",
                flush=True,
            )
            if "placement" in parts:
                placement(args, nodes[0], r, redis_url)
            if "failover" in parts:
                failover(args, nodes, r)
        finally:
            for node in nodes:
                node.stop()
            r.flushdb()
            drop_schema(base_db, schema)
    if "capacity" in parts:
        run_capacity(args, base_db, r, env)
    r.flushdb()

if __name__ == "__main__":
    main()
