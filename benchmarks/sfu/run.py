"""SFU benchmark: server CPU/RSS, delivered fps and loss, forwarding latency; our raw-RTP SFU vs aiortc's
MediaRelay (baseline, measured in the same run); capacity step-up.

    python benchmarks/sfu/run.py [--window 10] [--cases a,b,c] [--repeat 5] [--sizes 6,10,14,18]
                                 [--skip-relay] [--cpu-split] [--fast-path on|off] [--native-send on|off]
                                 [--audio-report-interval 5] [--audio-speakers 3] [--profile PATH]

Cases: (a) a meeting of 10, all see all, `--repeat` times (one run's server CPU varies by +-3 points on these
shared VMs; the median is the figure); (b) 1 publisher -> 9 viewers, our SFU and aiortc's MediaRelay;
(c) capacity: meetings of growing size until one is degraded (mean fps < 28 or any loss), reporting the
largest that held. The server runs in its own process, clients in two other processes. Clients publish
pre-encoded VP8 640x360@30 (encoded once per run with one libvpx thread, so every run sends the same
~490 kb/s; keyframe every 2 s; PLIs cannot force one on pre-encoded video) plus Opus silence, and count
received frames at the RTP level (marker bits) instead of decoding: decoding 90 streams would saturate the 2
cores and measure the clients, not the server. Server CPU is also given per forwarded packet, which is less
sensitive to how many packets a loaded machine let through; the CPU of the two client processes is reported
too: when client and server processes together fill the 2 cores, the machine, not the server, limits what is
delivered. All traffic stays on 127.0.0.1. `--fast-path off` (default: GIAOBAN_RTP_FAST_PATH, on unless "0")
runs the SFU with publisher RTP received through aiortc's coroutines instead of `aiortc_hooks.RtpFastPath`,
and `--native-send off` (default: GIAOBAN_RTP_NATIVE_SEND) sends forwarded RTP through the Python path
instead of the C sender (server/media/_rtpsend.c), for back-to-back comparisons. `--audio-speakers 0`
forwards every microphone to every viewer (the SFU before audio selection; default 3: the clients' Opus
silence is then forwarded to no one). `--profile PATH` writes
cProfile stats of the SFU server's measuring windows (the last one) to PATH; it slows the server about 2x.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import multiprocessing
import os
import statistics
import sys
import time
from dataclasses import dataclass, replace
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from server.media.client import ClientConfig, encode_test_pattern  # noqa: E402
from server.media.client_process import ClientProcess  # noqa: E402
from server.media.config import MediaConfig, rtp_fast_path_from_env, rtp_native_send_from_env  # noqa: E402
from server.media.events import Offer, StreamLabel  # noqa: E402
from server.media.rtp_writer import NATIVE_SEND_AVAILABLE  # noqa: E402

CONFIG = MediaConfig(ice_addresses=("127.0.0.1",), video_bitrate_cap_bps=600_000)
VIDEO_FPS = 30
WARMUP_S = 4.0
HELD_FPS_MEAN = 28.0  # capacity: a meeting "holds" at >= 28 fps mean and 0 packets lost
CLOCK_TICKS_PER_S = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class SfuOptions:
    """How the SFU under test runs (ignored by the MediaRelay baseline)."""

    cpu_split: bool = False  # time MediaRoom._on_rtp / _on_rtp_bytes (costs ~1 % of a core)
    fast_path: bool = True  # MediaConfig.rtp_fast_path
    native_send: bool = True  # MediaConfig.rtp_native_send
    audio_report_interval_s: float = MediaConfig.audio_report_interval_s  # RTCP SRs of forwarded audio
    profile_path: str = ""  # write cProfile stats of the measuring window here (slows the server ~2x)
    audio_speakers: int = MediaConfig.audio_speakers  # MediaConfig.audio_speakers (0: all hear all)
    last_n: int = MediaConfig.last_n  # camera videos per viewer (pinned first, then speakers; 0: all)
    bounded_from: int = MediaConfig.bounded_from  # m-lines only for what a viewer receives (0: never)


@dataclass(frozen=True)
class ServerFigures:
    cpu_percent_of_core: float
    rss_mb: float
    forward_p50_us: float
    forward_p99_us: float
    packets_in: int  # RTP packets received from publishers in the window (SFU only)
    packets_out: int  # RTP packets forwarded to viewers in the window (SFU only)
    cpu_us_per_packet_out: float  # all server CPU in the window / packets forwarded
    media_path_cpu_percent: float  # share of server CPU in MediaRoom._on_rtp / _on_rtp_bytes (SFU only)
    packets_fast_path: int  # of packets_in, those taken by the synchronous receive path (SFU only)
    system_percent: float  # of cpu_percent_of_core, the part spent in the kernel (syscalls: sendto, recv)
    packets_native: int  # of packets_out, those the C sender (server/media/_rtpsend.c) sent (SFU only)


def _process_cpu_s(pid: int) -> float:
    """User + system CPU seconds of a process (from /proc/PID/stat)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS_PER_S


