"""A viewer whose downlink is capped for a while, then freed: run inside a network namespace by
test_media_downlink.py and benchmarks/links/downlink.py.

A MediaRoom and three publishers, each sending Opus and pre-encoded VP8 (``--video-kbps`` each, a key frame
every ``--keyframe-s``) and, as browsers do, the half-size thumbnail of its camera (the chair's wall's
second track, ``--thumbnail-kbps``, 15 fps; ``--no-thumbnail``: none, so a thin link can only pause videos),
and a viewer bot that decodes what it receives (aiortc's receiver then sends its Receiver Reports, NACKs,
PLIs and REMB). The publishers run in a process of their own (server.media.client_process), as senders:
they receive each other's audio, no video. Once the viewer shows all three videos, the call runs ``--before``
seconds, then an iptables ``hashlimit`` rule drops the viewer's UDP above ``--cap-kbps`` for ``--capped``
seconds, then the rule is deleted and the call runs ``--after`` seconds. Every 50 ms the process notes which
videos the server forwards to the viewer and which of them as the thumbnail (the low layer); the viewer notes
each packet it receives (and each key frame's width, read from its VP8 header). Prints one JSON line: per
phase, the freezes of audio and of the forwarded videos, paused video time, time on the low layer, the fewest
videos forwarded, the video bitrate received and each video's median width (of the frames that could be
shown); and the recovery time: from the lift until the server forwards every video at its full layer for the
rest of the call and each shows a frame (``recovery_s``), and until all of them first show again at their full
layer (``first_full_s``).

Freezes, from the packets the viewer received (when each arrived, its sequence number; not from decoding,
whose timing on a busy machine says more about the machine than the link):
- audio: a run of at least AUDIO_FREEZE_PACKETS consecutive packets (100 ms) never received — RED and Opus FEC
  repair one or two; the freeze ratio is the share of packets lost in such runs;
- video: a frame can be shown once all its packets arrived (retransmissions included) and every frame since
  the last key frame could; a video the server forwards is frozen while the last frame that could be shown is
  older than VIDEO_FREEZE_S (WebRTC's freeze threshold at 15 frames/s: 3 frame intervals, at least 150 ms
  over one) — the wait for a key frame after a resume included. A video the server pauses to spare the link
  is not frozen: the tile says it is paused.

usage: python -m tests.media.downlink_child [--cap-kbps N] [--loss-pct P] [--no-adapt] [...]
"""

from __future__ import annotations

import argparse
import asyncio
import bisect
import json
import logging
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from server.media.client import Arrival, ClientConfig, MediaClient, encode_test_pattern  # noqa: E402
from server.media.client_process import ClientProcess  # noqa: E402
from server.media.config import MediaConfig  # noqa: E402
from server.media.downlink import DownlinkConfig  # noqa: E402
from server.media.events import (  # noqa: E402
    ConnectionStateChanged,
    MediaEvent,
    MediaListener,
    Offer,
    RenegotiationNeeded,
)
from server.media.room import MediaRoom  # noqa: E402

PUBLISHERS = ("hall", "chumo", "iapa")  # the first is pinned (the chair's hall): the last video to go
VIEWER = "viewer"
FPS = 15
AUDIO_FREEZE_PACKETS = 5  # 100 ms of 20 ms packets
VIDEO_FREEZE_S = 0.217  # max(3 x 66.7 ms, 66.7 + 150 ms)
TICK_S = 0.05


class Renegotiations(MediaListener):
    def __init__(self) -> None:
        self.pending: list[str] = []

    def on_event(self, event: MediaEvent) -> None:
        if isinstance(event, RenegotiationNeeded) and event.participant_id not in self.pending:
            self.pending.append(event.participant_id)
        elif isinstance(event, ConnectionStateChanged):
            logging.getLogger(__name__).info("%s: %s", event.participant_id, event.state)


def local_port(client: MediaClient) -> int:
    """The UDP port of the client's bundled ICE transport (only 127.0.0.1 is offered: one candidate)."""
    transport = client.pc.getTransceivers()[0].receiver.transport.transport
    return int(transport._connection.local_candidates[0].port)  # noqa: SLF001 - aioice has no public getter


