"""Our SFU against Janus (issue 15: "a real peer in the same run"), the same clients, the same media, one run.

    apt-get install -y janus     # Debian's package (1.1.2 in Debian 12); the benchmark exits without it
    python benchmarks/sfu/janus.py [--cases a,b] [--window 10] [--repeat 1] [--sizes 35,70,135] [--dtx]
                                   [--event-loops 0]

Janus runs as a subprocess (`janus_server.JanusProcess`: generated minimal configuration, videoroom plugin and
HTTP transport only, no STUN, ICE on this host's own address: see janus_server) and is driven through its HTTP
REST API (one session; per participant a publisher handle — join, then publish with the client's JSEP offer —
and a subscriber handle — one Janus 1.x multistream subscription to the feeds it receives, Janus's offer
answered, then start).
The clients are the benchmark's own aiortc clients (`janus_clients`: our `MediaClient` as the subscriber, so
frames and loss are counted at the RTP level exactly as against our SFU), publishing the same pre-encoded VP8
and Opus silence. Each server's process CPU (% of one core, user + system of all its threads) and RSS over
the same window; our CPU is printed as a ratio of Janus's.

What each forwards (Janus has no audio selection and no last-N: a subscriber gets exactly the feeds it asks
for, so here the client asks for what our server would select):
(a) a meeting of 10, all see all (VP8 640x360@30 + Opus silence each):
    ours in its default configuration (audio selection: the silence is forwarded to no one) against Janus
    with every participant subscribed to the other 9 videos only — the same 90 streams; then ours with
    audio selection off (`audio_speakers=0`) against Janus subscribed to the other 9 videos and microphones
    — the same 180 streams (the plain Janus meeting).
(b) province meetings, 1 hall + N communes (hall 640x360@30 + Opus, communes 320x180@15 thumbnails + Opus
    silence, or none with --dtx): ours in the province configuration (the hall pinned, audio selection,
    last_n 2, bounded negotiation) against Janus with the same subscriptions — each commune the hall's video
    and audio and the first-joined commune's thumbnail (c001's for c000), the hall the thumbnails of c000
    and c001 — at each of --sizes, until a join fails on either side.
Each ratio says whether both servers delivered everything in the window (the benchmark's rule: >= 28 fps
mean, every stream, 0 lost; else the window is not like for like) and is also given per delivered video frame
(of the streams counted: all in (a), the hall's in (b)). Janus uses two peer connections per participant
(publisher, subscriber), ours one; the client processes' CPU is printed: when they and the servers fill the
2 cores, the machine, not the server, is the limit. On a loaded machine a multi-threaded server (Janus: a
thread per handle) is scheduled more often than a single-threaded one (ours): alternate (--repeat) and read
the held flags.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import re
import statistics
import sys
import time
from dataclasses import dataclass, replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from benchmarks.sfu.janus_clients import JanusClientProcess  # noqa: E402
from benchmarks.sfu.janus_server import JanusError, JanusMissing, JanusProcess, JanusSession, check_installed  # noqa: E402
from benchmarks.sfu.province import HALL, HALL_FPS, THUMB_FPS, ProvinceFigures, province  # noqa: E402
from benchmarks.sfu.run import (
    CONFIG,
    HELD_FPS_MEAN,
    VIDEO_FPS,
    WARMUP_S,
    MeetingFigures,
    SfuOptions,
    meeting,
)  # noqa: E402
from server.media.client import ClientConfig, encode_test_pattern  # noqa: E402
from server.media.events import Offer, StreamLabel  # noqa: E402
from server.media.stats import ClientStats  # noqa: E402


@dataclass(frozen=True)
class JanusFigures:
    cpu_percent_of_core: float
    system_percent: float
    rss_mb: float
    threads: int
    join_s: float
    fps_min: float  # of the video streams expected at each viewer (province: the hall's at the communes)
    fps_mean: float
    streams: int  # video streams expected
    without_video: int  # expected video streams that delivered no frame in the window
    lost: int
    clients_cpu: list[float]


Subscriptions = dict[str, list[tuple[str, str]]]  # viewer -> [(publisher, "audio" | "video")]


def _video_mid(sdp: str) -> str:
    section = sdp.split("\nm=video", 1)[1]
    match = re.search(r"a=mid:(\S+)", section)
    assert match is not None
    return match.group(1)


def _audio_mid(sdp: str) -> str | None:
    if "\nm=audio" not in sdp:
        return None
    match = re.search(r"a=mid:(\S+)", sdp.split("\nm=audio", 1)[1])
    return match.group(1) if match else None


async def janus_meeting(
    groups: list[tuple[list[str], ClientConfig]],
    subscriptions: Subscriptions,
    window_s: float,
    event_loops: int,
    bitrate_bps: int,
    fps_of: str | None = None,
) -> JanusFigures:
    """Every participant of `groups` publishes, then subscribes to its `subscriptions`; one window."""
    janus = JanusProcess(event_loops)
    session: JanusSession | None = None
    on_host = (janus.ice_address,)  # see janus_server: Janus's ICE is on this host's address, not loopback
    procs = [
        JanusClientProcess(pids, replace(cfg, media=replace(cfg.media, ice_addresses=on_host)))
        for pids, cfg in groups
        if pids
    ]
    owner = {pid: p for p in procs for pid in p.participant_ids}
    order = [pid for pids, _ in groups for pid in pids]
    try:
        await janus.wait_ready()
        session = JanusSession(janus.url)
        await session.open()
        t_join = time.monotonic()
        control = await session.attach()
        room = (
            await session.request(
                control,
                {
                    "request": "create",
                    "publishers": len(order) + 1,
                    "bitrate": bitrate_bps,
                    "fir_freq": 10,
                    "audiocodec": "opus",
                    "videocodec": "vp8",
                },
            )
        )["room"]
        feeds: dict[str, int] = {}
        publishers: list[int] = []
        mids: dict[tuple[str, str], str] = {}
        for pid in order:
            handle = await session.attach()
            joined, _ = await session.message(
                handle,
                {"request": "join", "room": room, "ptype": "publisher", "display": pid},
                expect="joined",
            )
            feeds[pid] = int(joined["id"])
            offer = await owner[pid].publish_offer(pid)
            mids[(pid, "video")] = _video_mid(offer)
            audio_mid = _audio_mid(offer)
            if audio_mid is not None:
                mids[(pid, "audio")] = audio_mid
            _, jsep = await session.message(
                handle, {"request": "publish"}, {"type": "offer", "sdp": offer}, expect="configured"
            )
            assert jsep is not None
            await session.trickle_completed(handle)
            await owner[pid].published(pid, jsep["sdp"])
            publishers.append(handle)
        for handle in publishers:  # Janus refuses to subscribe to a feed whose PeerConnection is not up
            await session.wait_up(handle)
        for joined_count, pid in enumerate(order, 1):
            wanted = [(p, k) for p, k in subscriptions.get(pid, []) if (p, k) in mids]
            if not wanted:
                continue
            handle = await session.attach()
            attached, jsep = await session.message(
                handle,
                {
                    "request": "join",
                    "room": room,
                    "ptype": "subscriber",
                    "streams": [{"feed": feeds[p], "mid": mids[(p, k)]} for p, k in wanted],
                },
                expect="attached",
            )
            assert jsep is not None
            labels = tuple(
                StreamLabel(
                    str(s["mid"]),
                    str(s["feed_display"]),
                    str(s["feed_display"]),
                    str(s["feed_display"]),
                    "audio" if s["type"] == "audio" else "video",
                    "microphone" if s["type"] == "audio" else "camera",
                )
                for s in attached["streams"]
                if s.get("type") in ("audio", "video")
            )
            answer = await owner[pid].answer(pid, Offer(pid, jsep["sdp"], labels))
            await session.message(
                handle, {"request": "start"}, {"type": "answer", "sdp": answer}, expect="started"
            )
            await session.trickle_completed(handle)
            if joined_count % 20 == 0:
                print(f"  Janus: {joined_count} subscribed", flush=True)
        join_s = time.monotonic() - t_join
        await asyncio.sleep(WARMUP_S)
        before = await _stats(procs)
        t0 = time.monotonic()
        client_pids = [p.process.pid for p in procs if p.process.pid is not None]
        clients0 = [_cpu_s(pid) for pid in client_pids]
        user0, system0 = janus.cpu_s()
        await asyncio.sleep(window_s)
        user1, system1 = janus.cpu_s()
        elapsed = time.monotonic() - t0
        clients_cpu = [
            (_cpu_s(pid) - c) / elapsed * 100 for pid, c in zip(client_pids, clients0, strict=True)
        ]
        rss, threads = janus.rss_mb(), janus.threads()
        after = await _stats(procs)
        between_s = time.monotonic() - t0
    except BaseException:
        print(f"Janus log (last lines):\n{janus.log_tail()}", flush=True)
        raise
    finally:
        for p in procs:
            with contextlib.suppress(BrokenPipeError, EOFError):
                await p.close()
        if session is not None:
            await session.close()
        janus.close()
    fps, lost = _delivered(subscriptions, before, after, between_s, fps_of)
    return JanusFigures(
        ((user1 - user0) + (system1 - system0)) / elapsed * 100,
        (system1 - system0) / elapsed * 100,
        rss,
        threads,
        join_s,
        min(fps) if fps else 0.0,
        statistics.fmean(fps) if fps else 0.0,
        len(fps),
        sum(1 for f in fps if f == 0),
        lost,
        clients_cpu,
    )


def _cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def _stats(procs: list[JanusClientProcess]) -> dict[str, ClientStats]:
    return {k: v for p in procs for k, v in (await p.stats()).items()}


def _delivered(
    subscriptions: Subscriptions,
    before: dict[str, ClientStats],
    after: dict[str, ClientStats],
    between_s: float,
    fps_of: str | None,
) -> tuple[list[float], int]:
    """Video fps of each subscribed video stream (only `fps_of`'s if given), and the packets lost over all
    received streams."""
    fps: list[float] = []
    lost = 0
    for viewer, wanted in subscriptions.items():
        for publisher, kind in wanted:
            if kind != "video" or (fps_of is not None and publisher != fps_of):
                continue
            now = after[viewer].by_username(publisher)
            prev = before[viewer].by_username(publisher)
            frames = (now.video_frames if now else 0) - (prev.video_frames if prev else 0)
            fps.append(frames / between_s)
        for remote in after[viewer].participants:
            prev = before[viewer].by_username(remote.username)
            lost += remote.packets_lost - (prev.packets_lost if prev else 0)
    return fps, lost


def _load() -> str:
    return "/".join(f"{x:.1f}" for x in os.getloadavg())


def show_janus(title: str, j: JanusFigures) -> None:
    print(
        f"{title}: Janus CPU {j.cpu_percent_of_core:.1f}% of one core ({j.system_percent:.1f} in the "
        "kernel), "
        f"RSS {j.rss_mb:.0f} MB, {j.threads} threads; joined in {j.join_s:.1f} s; video fps mean "
        f"{j.fps_mean:.1f} / min {j.fps_min:.1f} over {j.streams} streams ({j.without_video} without "
        "frames); "
        f"packets lost {j.lost}; client processes CPU "
        + " / ".join(f"{c:.0f}%" for c in j.clients_cpu)
        + f" of a core; load average {_load()}",
        flush=True,
    )


def show_ours(title: str, r: MeetingFigures) -> None:
    s = r.server
    print(
        f"{title}: our SFU CPU {s.cpu_percent_of_core:.1f}% of one core ({s.system_percent:.1f} in the "
        f"kernel), RSS {s.rss_mb:.0f} MB; video fps mean {r.fps_mean:.1f} / min {r.fps_min:.1f} over "
        f"{r.streams} streams; packets lost {r.lost}; {s.packets_out} packets out; client processes CPU "
        + " / ".join(f"{c:.0f}%" for c in r.clients_cpu)
        + f" of a core; load average {_load()}",
        flush=True,
    )


def held(fps_mean: float, without: int, lost: int) -> bool:
    """The benchmark's rule (run.py): >= 28 fps mean, every expected stream delivered, 0 packets lost."""
    return fps_mean >= HELD_FPS_MEAN and without == 0 and lost == 0


def ratio(
    title: str,
    ours: float,
    janus: float,
    ours_held: bool,
    janus_held: bool,
    ours_fps: float,
    janus_fps: float,
) -> None:
    """Our CPU as a ratio of Janus's; also per delivered video frame (`*_fps`: frames per second delivered
    over the counted streams), which holds when a loaded machine delivered less than everything."""
    note = (
        "both held"
        if ours_held and janus_held
        else "NOT like for like: "
        + ("ours" if not ours_held else "Janus")
        + " did not deliver everything"
        + (" (nor did Janus)" if not ours_held and not janus_held else "")
    )
    per_frame = "n/a (a server delivered no video)"
    if ours_fps >= 1 and janus_fps >= 1:
        ours_us, janus_us = ours / 100 / ours_fps * 1e6, janus / 100 / janus_fps * 1e6
        per_frame = f"ours {ours_us:.0f} us, Janus {janus_us:.0f} us, ratio {ours_us / janus_us:.2f}"
    print(
        f"{title}: our CPU / Janus CPU = {ours / max(janus, 0.01):.2f} ({note}); server CPU per delivered "
        f"video frame: {per_frame}",
        flush=True,
    )


async def case_a(window_s: float, frames: tuple[bytes, ...], event_loops: int, repeat: int) -> None:
    ten = [f"p{i}" for i in range(10)]
    cfg = ClientConfig(media=CONFIG, video=True, video_fps=VIDEO_FPS, decode=False, encoded_video=frames)
    groups = [(ten[0::2], cfg), (ten[1::2], cfg)]
    for speakers, kinds, label in (
        (SfuOptions().audio_speakers, ("video",), "videos (ours: default, audio selection on)"),
        (0, ("video", "audio"), "videos and microphones (ours: audio_speakers=0)"),
    ):
        pairs: list[tuple[float, float]] = []  # (ours, Janus) of the runs where both delivered everything
        for run in range(1, repeat + 1):  # alternating, so both see the same load on this shared machine
            try:
                ours = await meeting("sfu", ten, [], window_s, frames, SfuOptions(audio_speakers=speakers))
            except (EOFError, BrokenPipeError) as exc:  # a peer connection closed during the joins
                print(f"(a) {label}, run {run}, our SFU: not held ({exc!r}); load {_load()}", flush=True)
                continue
            show_ours(f"(a) meeting of 10, all see all, {label}, run {run}", ours)
            subs = {v: [(p, k) for p in ten if p != v for k in kinds] for v in ten}
            janus = await janus_meeting(groups, subs, window_s, event_loops, CONFIG.video_bitrate_cap_bps)
            show_janus(f"(a) meeting of 10, all see all, {label}, run {run}", janus)
            both = held(ours.fps_mean, int(ours.fps_min == 0), ours.lost) and held(
                janus.fps_mean, janus.without_video, janus.lost
            )
            ratio(
                f"(a) meeting of 10, {label}, run {run}",
                ours.server.cpu_percent_of_core,
                janus.cpu_percent_of_core,
                held(ours.fps_mean, int(ours.fps_min == 0), ours.lost),
                held(janus.fps_mean, janus.without_video, janus.lost),
                ours.fps_mean * ours.streams,
                janus.fps_mean * janus.streams,
            )
            if both:
                pairs.append((ours.server.cpu_percent_of_core, janus.cpu_percent_of_core))
        if not pairs:
            print(f"(a) meeting of 10, {label}: no run where both delivered everything", flush=True)
            continue
        ours_cpu = [o for o, _ in pairs]
        janus_cpu = [j for _, j in pairs]
        o, j = statistics.median(ours_cpu), statistics.median(janus_cpu)
        print(
            f"(a) meeting of 10, {label}, the {len(pairs)} of {repeat} runs where both held: our CPU median "
            f"{o:.1f}% ({min(ours_cpu):.1f}-{max(ours_cpu):.1f}), Janus median {j:.1f}% "
            f"({min(janus_cpu):.1f}-{max(janus_cpu):.1f}); ratio of medians {o / max(j, 0.01):.2f}",
            flush=True,
        )


def province_subscriptions(names: list[str]) -> Subscriptions:
    """What our province configuration forwards with no one speaking: each commune the hall (pinned) and
    the first commune in join order besides itself (last_n 2); the hall the first two communes."""
    subs: Subscriptions = {HALL: [(c, "video") for c in names[:2]]}
    for c in names:
        other = names[1] if c == names[0] else names[0]
        subs[c] = [(HALL, "video"), (HALL, "audio")] + ([(other, "video")] if len(names) > 1 else [])
    return subs


def show_province(title: str, r: ProvinceFigures) -> None:
    s = r.server
    print(
        f"{title}: 1 hall + {r.communes}: our SFU CPU {s.cpu_percent_of_core:.1f}% of one core "
        f"({s.system_percent:.1f} in the kernel), RSS {s.rss_mb:.0f} MB; joined in {r.join_s:.1f} s; hall "
        f"video at the communes {r.hall_fps_mean:.1f} fps mean / {r.hall_fps_min:.1f} min "
        f"({r.communes_without_hall} without it); camera streams per commune "
        f"{r.video_streams_per_commune:.1f}; packets lost {r.lost}; {s.packets_out} packets out; client "
        "processes CPU "
        + " / ".join(f"{c:.0f}%" for c in r.clients_cpu)
        + f" of a core; load average {_load()}",
        flush=True,
    )


async def case_b(sizes: list[int], window_s: float, dtx: bool, event_loops: int) -> None:
    hall_frames = encode_test_pattern(
        640, 360, HALL_FPS, frames=300, bitrate_bps=500_000, keyframe_interval=60
    )
    thumb_frames = encode_test_pattern(
        320, 180, THUMB_FPS, frames=150, bitrate_bps=150_000, keyframe_interval=30
    )
    hall_cfg = ClientConfig(
        media=CONFIG, video=True, video_fps=HALL_FPS, decode=False, encoded_video=hall_frames
    )
    thumb_cfg = ClientConfig(
        media=CONFIG,
        video=True,
        video_fps=THUMB_FPS,
        decode=False,
        encoded_video=thumb_frames,
        publish_audio=not dtx,
    )
    selected = SfuOptions(audio_speakers=3, last_n=2, bounded_from=2)
    for size in sizes:
        names = [f"c{i:03d}" for i in range(size)]
        try:
            ours = await province(size, window_s, hall_frames, thumb_frames, selected, not dtx)
        except Exception as exc:  # a join failed under the load: the machine's limit reached
            print(f"(b) province of {size} communes, our SFU: not held: {exc!r}", flush=True)
            return
        show_province("(b) province, our SFU (selection, last_n 2, bounded)", ours)
        subs = province_subscriptions(names)
        try:
            janus = await janus_meeting(
                [([HALL], hall_cfg), (names[0::2], thumb_cfg), (names[1::2], thumb_cfg)],
                subs,
                window_s,
                event_loops,
                CONFIG.video_bitrate_cap_bps,
                fps_of=HALL,
            )
        except (JanusError, TimeoutError, EOFError, BrokenPipeError, IndexError) as exc:
            print(f"(b) province of {size} communes, Janus: not held: {exc!r}", flush=True)
            return
        show_janus(f"(b) province of 1 hall + {size}, Janus (same subscriptions; fps: the hall's)", janus)
        ours_held = held(ours.hall_fps_mean, ours.communes_without_hall, ours.lost)
        janus_held = held(janus.fps_mean, janus.without_video, janus.lost)
        ratio(
            f"(b) province of 1 hall + {size}",
            ours.server.cpu_percent_of_core,
            janus.cpu_percent_of_core,
            ours_held,
            janus_held,
            ours.hall_fps_mean * size,
            janus.fps_mean * janus.streams,
        )


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--cases", default="a,b", help="a: meeting of 10, b: province meetings")
    parser.add_argument("--window", type=float, default=10.0)
    parser.add_argument("--sizes", default="35,70,135", help="communes per province meeting (b)")
    parser.add_argument(
        "--dtx", action="store_true", help="province communes send no audio (see province.py)"
    )
    parser.add_argument(
        "--event-loops", type=int, default=0, help="Janus event_loops (0: its default, a thread per handle)"
    )
    parser.add_argument("--repeat", type=int, default=1, help="alternating runs of each (a) pair")
    args = parser.parse_args()
    try:
        check_installed()
    except JanusMissing as exc:
        sys.exit(str(exc))
    print(f"load average before: {_load()}", flush=True)
    cases = set(args.cases.split(","))
    if "a" in cases:
        frames = encode_test_pattern(
            640, 360, VIDEO_FPS, frames=300, bitrate_bps=500_000, keyframe_interval=60
        )
        await case_a(args.window, frames, args.event_loops, max(args.repeat, 1))
    if "b" in cases:
        await case_b([int(x) for x in args.sizes.split(",") if x], args.window, args.dtx, args.event_loops)
    print(f"load average after: {_load()}", flush=True)


if __name__ == "__main__":
    asyncio.run(main())
