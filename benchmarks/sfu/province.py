"""Province meeting benchmark (issue 15): one chairing hall and N communes in one SFU process.

    python benchmarks/sfu/province.py [--sizes 35,70,135] [--window 10] [--baseline-size 20] [--last-n 2]
                                      [--bounded-from 2] [--dtx] [--wall 25]

The hall publishes pre-encoded VP8 640x360@30 (~490 kb/s) and Opus; every commune publishes a pre-encoded
320x180@15 thumbnail (~150 kb/s) and Opus silence (an open microphone in a quiet room). The hall is pinned
(`MediaRoom.set_pinned`): its audio and video reach every commune. Audio selection forwards no one else's
silence; `last_n` camera videos per viewer (pinned first, then recent speakers); bounded negotiation
(`MediaConfig.bounded_from`): each viewer has m-lines only for what it receives, so a join costs one offer.
Clients count at the RTP level (no decoding), several per process: the hall in one process, the communes in
two.

Baseline, in the same run: the SFU before the province work — every microphone and every camera to every
viewer, each on an m-line negotiated with every viewer (`audio_speakers=0`, `last_n=0`,
`bounded_from=0`) — at `--baseline-size` communes, beside the province configuration
at the same size; the ratio of server CPU and of packets forwarded is printed. Then the province
configuration at each of `--sizes`, as far as the 2 cores can host the clients (the client processes' CPU
is printed: when they and the server fill the machine, the machine is the limit, not the server).

With `--wall N` the hall shows a page of N thumbnails (`MediaRoom.set_wall`: the last N communes to join, so
none is also among the hall's last-N cameras); those N communes publish their wall thumbnail (a pre-encoded
160x90@15, 65 kb/s: the second, low-resolution track a browser sends), the others none (the steady state of
the `thumbnail` message: no wall shows theirs); each size then runs without and with the wall, and the hall's
fps of each thumbnail on its page is reported.

Reported per run: server CPU (% of one core) and RSS, server CPU per participant and per packet forwarded,
the time to join everyone, the hall's video fps at the communes (min / mean), loss, and how many communes
received audio from anyone but the hall (0 expected with selection).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from benchmarks.sfu.run import WARMUP_S, Run, ServerFigures, SfuOptions, _process_cpu_s  # noqa: E402
from server.media.client import ClientConfig, encode_test_pattern  # noqa: E402
from server.media.client_process import ClientFailed, ClientProcess  # noqa: E402
from server.media.events import Offer  # noqa: E402
from server.media.stats import ClientStats  # noqa: E402

HALL = "hall"
HALL_FPS = 30
THUMB_FPS = 15


@dataclass(frozen=True)
class ProvinceFigures:
    communes: int
    server: ServerFigures
    join_s: float  # every participant joined and every renegotiation answered
    hall_fps_min: float  # the hall's video at each commune
    hall_fps_mean: float
    communes_without_hall: int  # communes that received no hall video in the window
    stray_audio: int  # communes that received audio from someone other than the hall
    video_streams_per_commune: float  # mean camera streams a commune received frames of
    lost: int
    clients_cpu: list[float]
    wall_fps: list[float]  # at the hall, each thumbnail of its wall page (empty without a wall)


async def province(
    communes: int,
    window_s: float,
    hall_frames: tuple[bytes, ...],
    thumb_frames: tuple[bytes, ...],
    options: SfuOptions,
    communes_send_audio: bool = True,
    wall_frames: tuple[bytes, ...] = (),
    wall_size: int = 0,
) -> ProvinceFigures:
    server = Run("sfu", options)
    names = [f"c{i:03d}" for i in range(communes)]
    hall_cfg = ClientConfig(video=True, video_fps=HALL_FPS, decode=False, encoded_video=hall_frames)
    thumb_cfg = ClientConfig(
        video=True,
        video_fps=THUMB_FPS,
        decode=False,
        encoded_video=thumb_frames,
        publish_audio=communes_send_audio,
        encoded_thumbnail=wall_frames,
    )
    wall = names[-wall_size:] if wall_size else []
    procs = [ClientProcess([HALL], hall_cfg)] + [
        ClientProcess(part, thumb_cfg) for part in (names[0::2], names[1::2]) if part
    ]
    owner = {pid: p for p in procs for pid in p.participant_ids}
    try:
        t_join = time.monotonic()
        server.call("pin", (HALL,))
        renegotiations = 0
        for joined, pid in enumerate([HALL, *names]):
            t_one = time.monotonic()
            # only the page's communes send a thumbnail: the others were told no wall shows theirs
            offer = server.call("join", pid, True, pid in wall)[1]
            assert isinstance(offer, Offer)
            await _answer(server, owner[pid], pid, offer, joined)
            pending = server.call("pending")[1]
            while pending:
                for other in pending:  # type: ignore[attr-defined]
                    re_offer = server.call("renegotiate", other)[1]
                    assert isinstance(re_offer, Offer)
                    await _answer(server, owner[other], other, re_offer, joined)
                    renegotiations += 1
                pending = server.call("pending")[1]
            if pid == HALL and wall:
                server.call("wall", HALL, wall)
            if joined % 10 == 0 or joined == communes:
                print(
                    f"  joined {joined + 1}: this join {time.monotonic() - t_one:.2f} s with "
                    f"{renegotiations} renegotiations so far; its offer has "
                    f"{offer.sdp.count(chr(10) + 'm=')} m-lines, {len(offer.sdp) // 1024} KiB",
                    flush=True,
                )
        join_s = time.monotonic() - t_join
        await asyncio.sleep(WARMUP_S)
        print(f"  after the joins and {WARMUP_S:g} s: connection states {_states(server)}", flush=True)
        before = await _stats(procs)
        t0 = time.monotonic()
        client_pids = [p.process.pid for p in procs if p.process.pid is not None]
        cpu0 = [_process_cpu_s(pid) for pid in client_pids]
        server.call("start")
        await asyncio.sleep(window_s)
        figures = server.call("stop")[1]
        assert isinstance(figures, ServerFigures)
        elapsed = time.monotonic() - t0
        clients_cpu = [
            (_process_cpu_s(pid) - c) / elapsed * 100 for pid, c in zip(client_pids, cpu0, strict=True)
        ]
        after = await _stats(procs)
        between_s = time.monotonic() - t0
    finally:
        for p in procs:
            with contextlib.suppress(BrokenPipeError, EOFError):  # a client process that died
                await p.close()
        server.close()
    fps: list[float] = []
    wall_fps = []
    for pid in wall:
        now, prev = after[HALL].by_username(pid), before[HALL].by_username(pid)
        wall_fps.append(((now.video_frames if now else 0) - (prev.video_frames if prev else 0)) / between_s)
    stray = lost = without_hall = 0
    streams: list[int] = []
    for pid in names:
        hall_fps = 0.0
        received_video = 0
        heard_other = False
        for remote in after[pid].participants:
            prev = before[pid].by_username(remote.username)
            video = remote.video_frames - (prev.video_frames if prev else 0)
            audio = remote.audio_frames - (prev.audio_frames if prev else 0)
            lost += remote.packets_lost - (prev.packets_lost if prev else 0)
            received_video += video > 0
            if remote.username == HALL:
                hall_fps = video / between_s
            elif audio > 0:
                heard_other = True
        fps.append(hall_fps)
        without_hall += hall_fps == 0
        stray += heard_other
        streams.append(received_video)
    return ProvinceFigures(
        communes,
        figures,
        join_s,
        min(fps) if fps else 0.0,
        statistics.fmean(fps) if fps else 0.0,
        without_hall,
        stray,
        statistics.fmean(streams) if streams else 0.0,
        lost,
        clients_cpu,
        wall_fps,
    )


def _states(server: Run) -> dict[str, int]:
    """How many participants are in each connection state (the server's view)."""
    states = server.call("states")[1]
    assert isinstance(states, dict)
    counts: dict[str, int] = {}
    for state in states.values():
        counts[state] = counts.get(state, 0) + 1
    return counts


class JoinFailed(RuntimeError):
    """A client could not take an offer (its peer connection closed: ICE or DTLS failed under the load)."""


async def _answer(server: Run, proc: ClientProcess, pid: str, offer: Offer, joined: int) -> None:
    try:
        answer = await proc.answer(pid, offer)
    except (IndexError, EOFError, BrokenPipeError, ClientFailed) as exc:  # ClientFailed: e.g. its pc closed
        raise JoinFailed(f"{pid} could not answer after {joined} participants had joined: {exc}") from exc
    server.call("answer", pid, answer)


async def _stats(procs: list[ClientProcess]) -> dict[str, ClientStats]:
    return {k: v for p in procs for k, v in (await p.stats()).items()}


def show(title: str, r: ProvinceFigures) -> None:
    s = r.server
    participants = r.communes + 1
    print(
        f"{title}: 1 hall + {r.communes} communes: server CPU {s.cpu_percent_of_core:.1f}% of one core "
        f"({s.cpu_percent_of_core / participants:.2f}% per participant), RSS {s.rss_mb:.0f} MB; "
        f"{s.packets_in} packets in, {s.packets_out} out, {s.cpu_us_per_packet_out:.1f} us of server CPU per "
        f"packet out; joined in {r.join_s:.1f} s; hall video at the communes "
        f"{r.hall_fps_mean:.1f} fps mean / "
        f"{r.hall_fps_min:.1f} min ({r.communes_without_hall} without it); camera streams per commune "
        f"{r.video_streams_per_commune:.1f}; communes hearing anyone but the hall: {r.stray_audio}; "
        f"packets lost "
        f"{r.lost}; client processes CPU " + " / ".join(f"{c:.0f}%" for c in r.clients_cpu) + " of a core"
        + (
            f"; the hall's wall: {len(r.wall_fps)} thumbnails at {statistics.fmean(r.wall_fps):.1f} fps "
            f"mean / {min(r.wall_fps):.1f} min"
            if r.wall_fps
            else ""
        ),
        flush=True,
    )


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="35,70,135", help="communes per province meeting")
    parser.add_argument("--window", type=float, default=10.0)
    parser.add_argument(
        "--baseline-size", type=int, default=20, help="communes of the baseline pair (0: none)"
    )
    parser.add_argument("--last-n", type=int, default=2, help="camera videos per viewer (pinned hall first)")
    parser.add_argument("--audio-speakers", type=int, default=3)
    parser.add_argument(
        "--bounded-from", type=int, default=2, help="bounded negotiation from this many participants (0: off)"
    )
    parser.add_argument(
        "--dtx",
        action="store_true",
        help="silent communes send no audio (as browsers' Opus DTX nearly does: the load generator's 135 "
        "Opus encoders otherwise fill this machine's 2 cores)",
    )
    parser.add_argument(
        "--wall", type=int, default=0, help="the hall's wall page of this many thumbnails (0: no wall)"
    )
    args = parser.parse_args()
    hall_frames = encode_test_pattern(
        640, 360, HALL_FPS, frames=300, bitrate_bps=500_000, keyframe_interval=60
    )
    thumb_frames = encode_test_pattern(
        320, 180, THUMB_FPS, frames=150, bitrate_bps=150_000, keyframe_interval=30
    )
    for label, frames, fps in (("hall", hall_frames, HALL_FPS), ("thumbnail", thumb_frames, THUMB_FPS)):
        kbps = sum(len(f) for f in frames) * 8 / (len(frames) / fps) / 1000
        print(
            f"{label} video: {len(frames)} pre-encoded VP8 frames at {fps} fps, {kbps:.0f} kb/s", flush=True
        )
    selected = SfuOptions(
        audio_speakers=args.audio_speakers, last_n=args.last_n, bounded_from=args.bounded_from
    )
    if args.baseline_size:
        before = await province(
            args.baseline_size, args.window, hall_frames, thumb_frames, SfuOptions(audio_speakers=0, last_n=0)
        )
        show("baseline (every microphone and camera to every viewer)", before)
        after = await province(args.baseline_size, args.window, hall_frames, thumb_frames, selected)
        show(f"province (audio selection, last_n {args.last_n}, bounded from {args.bounded_from})", after)
        print(
            f"at {args.baseline_size} communes: baseline / province server CPU "
            f"{before.server.cpu_percent_of_core / max(after.server.cpu_percent_of_core, 0.01):.1f}x, "
            f"packets forwarded {before.server.packets_out / max(after.server.packets_out, 1):.1f}x",
            flush=True,
        )
    wall_frames = (
        encode_test_pattern(160, 90, THUMB_FPS, frames=150, bitrate_bps=100_000, keyframe_interval=30)
        if args.wall
        else ()
    )
    if wall_frames:
        kbps = sum(len(f) for f in wall_frames) * 8 / (len(wall_frames) / THUMB_FPS) / 1000
        frames = len(wall_frames)
        print(f"wall thumbnail: {frames} pre-encoded VP8 frames at {THUMB_FPS} fps, {kbps:.0f} kb/s")
    title = f"province (audio selection, last_n {args.last_n}, bounded from {args.bounded_from})"
    for size in [int(x) for x in args.sizes.split(",") if x]:
        try:
            figures = await province(size, args.window, hall_frames, thumb_frames, selected, not args.dtx)
            show(title, figures)
            if wall_frames:
                walled = await province(
                    size, args.window, hall_frames, thumb_frames, selected, not args.dtx, wall_frames,
                    min(args.wall, size),
                )
                show(f"{title}, with the hall's wall of {min(args.wall, size)}", walled)
                cpu = walled.server.cpu_percent_of_core / max(figures.server.cpu_percent_of_core, 0.01)
                packets = walled.server.packets_in / max(figures.server.packets_in, 1)
                print(
                    f"at {size} communes: with / without the wall server CPU {cpu:.2f}x, packets in "
                    f"{packets:.2f}x",
                    flush=True,
                )
        except JoinFailed as exc:
            print(f"province of {size} communes: not held: {exc}", flush=True)
            break


if __name__ == "__main__":
    asyncio.run(main())