def cap_rule(port: int, kbps: int) -> list[str]:
    """Drop UDP to ``port`` above ``kbps`` (hashlimit counts bytes; its burst is one second's worth)."""
    rate = kbps * 1000 // 8
    return ["OUTPUT", "-p", "udp", "--dport", str(port), "-m", "hashlimit", "--hashlimit-name", f"cap{port}",
            "--hashlimit-above", f"{rate}b/s", "--hashlimit-burst", f"{rate}b", "-j", "DROP"]


def iptables(*args: str) -> None:
    subprocess.run(["iptables", *args], check=True, capture_output=True)


def last_before(times: list[float], t: float) -> float | None:
    i = bisect.bisect_right(times, t)
    return times[i - 1] if i else None


def in_order(arrivals: list[Arrival]) -> dict[int, Arrival]:
    """The first arrival of each packet, by extended sequence number (from the first packet's)."""
    out: dict[int, Arrival] = {}
    if not arrivals:
        return out
    highest = arrivals[0].seq
    for a in arrivals:
        delta = (a.seq - highest) % 65536
        ext = highest + delta if delta < 32768 else highest - (65536 - delta)
        highest = max(highest, ext)
        out.setdefault(ext, a)
    return out


def audio_holes(arrivals: list[Arrival]) -> list[tuple[float, int]]:
    """Runs of at least AUDIO_FREEZE_PACKETS lost packets: (arrival of the packet after one, its length)."""
    packets = in_order(arrivals)
    seqs = sorted(packets)
    return [(packets[b].at_s, b - a - 1) for a, b in zip(seqs, seqs[1:], strict=False)
            if b - a - 1 >= AUDIO_FREEZE_PACKETS]


def shown_frames(arrivals: list[Arrival]) -> list[float]:
    """When each video frame could be shown (see the module's docstring)."""
    packets = in_order(arrivals)
    shown: list[float] = []
    chain = False
    first: int | None = None
    for seq in range(min(packets, default=0), max(packets, default=-1) + 1):
        packet = packets.get(seq)
        if first is None:
            first = seq
        if packet is None or not packet.marker:
            continue
        frame = [packets.get(s) for s in range(first, seq + 1)]
        first = None
        if any(p is None for p in frame):
            chain = False
            continue
        done = max(p.at_s for p in frame if p is not None)
        if frame[0] is not None and frame[0].keyframe:
            chain = True
        if chain:
            shown.append(max(done, shown[-1]) if shown else done)
    return shown


