"""SFU benchmark: server CPU/RSS, delivered fps and loss, forwarding latency; our raw-RTP SFU vs aiortc's
MediaRelay (baseline, measured in the same run); capacity step-up.

    python benchmarks/sfu/run.py [--window 10] [--sizes 6,10,14] [--skip-relay]

The server runs in its own process, clients in two other processes. Clients publish pre-encoded VP8
640x360@30 (~500 kb/s, keyframe every 2 s; PLIs cannot force one on pre-encoded video) plus Opus silence, and
count received frames at the RTP level (marker bits) instead of decoding: decoding 90 streams would saturate
the 2 cores and measure the clients, not the server. All traffic stays on 127.0.0.1.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import statistics
import sys
import time
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from server.media.client import ClientConfig, encode_test_pattern  # noqa: E402
from server.media.client_process import ClientProcess  # noqa: E402
from server.media.config import MediaConfig  # noqa: E402
from server.media.events import Offer, StreamLabel  # noqa: E402

CONFIG = MediaConfig(ice_addresses=("127.0.0.1",), video_bitrate_cap_bps=600_000)
VIDEO_FPS = 30
WARMUP_S = 4.0


@dataclass(frozen=True)
class ServerFigures:
    cpu_percent_of_core: float
    rss_mb: float
    forward_p50_us: float
    forward_p99_us: float


def _rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


# --- server process ---------------------------------------------------------------------------------------


def server_main(conn: Connection, mode: str) -> None:
    asyncio.run(_server(conn, mode))


async def _server(conn: Connection, mode: str) -> None:
    loop = asyncio.get_running_loop()
    if mode == "sfu":
        backend: _SfuBackend | _RelayBackend = _SfuBackend()
    else:
        backend = _RelayBackend()
    cpu0 = wall0 = 0.0
    while True:
        message = await loop.run_in_executor(None, conn.recv)
        if message[0] == "join":
            conn.send(("offer", await backend.join(message[1], message[2])))
        elif message[0] == "answer":
            await backend.answer(message[1], message[2])
            conn.send(("ok",))
        elif message[0] == "pending":
            conn.send(("pending", backend.pending()))
        elif message[0] == "renegotiate":
            conn.send(("offer", await backend.renegotiate(message[1])))
        elif message[0] == "start":
            backend.timings.clear()
            cpu0, wall0 = time.process_time(), time.monotonic()
            conn.send(("ok",))
        elif message[0] == "stop":
            cpu = (time.process_time() - cpu0) / (time.monotonic() - wall0) * 100
            t = sorted(backend.timings) or [0.0]
            conn.send(
                ("figures", ServerFigures(cpu, _rss_mb(), t[len(t) // 2] * 1e6, t[int(len(t) * 0.99)] * 1e6))
            )
        elif message[0] == "close":
            await backend.close()
            conn.send(("closed",))
            return


class _SfuBackend:
    def __init__(self) -> None:
        from server.media.events import MediaEvent, MediaListener, RenegotiationNeeded
        from server.media.room import MediaRoom

        self.timings: list[float] = []
        self._pending: list[str] = []
        pending = self._pending

        class Listener(MediaListener):
            def on_event(self, event: MediaEvent) -> None:
                if isinstance(event, RenegotiationNeeded) and event.participant_id not in pending:
                    pending.append(event.participant_id)

        self.room = MediaRoom("bench", CONFIG, Listener())
        original = self.room._on_rtp
        timings = self.timings

        async def timed(*args, **kwargs):  # type: ignore[no-untyped-def]
            start = time.perf_counter()
            await original(*args, **kwargs)
            if len(timings) < 2_000_000:
                timings.append(time.perf_counter() - start)

        self.room._on_rtp = timed  # type: ignore[method-assign]

    async def join(self, pid: str, publishes_video: bool) -> Offer:
        return await self.room.join(pid, username=pid, unit=pid, publishes_video=publishes_video)

    async def answer(self, pid: str, sdp: str) -> None:
        await self.room.answer(pid, sdp)

    def pending(self) -> list[str]:
        out = list(self._pending)
        self._pending.clear()
        return out

    async def renegotiate(self, pid: str) -> Offer:
        return await self.room.renegotiate(pid)

    async def close(self) -> None:
        await self.room.close()


class _RelayBackend:
    """Baseline: aiortc's MediaRelay (the publisher's track decoded once, re-encoded per viewer)."""

    def __init__(self) -> None:
        from aiortc.contrib.media import MediaRelay

        self.relay = MediaRelay()
        self.timings: list[float] = []
        self.pcs: dict[str, object] = {}
        self.tracks: dict[str, Any] = {}

    async def join(self, pid: str, publishes_video: bool) -> Offer:
        from aiortc import RTCPeerConnection

        pc = RTCPeerConnection(CONFIG.rtc_configuration())
        self.pcs[pid] = pc
        labels: list[StreamLabel] = []
        if publishes_video:
            for kind in ("audio", "video"):
                pc.addTransceiver(kind, direction="recvonly")

            @pc.on("track")
            def on_track(track) -> None:  # type: ignore[no-untyped-def]
                self.tracks[track.kind] = track
        else:
            for kind in ("audio", "video"):
                while kind not in self.tracks:
                    await asyncio.sleep(0.05)
                pc.addTransceiver(self.relay.subscribe(self.tracks[kind]), direction="sendonly")
        await pc.setLocalDescription(await pc.createOffer())
        for transceiver in pc.getTransceivers():
            source: Any = "microphone" if transceiver.kind == "audio" else "camera"
            owner = pid if publishes_video else "publisher"
            label_kind: Any = transceiver.kind
            labels.append(StreamLabel(transceiver.mid or "", owner, owner, owner, label_kind, source))
        return Offer(pid, pc.localDescription.sdp, tuple(labels))

    async def answer(self, pid: str, sdp: str) -> None:
        from aiortc import RTCSessionDescription

        await self.pcs[pid].setRemoteDescription(RTCSessionDescription(sdp=sdp, type="answer"))  # type: ignore

    def pending(self) -> list[str]:
        return []

    async def renegotiate(self, pid: str) -> Offer:
        raise RuntimeError("the relay baseline never renegotiates")

    async def close(self) -> None:
        for pc in self.pcs.values():
            await pc.close()  # type: ignore[attr-defined]


# --- orchestration ----------------------------------------------------------------------------------------


class Run:
    def __init__(self, mode: str) -> None:
        ctx = multiprocessing.get_context("spawn")
        self.conn, child = ctx.Pipe()
        self.proc = ctx.Process(target=server_main, args=(child, mode), daemon=True)
        self.proc.start()

    def call(self, *message: object) -> tuple[object, ...]:
        self.conn.send(message)
        reply: tuple[object, ...] = self.conn.recv()
        return reply

    def close(self) -> None:
        self.call("close")
        self.proc.join(timeout=10)


async def meeting(
    mode: str, publishers: list[str], viewers: list[str], window_s: float, frames: tuple[bytes, ...]
) -> dict[str, object]:
    server = Run(mode)
    pids = publishers + viewers
    pub_cfg = ClientConfig(media=CONFIG, video=True, video_fps=VIDEO_FPS, decode=False, encoded_video=frames)
    # pure viewers (1 -> 9) publish nothing, like the MediaRelay baseline's viewers
    view_cfg = ClientConfig(media=CONFIG, video=False, decode=False, publish_audio=False)
    if viewers:
        procs = [ClientProcess(publishers, pub_cfg), ClientProcess(viewers, view_cfg)]
    else:
        procs = [ClientProcess(h, pub_cfg) for h in (pids[0::2], pids[1::2]) if h]
    owner = {pid: p for p in procs for pid in p.participant_ids}
    try:
        for pid in pids:
            offer = server.call("join", pid, pid in publishers)[1]
            assert isinstance(offer, Offer)
            server.call("answer", pid, await owner[pid].answer(pid, offer))
            pending = server.call("pending")[1]
            while pending:
                for other in pending:  # type: ignore[attr-defined]
                    re_offer = server.call("renegotiate", other)[1]
                    assert isinstance(re_offer, Offer)
                    server.call("answer", other, await owner[other].answer(other, re_offer))
                pending = server.call("pending")[1]
        await asyncio.sleep(WARMUP_S)
        before = {k: v for p in procs for k, v in (await p.stats()).items()}
        server.call("start")
        await asyncio.sleep(window_s)
        figures = server.call("stop")[1]
        after = {k: v for p in procs for k, v in (await p.stats()).items()}
    finally:
        for p in procs:
            await p.close()
        server.close()
    fps: list[float] = []
    lost = 0
    for pid, stats in after.items():
        for remote in stats.participants:
            prev = before[pid].by_username(remote.username)
            video = remote.video_frames - (prev.video_frames if prev else 0)
            if remote.username in publishers and pid != remote.username:
                fps.append(video / window_s)
            lost += remote.packets_lost - (prev.packets_lost if prev else 0)
    return {
        "server": figures,
        "fps_min": min(fps) if fps else 0.0,
        "fps_mean": statistics.fmean(fps) if fps else 0.0,
        "lost": lost,
        "streams": len(fps),
    }


def show(title: str, r: dict[str, object]) -> None:
    s = r["server"]
    assert isinstance(s, ServerFigures)
    print(
        f"{title}: server CPU {s.cpu_percent_of_core:.1f}% of one core, RSS {s.rss_mb:.0f} MB, "
        f"video fps mean {r['fps_mean']:.1f} / min {r['fps_min']:.1f} over {r['streams']} streams, "
        f"packets lost {r['lost']}, forwarding time per incoming packet p50 {s.forward_p50_us:.0f} us "
        f"p99 {s.forward_p99_us:.0f} us",
        flush=True,
    )


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--window", type=float, default=10.0)
    parser.add_argument("--sizes", default="6,10,14")
    parser.add_argument("--skip-relay", action="store_true")
    args = parser.parse_args()
    frames = encode_test_pattern(640, 360, VIDEO_FPS, frames=300, bitrate_bps=500_000, keyframe_interval=60)
    kbps = sum(len(f) for f in frames) * 8 / (len(frames) / VIDEO_FPS) / 1000
    print(f"test video: {len(frames)} VP8 frames 640x360@{VIDEO_FPS}, {kbps:.0f} kb/s", flush=True)

    ten = [f"p{i}" for i in range(10)]
    show("(a) meeting of 10, all see all", await meeting("sfu", ten, [], args.window, frames))

    viewers = [f"v{i}" for i in range(9)]
    sfu = await meeting("sfu", ["publisher"], viewers, args.window, frames)
    show("(b) 1 -> 9, raw-RTP SFU", sfu)
    if not args.skip_relay:
        relay = await meeting("relay", ["publisher"], viewers, args.window, frames)
        show("(b) 1 -> 9, baseline aiortc MediaRelay", relay)
        s_cpu = sfu["server"].cpu_percent_of_core  # type: ignore[attr-defined]
        r_cpu = relay["server"].cpu_percent_of_core  # type: ignore[attr-defined]
        print(f"(b) MediaRelay / SFU server CPU ratio: {r_cpu / max(s_cpu, 0.01):.1f}x", flush=True)

    for size in [int(x) for x in args.sizes.split(",")]:
        pids = [f"p{i}" for i in range(size)]
        r = await meeting("sfu", pids, [], args.window, frames)
        show(f"(c) meeting of {size}", r)
        if r["fps_min"] < VIDEO_FPS * 0.8 or r["lost"] > 0:  # type: ignore[operator]
            print(f"(c) degraded at {size} participants", flush=True)
            break


if __name__ == "__main__":
    asyncio.run(main())
