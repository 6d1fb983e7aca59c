"""Three `giaoban serve` processes and a `giaoban worker` on one PostgreSQL and one Redis form one site
(issue 17, parts 2 and 3): meetings are placed on different nodes, a bot's socket reaching the wrong process
is redirected to the meeting's node, and when that node is killed (SIGKILL) mid-meeting the bots reconnect on
their own, the meeting is resumed on a healthy node and its recording keeps the tracks from before the kill
and adds new ones after, on the same meeting clock; the mixed file and the tracks are served by any process.

The topology of docker-compose.yml, on this machine. Runs in the PostgreSQL pass (marker ``pg``; Redis
database 13, see tests/server/site_harness.py)."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import av
import pytest
import redis

from recordings.manifest import read_manifest
from server.site.placement import MEETINGS_KEY
from server.site.registry import node_key
from tests.server.live_harness import LiveServer, server_env, wait_bots
from tests.server.site_harness import flush_site_redis, site_redis_url
from tests.speech import spoken

pytestmark = [pytest.mark.pg, pytest.mark.e2e, pytest.mark.slow]

DEMO_MEETING = 1  # giaoban serve --demo: UBND huyện Ia Pa with its nine communes
SPEECH_KEYS = ("GB01", "GB02", "GB03", "GB04", "GB05", "GB06")  # ≈ 25 s of synthesised giao ban speech
HEARTBEAT_S, TTL_S = 0.5, 2.5
BOT_S = 45.0
MEDIA_BEFORE_KILL_S = 8.0
LOST_AT_KILL_S = 2.0  # at most what a killed process held in memory (Ogg pages of 0.5 s not yet written)


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


@pytest.fixture
def site(tmp_path: Path, database_url: str | None) -> Iterator[Site]:
    flush_site_redis()
    env = {
        "GIAOBAN_REDIS_URL": site_redis_url(),
        "GIAOBAN_WORKER_IN_PROCESS": "false",
        "GIAOBAN_NODE_HEARTBEAT_S": str(HEARTBEAT_S),
        "GIAOBAN_NODE_TTL_S": str(TTL_S),
    }
    data = tmp_path / "data"  # one data dir: the shared volume of the compose file
    nodes: list[LiveServer] = []
    s = Site(nodes)
    try:
        first = LiveServer(data, database_url, extra_env=env).start(demo=True)
        nodes.append(first)
        for _ in range(2):
            node = LiveServer(data, database_url, extra_env=env).start(demo=False)
            node.creds = first.creds
            nodes.append(node)
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
        for node in nodes:
            node.stop()
        flush_site_redis()


def new_meeting(node: LiveServer) -> int:
    body = {
        "title": "Giao ban phòng Nông nghiệp",
        "chair_unit": "IAPA",
        "units": ["CHUMO", "POTO"],
        "starts_at": "2026-12-01T08:00:00+07:00",
        "record": True,
    }
    r = node.api("POST", "/api/meetings", "chutri", json=body)
    assert r.status_code == 201, r.text
    return int(r.json()["id"])


def wait_until(predicate: Any, timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)


def audio_tracks(node: LiveServer, meeting_id: int, username: str) -> tuple[str, list[dict[str, Any]]]:
    got = node.api("GET", f"/api/meetings/{meeting_id}/recording/tracks", "chutri").json()
    tracks = [t for t in got["tracks"] if t["username"] == username and t.get("kind", "audio") == "audio"]
    return got["status"], sorted(tracks, key=lambda t: t["start_s"])


def test_three_nodes_place_redirect_and_carry_a_meeting_over_a_killed_node(
    site: Site, tmp_path: Path
) -> None:
    first = site.nodes[0]
    meetings = [DEMO_MEETING, new_meeting(first), new_meeting(first)]
    for mid in meetings:  # every start goes through the first process
        r = first.api("POST", f"/api/meetings/{mid}/start", "chutri")
        assert r.status_code == 200, r.text
    holders = {mid: site.holder(mid) for mid in meetings}
    # three meetings on three idle nodes: the least-loaded placement puts one on each
    assert len({h.port for h in holders.values()}) == 3, {m: h.port for m, h in holders.items()}

    holder = holders[DEMO_MEETING]
    entry = next(n for n in site.nodes if n is not holder)  # the bots' --server: not the meeting's node
    speech = spoken(SPEECH_KEYS)
    chair = entry.bot(DEMO_MEETING, "chutri", play=speech, duration_s=BOT_S, stats=tmp_path / "chair.json")
    commune = entry.bot(DEMO_MEETING, "chumo", duration_s=BOT_S, stats=tmp_path / "commune.json")
    wait_until(lambda: site.participants_on(holder) == 2, 60, "both bots on the meeting's node")
    time.sleep(MEDIA_BEFORE_KILL_S)

    assert holder.proc is not None
    killed_at = time.time()
    holder.proc.send_signal(signal.SIGKILL)
    holder.proc.wait()
    holder.proc = None
    survivors = [n for n in site.nodes if n is not holder]
    def back() -> bool:
        node = site.holder_or_none(DEMO_MEETING)
        return node is not None and node is not holder and site.participants_on(node) == 2

    wait_until(back, 60, "both bots back in the meeting, on another node")
    failover_s = time.time() - killed_at
    resumed_on = site.holder(DEMO_MEETING)
    assert resumed_on in survivors
    print(f"\nmeeting {DEMO_MEETING}: node :{holder.port} killed, resumed on :{resumed_on.port}, "
          f"both bots back after {failover_s:.1f} s")

    outputs = wait_bots(chair, commune, timeout_s=BOT_S + 90)
    for out in outputs:
        assert "đã kết nối lại" in out, out
    chair_stats = json.loads((tmp_path / "chair.json").read_text(encoding="utf-8"))
    commune_stats = json.loads((tmp_path / "commune.json").read_text(encoding="utf-8"))
    before, *after = commune_stats["sessions"]
    # the socket opened on the entry process was redirected to the meeting's node
    assert before["url"] == f"ws://127.0.0.1:{holder.port}/ws/meetings/{DEMO_MEETING}"
    assert chair_stats["sessions"][0]["url"] == before["url"]
    assert after and after[-1]["url"] == f"ws://127.0.0.1:{resumed_on.port}/ws/meetings/{DEMO_MEETING}"

    def heard(session: dict[str, Any]) -> int:
        return sum(p["audio_frames"] for p in session["participants"] if p["username"] == "chutri")

    # the commune heard the chair before the kill and again after it (20 ms frames: 100 = 2 s)
    assert heard(before) > 100 and heard(after[-1]) > 100, commune_stats["sessions"]

    # ended through another survivor than the one holding it: the holder closes it within a heartbeat
    other = next(n for n in survivors if n is not resumed_on)
    assert other.api("POST", f"/api/meetings/{DEMO_MEETING}/end", "chutri").status_code == 200
    wait_until(lambda: audio_tracks(other, DEMO_MEETING, "chutri")[0] == "finished", 90, "the recording")

    status, tracks = audio_tracks(other, DEMO_MEETING, "chutri")
    assert len(tracks) >= 2, tracks
    pre, post = tracks[0], tracks[-1]
    manifest = read_manifest(first.data_dir / "recordings" / str(DEMO_MEETING))
    kill_clock_s = killed_at - manifest.started_at.timestamp()
    # nothing recorded before the kill is lost: the first track runs up to the kill, and the recording goes on
    # in new files on the same meeting clock after it
    assert pre["end_s"] >= kill_clock_s - LOST_AT_KILL_S, (pre, kill_clock_s)
    assert pre["end_s"] - pre["start_s"] >= MEDIA_BEFORE_KILL_S - LOST_AT_KILL_S, pre
    assert post["start_s"] > kill_clock_s and post["end_s"] - post["start_s"] > 2.0, (post, kill_clock_s)
    assert post["previous_track_key"] in {t["track_key"] for t in tracks[:-1]}
    for t in (pre, post):  # each file is served by any process, whole (its hash as recorded)
        for node in survivors:
            got = node.api("GET", f"/api/meetings/{DEMO_MEETING}/recording/tracks/{t['track_key']}", "chutri")
            assert got.status_code == 200 and len(got.content) == t["size_bytes"]
    mix = other.api("GET", f"/api/meetings/{DEMO_MEETING}/recording", "chutri")
    assert mix.status_code == 200 and mix.headers["content-type"] == "audio/ogg"
    mix_path = tmp_path / "mix.ogg"
    mix_path.write_bytes(mix.content)
    with av.open(str(mix_path)) as container:
        mix_s = float(container.duration or 0) / 1_000_000
    assert mix_s >= post["end_s"] - 1.0, (mix_s, post)
    print(f"chair's tracks: {[(t['start_s'], t['end_s']) for t in tracks]}; killed at {kill_clock_s:.2f} s "
          f"on the meeting clock; mix {mix_s:.1f} s")

    # the finished recording reached the worker through the Redis queue
    def transcription_taken() -> bool:
        got = other.api("GET", f"/api/meetings/{DEMO_MEETING}/transcript", "chutri")
        return got.status_code == 200 and got.json()["status"] not in (None, "queued")

    wait_until(transcription_taken, 90, "the worker to take the transcription job")
    for mid in meetings[1:]:
        assert other.api("POST", f"/api/meetings/{mid}/end", "chutri").status_code == 200