def median(values: list[int]) -> int | None:
    return sorted(values)[len(values) // 2] if values else None


def width_at(keyframes: list[tuple[float, int]], t: float) -> int:
    """The width of a video's frames at ``t``: its last key frame's then (0 before the first)."""
    i = bisect.bisect_right(keyframes, (t, 1 << 30))
    return keyframes[i - 1][1] if i else 0


def measure(
    ticks: list[tuple[float, set[str], set[str]]], audio: dict[str, list[Arrival]],
    video: dict[str, list[float]], phases: dict[str, tuple[float, float]],
    video_packets: dict[str, list[Arrival]] | None = None,
    widths: dict[str, list[tuple[float, int]]] | None = None,
) -> dict[str, Any]:
    """Freezes, pauses and low-layer time per phase on the 50 ms grid of ``ticks`` (time, publishers whose
    video the server forwarded, those of them as the thumbnail), the video bitrate received and median
    widths of the showable frames per phase (``video_packets``: each video's packets, ``widths``: its key
    frames' arrival and width), and the recovery time after the cap."""
    video_packets = video_packets or {}
    widths = widths or {}
    out: dict[str, Any] = {}
    holes = {pid: audio_holes(audio[pid]) for pid in PUBLISHERS}
    for name, (start, end) in phases.items():
        lost = [n for pid in PUBLISHERS for at, n in holes[pid] if start <= at < end]
        received = sum(1 for pid in PUBLISHERS for a in audio[pid] if start <= a.at_s < end)
        video_s = video_frozen_s = paused_s = low_s = 0.0
        video_freezes = 0
        frozen_before: set[str] = set()
        fewest = len(PUBLISHERS)
        for t, forwarded, low in ticks:
            if not start <= t < end:
                continue
            fewest = min(fewest, len(forwarded))
            for pid in PUBLISHERS:
                if pid not in forwarded:
                    paused_s += TICK_S
                    frozen_before.discard(pid)
                    continue
                video_s += TICK_S
                if pid in low:
                    low_s += TICK_S
                last = last_before(video[pid], t)
                if last is None or t - last > VIDEO_FREEZE_S:
                    video_frozen_s += TICK_S
                    if pid not in frozen_before:
                        video_freezes += 1
                    frozen_before.add(pid)
                else:
                    frozen_before.discard(pid)
        out[name] = {
            "seconds": end - start,
            "audio_freezes": len(lost),
            "audio_freeze_ratio": sum(lost) / max(received + sum(lost), 1),
            "video_freezes": video_freezes,
            "video_freeze_ratio": video_frozen_s / video_s if video_s else 0.0,
            "video_paused_ratio": paused_s / (len(PUBLISHERS) * (end - start)),
            "video_low_ratio": low_s / (len(PUBLISHERS) * (end - start)),
            "fewest_videos": fewest,
            "video_kbps_received": round(sum(a.size for pid in PUBLISHERS for a in video_packets.get(pid, ())
                                             if start <= a.at_s < end) * 8 / 1000 / (end - start)),
            "median_width": {pid: median([w for t in video[pid] if start <= t < end
                                          and (w := width_at(widths.get(pid, []), t))])
                             for pid in PUBLISHERS},
        }
    # recovery: from the lift until every video is forwarded at its full layer for the rest of the call and
    # shows a frame
    lifted = phases["after"][0]
    after = [(t, forwarded - low) for t, forwarded, low in ticks if t >= lifted]
    missing = [i for i, (_, forwarded) in enumerate(after) if len(forwarded) < len(PUBLISHERS)]
    recovered = None
    for t, forwarded in after[missing[-1] + 1 if missing else 0 :]:
        showing = [pid for pid in PUBLISHERS if pid in forwarded
                   and (last := last_before(video[pid], t)) is not None and t - last <= VIDEO_FREEZE_S]
        if len(showing) == len(PUBLISHERS):
            recovered = t - lifted
            break
    out["recovery_s"] = recovered
    # and the first moment after the lift when all of them show at their full layer (a step up the link then
    # may or may not keep)
    out["first_full_s"] = next(
        (t - lifted for t, forwarded in after
         if all(pid in forwarded and (last := last_before(video[pid], t)) is not None
                and t - last <= VIDEO_FREEZE_S for pid in PUBLISHERS)),
        None,
    )
    return out


async def main(args: argparse.Namespace) -> dict[str, Any]:
    config = MediaConfig(ice_addresses=("127.0.0.1",), audio_speakers=0,
                         downlink=DownlinkConfig(enabled=not args.no_adapt))
    listener = Renegotiations()
    room = MediaRoom("downlink", config, listener)
    room.set_pinned([PUBLISHERS[0]])
    frames = encode_test_pattern(480, 360, FPS, FPS * 4, args.video_kbps * 1000, round(args.keyframe_s * FPS))
    # the wall's thumbnail, as a browser sends it: half the size, at most 15 fps and 150 kb/s
    thumbnail = () if args.no_thumbnail else encode_test_pattern(
        240, 180, FPS, FPS * 4, args.thumbnail_kbps * 1000, round(args.keyframe_s * FPS))
    # the publishers in their own process, as senders only (no decoding; they receive the others' audio, not
    # their videos): the call's process is the server's and the measured viewer's, as near as the machine
    # allows to what each has in a real meeting
    publishers = ClientProcess(
        list(PUBLISHERS),
        ClientConfig(media=config, video=True, encoded_video=frames, video_fps=FPS,
                     encoded_thumbnail=thumbnail, decode=False),
    )
    clients: dict[str, MediaClient] = {}

    async def answer(pid: str, offer: Offer) -> str:
        if pid in PUBLISHERS:
            return await publishers.answer(pid, offer)
        return await clients[pid].accept_offer(offer)

    async def join(pid: str, publishes_video: bool) -> None:
        offer = await room.join(pid, username=pid, unit=pid.upper(), publishes_video=publishes_video,
                                publishes_thumbnail=publishes_video and bool(thumbnail),
                                audio_only=publishes_video)
        await room.answer(pid, await answer(pid, offer))
        while listener.pending:
            other = listener.pending.pop(0)
            if other in room.participant_ids() and (other in clients or other in PUBLISHERS):
                offer = await room.renegotiate(other)
                await room.answer(other, await answer(other, offer))

    ticks: list[tuple[float, set[str], set[str]]] = []
    rule: list[str] | None = None
    try:
        viewer_config = ClientConfig(media=config, publish_audio=False, decode=True, keep_arrivals=True)
        viewer = clients[VIEWER] = MediaClient(VIEWER, viewer_config)
        await join(VIEWER, publishes_video=False)
        for pid in PUBLISHERS:
            await join(pid, publishes_video=True)
        await viewer.wait_connected(20.0)
        deadline = time.monotonic() + 30.0
        while time.monotonic() < deadline:  # every video shown before the clock starts
            shown = {label.participant_id for label, arrivals in viewer.arrivals()
                     if label.kind == "video" and arrivals}
            if shown >= set(PUBLISHERS):
                break
            await asyncio.sleep(0.1)
        t0 = time.monotonic() + 1.0
        logging.getLogger(__name__).info("clock starts")
        capped_at, lifted_at = t0 + args.before, t0 + args.before + args.capped
        end = lifted_at + args.after
        while (now := time.monotonic()) < end:
            if rule is None and args.cap_kbps and capped_at <= now < lifted_at:
                rule = cap_rule(local_port(viewer), args.cap_kbps)
                iptables("-I", *rule[:1], "1", *rule[1:])
            elif rule is not None and now >= lifted_at:
                iptables("-D", *rule)
                rule = None
            mine = [f for f in room.stats().forwarded
                    if f.viewer_id == VIEWER and f.kind == "video" and f.forwarding]
            ticks.append((now, {f.publisher_id for f in mine}, {f.publisher_id for f in mine if f.low_layer}))
            await asyncio.sleep(TICK_S)
        audio: dict[str, list[Arrival]] = {pid: [] for pid in PUBLISHERS}
        video: dict[str, list[float]] = {pid: [] for pid in PUBLISHERS}
        received: dict[str, list[Arrival]] = {pid: [] for pid in PUBLISHERS}
        for label, arrivals in viewer.arrivals():  # one m-line per stream: not a bounded meeting
            if label.participant_id in audio and label.kind == "audio":
                audio[label.participant_id] = arrivals
            elif label.participant_id in video:
                video[label.participant_id] = shown_frames(arrivals)
                received[label.participant_id] = arrivals
        widths = {pid: [(a.at_s, a.width) for a in received[pid] if a.width] for pid in PUBLISHERS}
        phases = {"before": (t0, capped_at), "capped": (capped_at, lifted_at), "after": (lifted_at, end)}
        result = measure(ticks, audio, video, phases, received, widths)
        logging.getLogger(__name__).info("capped %.1f .. %.1f s after the clock started, ended at %.1f",
                                         capped_at - t0, lifted_at - t0, end - t0)
        result["video_fps"] = {pid: round(len(video[pid]) / (end - t0 + 1.0), 1) for pid in PUBLISHERS}
        stats = room.stats()
        result["thumbnail"] = bool(thumbnail)
        result["final_width"] = {pid: widths[pid][-1][1] if widths[pid] else None for pid in PUBLISHERS}
        result["video_kbps_sent"] = {
            f.publisher_id: round(f.bytes_sent * 8 / 1000 / (end - t0 + 1.0))
            for f in stats.forwarded if f.viewer_id == VIEWER and f.kind == "video"
        }
    finally:
        if rule is not None:
            iptables("-D", *rule)
        for client in clients.values():
            await client.close()
        await publishers.close()
        await room.close()
    return result


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--cap-kbps", type=int, default=0, help="0: no cap")
    parser.add_argument("--before", type=float, default=6.0)
    parser.add_argument("--capped", type=float, default=20.0)
    parser.add_argument("--after", type=float, default=15.0)
    parser.add_argument("--video-kbps", type=int, default=350)
    parser.add_argument("--keyframe-s", type=float, default=1.0)
    parser.add_argument("--thumbnail-kbps", type=int, default=120, help="each publisher's thumbnail")
    parser.add_argument("--no-thumbnail", action="store_true",
                        help="publishers send no thumbnail: a thin link pauses videos (no low layer)")
    parser.add_argument("--no-adapt", action="store_true",
                        help="the baseline: every video, whatever the link")
    parser.add_argument("--verbose", action="store_true", help="the room's log (each step) on stderr")
    parsed = parser.parse_args()
    if parsed.verbose:
        logging.basicConfig(level=logging.WARNING, format="%(relativeCreated)8.0f %(name)s %(message)s")
        logging.getLogger("server.media.room").setLevel(logging.INFO)
        logging.getLogger(__name__).setLevel(logging.INFO)
    print(json.dumps(asyncio.run(main(parsed))))