def _rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


# --- server process ---------------------------------------------------------------------------------------


def server_main(conn: Connection, mode: str, options: SfuOptions) -> None:
    asyncio.run(_server(conn, mode, options))


async def _server(conn: Connection, mode: str, options: SfuOptions) -> None:
    loop = asyncio.get_running_loop()
    if mode == "sfu":
        backend: _SfuBackend | _RelayBackend = _SfuBackend(options)
    else:
        backend = _RelayBackend()
    cpu0 = wall0 = system0 = 0.0
    profiler = cProfile.Profile() if mode == "sfu" and options.profile_path else None
    while True:
        message = await loop.run_in_executor(None, conn.recv)
        if message[0] == "join":
            conn.send(("offer", await backend.join(message[1], message[2], *message[3:])))
        elif message[0] == "answer":
            await backend.answer(message[1], message[2])
            conn.send(("ok",))
        elif message[0] == "pin":  # the chairing hall: its audio and video reach every viewer
            if isinstance(backend, _SfuBackend):
                backend.room.set_pinned(message[1])
            conn.send(("ok",))
        elif message[0] == "wall":  # the chairing hall's wall: these publishers' thumbnails (SFU only)
            if isinstance(backend, _SfuBackend):
                backend.room.set_wall(message[1], message[2])
            conn.send(("ok",))
        elif message[0] == "states":  # each participant's connection state (SFU only)
            states = backend.states() if isinstance(backend, _SfuBackend) else {}
            conn.send(("states", states))
        elif message[0] == "pending":
            conn.send(("pending", backend.pending()))
        elif message[0] == "renegotiate":
            conn.send(("offer", await backend.renegotiate(message[1])))
        elif message[0] == "start":
            backend.timings.clear()
            backend.cpu_in_media_path_s = 0.0
            packets0 = backend.packets()
            cpu0, wall0 = time.process_time(), time.monotonic()
            system0 = os.times().system
            if profiler is not None:
                profiler.enable()
            conn.send(("ok",))
        elif message[0] == "stop":
            if profiler is not None:
                profiler.disable()
                profiler.dump_stats(options.profile_path)
            cpu_s = time.process_time() - cpu0
            wall_s = time.monotonic() - wall0
            cpu = cpu_s / wall_s * 100
            system = (os.times().system - system0) / wall_s * 100
            packets_in, packets_out, packets_fast, packets_native = (
                b - a for a, b in zip(packets0, backend.packets(), strict=True)
            )
            t = sorted(backend.timings) or [0.0]
            figures = ServerFigures(
                cpu,
                _rss_mb(),
                t[len(t) // 2] * 1e6,
                t[int(len(t) * 0.99)] * 1e6,
                packets_in,
                packets_out,
                cpu_s * 1e6 / max(packets_out, 1),
                backend.cpu_in_media_path_s / max(cpu_s, 1e-9) * 100,
                packets_fast,
                system,
                packets_native,
            )
            conn.send(("figures", figures))
        elif message[0] == "close":
            await backend.close()
            conn.send(("closed",))
            return


class _SfuBackend:
    def __init__(self, options: SfuOptions) -> None:
        from server.media.events import MediaEvent, MediaListener, RenegotiationNeeded
        from server.media.room import MediaRoom

        self.timings: list[float] = []
        self.cpu_in_media_path_s = 0.0
        self._pending: list[str] = []
        pending = self._pending

        class Listener(MediaListener):
            def on_event(self, event: MediaEvent) -> None:
                if isinstance(event, RenegotiationNeeded) and event.participant_id not in pending:
                    pending.append(event.participant_id)

        config = replace(
            CONFIG,
            rtp_fast_path=options.fast_path,
            rtp_native_send=options.native_send,
            audio_report_interval_s=options.audio_report_interval_s,
            audio_speakers=options.audio_speakers,
            last_n=options.last_n,
            bounded_from=options.bounded_from,
        )
        self.room = MediaRoom("bench", config, Listener())
        timings = self.timings
        backend = self

        def timed(original):  # type: ignore[no-untyped-def]
            # both ways in (aiortc's: _on_rtp, the fast path: _on_rtp_bytes) are synchronous per packet;
            # wrapped before any packet, so the fast path's routes bind the wrapper
            def run(*args, **kwargs):  # type: ignore[no-untyped-def]
                start = time.perf_counter()
                if options.cpu_split:  # two clock_gettime syscalls per packet: ~1 % of a core: on request
                    cpu_start = time.thread_time()
                    original(*args, **kwargs)
                    backend.cpu_in_media_path_s += time.thread_time() - cpu_start
                else:
                    original(*args, **kwargs)
                if len(timings) < 2_000_000:
                    timings.append(time.perf_counter() - start)

            return run

        self.room._on_rtp = timed(self.room._on_rtp)  # type: ignore[method-assign]
        self.room._on_rtp_bytes = timed(self.room._on_rtp_bytes)  # type: ignore[method-assign]

    def states(self) -> dict[str, str]:
        return {p.participant_id: p.connection_state for p in self.room.stats().participants}

    def packets(self) -> tuple[int, int, int, int]:
        stats = self.room.stats()
        return stats.packets_in, stats.packets_out, stats.packets_fast_path, stats.packets_native

    async def join(self, pid: str, publishes_video: bool, publishes_thumbnail: bool = False) -> Offer:
        return await self.room.join(
            pid,
            username=pid,
            unit=pid,
            publishes_video=publishes_video,
            publishes_thumbnail=publishes_thumbnail,
        )

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
        self.cpu_in_media_path_s = 0.0
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

    def packets(self) -> tuple[int, int, int, int]:
        return 0, 0, 0, 0

    async def renegotiate(self, pid: str) -> Offer:
        raise RuntimeError("the relay baseline never renegotiates")

    async def close(self) -> None:
        for pc in self.pcs.values():
            await pc.close()  # type: ignore[attr-defined]


# --- orchestration ----------------------------------------------------------------------------------------


class Run:
    def __init__(self, mode: str, options: SfuOptions) -> None:
        ctx = multiprocessing.get_context("spawn")
        self.conn, child = ctx.Pipe()
        self.proc = ctx.Process(target=server_main, args=(child, mode, options), daemon=True)
        self.proc.start()

    def call(self, *message: object) -> tuple[object, ...]:
        self.conn.send(message)
        reply: tuple[object, ...] = self.conn.recv()
        return reply

    def close(self) -> None:
        self.call("close")
        self.proc.join(timeout=10)


@dataclass(frozen=True)
class MeetingFigures:
    """One meeting's window: the server's figures and what the participants received."""

    server: ServerFigures
    fps_min: float  # of the video streams each participant received from each publisher
    fps_mean: float
    lost: int  # RTP packets the participants counted lost (all streams)
    streams: int
    clients_cpu: list[float]  # % of a core per client process


async def meeting(
    mode: str,
    publishers: list[str],
    viewers: list[str],
    window_s: float,
    frames: tuple[bytes, ...],
    options: SfuOptions = SfuOptions(),
) -> MeetingFigures:
    server = Run(mode, options)
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
        # fps: frames between the two snapshots over the time between them (each snapshot's midpoint)
        t0 = time.monotonic()
        before = {k: v for p in procs for k, v in (await p.stats()).items()}
        snapshot0_s = (t0 + time.monotonic()) / 2
        client_pids = [p.process.pid for p in procs if p.process.pid is not None]
        clients_cpu0 = [_process_cpu_s(pid) for pid in client_pids]
        wall0 = time.monotonic()
        server.call("start")
        await asyncio.sleep(window_s)
        figures = server.call("stop")[1]
        assert isinstance(figures, ServerFigures)
        clients_cpu = [
            (_process_cpu_s(pid) - c0) / (time.monotonic() - wall0) * 100
            for pid, c0 in zip(client_pids, clients_cpu0, strict=True)
        ]
        t1 = time.monotonic()
        after = {k: v for p in procs for k, v in (await p.stats()).items()}
        between_s = (t1 + time.monotonic()) / 2 - snapshot0_s
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
                fps.append(video / between_s)
            lost += remote.packets_lost - (prev.packets_lost if prev else 0)
    return MeetingFigures(
        figures,
        min(fps) if fps else 0.0,
        statistics.fmean(fps) if fps else 0.0,
        lost,
        len(fps),
        clients_cpu,
    )


def show(title: str, r: MeetingFigures) -> None:
    s = r.server
    print(
        f"{title}: server CPU {s.cpu_percent_of_core:.1f}% of one core ({s.system_percent:.1f} in the "
        f"kernel), RSS {s.rss_mb:.0f} MB, "
        f"video fps mean {r.fps_mean:.1f} / min {r.fps_min:.1f} over {r.streams} streams, "
        f"packets lost {r.lost}, forwarding time per incoming packet p50 {s.forward_p50_us:.0f} us "
        f"p99 {s.forward_p99_us:.0f} us; "
        + (
            f"{s.packets_in} packets in ({s.packets_fast_path} by the fast path), {s.packets_out} out "
            f"({s.packets_native} by the C sender), "
            f"{s.cpu_us_per_packet_out:.1f} us of server CPU per packet out; "
            if s.packets_out
            else ""
        )
        + (
            f"{s.media_path_cpu_percent:.0f}% in MediaRoom._on_rtp/_on_rtp_bytes; "
            if s.media_path_cpu_percent > 0
            else ""
        )
        + "client processes CPU "
        + " / ".join(f"{c:.0f}%" for c in r.clients_cpu)
        + f" of a core; load average {os.getloadavg()[0]:.2f}",
        flush=True,
    )


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--window", type=float, default=10.0)
    parser.add_argument("--cases", default="a,b,c", help="a: meeting of 10, b: 1 -> 9, c: capacity step-up")
    parser.add_argument("--sizes", default="6,10,14,18", help="meeting sizes of the capacity step-up (c)")
    parser.add_argument(
        "--repeat",
        type=int,
        default=5,
        help="meetings of 10 run for (a); the median server CPU is the figure (one run varies by +-3 points)",
    )
    parser.add_argument("--skip-relay", action="store_true")
    parser.add_argument(
        "--cpu-split",
        action="store_true",
        help="also report the share of server CPU in MediaRoom._on_rtp / _on_rtp_bytes",
    )
    parser.add_argument(
        "--fast-path",
        choices=("on", "off"),
        default="on" if rtp_fast_path_from_env() else "off",
        help="the SFU's synchronous receive path for publisher RTP (default: GIAOBAN_RTP_FAST_PATH, on)",
    )
    parser.add_argument(
        "--native-send",
        choices=("on", "off"),
        default="on" if rtp_native_send_from_env() else "off",
        help="write + protect + send forwarded RTP in C (default: GIAOBAN_RTP_NATIVE_SEND, on)",
    )
    parser.add_argument(
        "--audio-report-interval",
        type=float,
        default=MediaConfig.audio_report_interval_s,
        help="mean seconds between RTCP Sender Reports of each forwarded audio stream (aiortc's own: 1)",
    )
    parser.add_argument(
        "--audio-speakers",
        type=int,
        default=MediaConfig.audio_speakers,
        help="recent speakers forwarded besides pinned participants (0: every microphone to every viewer)",
    )
    parser.add_argument(
        "--profile",
        default="",
        metavar="PATH",
        help="write cProfile stats of the SFU server's measuring window to PATH (python -m pstats PATH)",
    )
    args = parser.parse_args()
    cases = set(args.cases.split(","))
    options = SfuOptions(
        args.cpu_split,
        args.fast_path == "on",
        args.native_send == "on",
        args.audio_report_interval,
        args.profile,
        args.audio_speakers,
    )
    print(
        f"SFU receive fast path: {args.fast_path}; C sender: {args.native_send} "
        f"({'built' if NATIVE_SEND_AVAILABLE else 'not built: Python send path'}); "
        f"audio SR every {args.audio_report_interval:g} s, video every {CONFIG.video_report_interval_s:g} s; "
        f"audio speakers {args.audio_speakers}",
        flush=True,
    )
    frames = encode_test_pattern(640, 360, VIDEO_FPS, frames=300, bitrate_bps=500_000, keyframe_interval=60)
    kbps = sum(len(f) for f in frames) * 8 / (len(frames) / VIDEO_FPS) / 1000
    print(f"test video: {len(frames)} VP8 frames 640x360@{VIDEO_FPS}, {kbps:.0f} kb/s", flush=True)

    if "a" in cases:
        ten = [f"p{i}" for i in range(10)]
        runs = []
        for run in range(1, max(args.repeat, 1) + 1):
            r = await meeting("sfu", ten, [], args.window, frames, options)
            show(f"(a) meeting of 10, all see all, run {run}", r)
            runs.append(r)
        cpu = sorted(r.server.cpu_percent_of_core for r in runs)
        print(
            f"(a) meeting of 10 over {len(runs)} runs: server CPU median {statistics.median(cpu):.1f}% "
            f"of one core (min {cpu[0]:.1f}, max {cpu[-1]:.1f}); video fps min "
            f"{min(r.fps_min for r in runs):.1f}; packets lost {sum(r.lost for r in runs)}; "
            f"RSS max {max(r.server.rss_mb for r in runs):.0f} MB",
            flush=True,
        )

    if "b" in cases:
        viewers = [f"v{i}" for i in range(9)]
        sfu = await meeting("sfu", ["publisher"], viewers, args.window, frames, options)
        show("(b) 1 -> 9, raw-RTP SFU", sfu)
        if not args.skip_relay:
            relay = await meeting("relay", ["publisher"], viewers, args.window, frames)
            show("(b) 1 -> 9, baseline aiortc MediaRelay", relay)
            s_cpu = sfu.server.cpu_percent_of_core
            r_cpu = relay.server.cpu_percent_of_core
            print(f"(b) MediaRelay / SFU server CPU ratio: {r_cpu / max(s_cpu, 0.01):.1f}x", flush=True)

    if "c" in cases:
        held = 0
        for size in [int(x) for x in args.sizes.split(",") if x]:
            pids = [f"p{i}" for i in range(size)]
            r = await meeting("sfu", pids, [], args.window, frames, options)
            show(f"(c) meeting of {size}", r)
            if r.fps_mean < HELD_FPS_MEAN or r.lost > 0:
                print(f"(c) degraded at {size} participants", flush=True)
                break
            held = size
        print(f"(c) largest meeting held (>= {HELD_FPS_MEAN:.0f} fps mean, 0 lost): {held}", flush=True)


if __name__ == "__main__":
    asyncio.run(main())
