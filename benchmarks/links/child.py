"""One cell of the links benchmark, run inside a network namespace (benchmarks/links/run.py creates it and its
iptables loss rule): the SFU's MediaRoom and a bot publishing a WAV over 127.0.0.1, the room's recording tap
writing the bot's microphone twice from the same packets (repair ON: reorder buffer, RED and Opus FEC
recovery, as the server records; repair OFF: each payload written as it arrives, as the recorder did
before), and optionally a viewer bot whose downlink this process caps with an iptables ``hashlimit`` rule
on its port. Prints one JSON line.

usage: python -m benchmarks.links.child WAV DATA_DIR SECONDS [--viewer] [--video] [--cap-kbps N]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import time
from pathlib import Path
from typing import Any

from recordings.manifest import read_manifest
from recordings.red import parse_red
from recordings.storage import MeetingRecorder, ParticipantInfo, RecordingsLayout, TrackHandle
from server.media.client import ClientConfig, MediaClient, _lost
from server.media.config import MediaConfig
from server.media.events import MediaEvent, MediaListener, RenegotiationNeeded
from server.media.room import MediaRoom

CONFIG = MediaConfig(ice_addresses=("127.0.0.1",), audio_speakers=0)
PUBLISHER = "pub"
VIEWER = "view"


class Tap(MediaListener):
    """The recording tap, twice: repaired (TrackHandle.write_rtp) and plain (TrackHandle.write)."""

    def __init__(self, recorder: MeetingRecorder) -> None:
        self.recorder = recorder
        self.tracks: dict[str, TrackHandle] = {}
        self.renegotiate: list[str] = []
        self.packets = 0

    def on_event(self, event: MediaEvent) -> None:
        if isinstance(event, RenegotiationNeeded) and event.participant_id not in self.renegotiate:
            self.renegotiate.append(event.participant_id)

    def on_audio_packet(self, participant_id: str, payload: bytes, rtp_timestamp: int, sequence_number: int,
                        red: bool, arrival_monotonic_s: float) -> None:
        if participant_id != PUBLISHER:
            return
        if not self.tracks:
            now = self.recorder.clock_s()
            for name in ("repaired", "plain"):
                info = ParticipantInfo(participant_id, name, name, "CHUMO", "UBND xã Chư Mố")
                self.tracks[name] = self.recorder.open_track(info, now, track_id=name)
        self.packets += 1
        self.tracks["repaired"].write_rtp(payload, rtp_timestamp, sequence_number, red=red)
        if red:  # repair OFF keeps the primary frame only
            parsed = parse_red(payload, rtp_timestamp)
            if parsed is None:
                return
            payload, rtp_timestamp = parsed.primary.data, parsed.primary.timestamp
        self.tracks["plain"].write(payload, rtp_timestamp)


def local_port(client: MediaClient) -> int:
    """The UDP port of the client's (bundled) ICE transport: only 127.0.0.1 is offered, so one candidate."""
    transport = client.pc.getTransceivers()[0].receiver.transport.transport
    return int(transport._connection.local_candidates[0].port)  # noqa: SLF001 - aioice has no public getter


def cap_port(port: int, kbps: int) -> None:
    """Drop UDP packets to ``port`` above ``kbps`` kilobits per second (hashlimit counts bytes; its burst may
    not be under one second's worth)."""
    rate = kbps * 1000 // 8
    subprocess.run(
        ["iptables", "-I", "OUTPUT", "1", "-p", "udp", "--dport", str(port), "-m", "hashlimit",
         "--hashlimit-name", f"cap{port}", "--hashlimit-above", f"{rate}b/s", "--hashlimit-burst", f"{rate}b",
         "-j", "DROP"],
        check=True, capture_output=True,
    )


async def main(args: argparse.Namespace) -> dict[str, Any]:
    layout = RecordingsLayout(args.data_dir)
    recorder = MeetingRecorder.start(layout, "m1", fsync_interval_s=None)
    tap = Tap(recorder)
    room = MediaRoom("links", CONFIG, tap)
    clients: dict[str, MediaClient] = {}

    async def join(pid: str, config: ClientConfig) -> MediaClient:
        client = MediaClient(pid, config)
        clients[pid] = client
        offer = await room.join(pid, username=f"user-{pid}", unit=f"UNIT-{pid}")
        await room.answer(pid, await client.accept_offer(offer))
        while tap.renegotiate:
            other = tap.renegotiate.pop(0)
            if other in clients and other in room.participant_ids():
                offer = await room.renegotiate(other)
                await room.answer(other, await clients[other].accept_offer(offer))
        return client

    viewer_stats: dict[str, float] | None = None
    try:
        if args.viewer:
            viewer = await join(VIEWER, ClientConfig(media=CONFIG, publish_audio=False, decode=False))
            await viewer.wait_connected(20.0)
            if args.cap_kbps:
                cap_port(local_port(viewer), args.cap_kbps)
        started = time.monotonic()
        publisher = await join(PUBLISHER, ClientConfig(media=CONFIG, audio_file=args.wav, video=args.video))
        await publisher.wait_connected(30.0)  # the call's time counts from here: the WAV plays once connected
        connected_s = time.monotonic() - started
        await asyncio.sleep(args.seconds)
        if args.viewer:
            elapsed = time.monotonic() - started
            counters = [c for c in clients[VIEWER]._counters.values()  # noqa: SLF001 - per-kind loss
                        if c.label.participant_id == PUBLISHER]
            viewer_stats = {"seconds": elapsed}
            for kind in ("audio", "video"):
                mine = [c for c in counters if c.label.kind == kind]
                viewer_stats[f"{kind}_packets"] = sum(c.packets for c in mine)
                viewer_stats[f"{kind}_lost"] = sum(_lost(c) for c in mine)
                viewer_stats[f"{kind}_frames"] = sum(c.frames for c in mine)
    finally:
        for client in clients.values():
            await client.close()
        await room.close()
    recorder.end(recorder.clock_s())
    manifest = read_manifest(layout.meeting_dir("m1"))
    track = manifest.track("repaired")
    repair = track.repair
    assert repair is not None
    return {
        "connect_s": connected_s,
        "packets": tap.packets,
        "holes": repair.holes,
        "recovered_red": repair.recovered_red,
        "recovered_fec": repair.recovered_fec,
        "concealed": repair.concealed,
        "reordered": repair.reordered,
        "late": repair.late,
        "lost_s": repair.lost_s,
        "repaired": str(layout.meeting_dir("m1") / "tracks/repaired.ogg"),
        "plain": str(layout.meeting_dir("m1") / "tracks/plain.ogg"),
        "viewer": viewer_stats,
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("wav")
    parser.add_argument("data_dir", type=Path)
    parser.add_argument("seconds", type=float)
    parser.add_argument("--viewer", action="store_true")
    parser.add_argument("--video", action="store_true")
    parser.add_argument("--cap-kbps", type=int, default=0)
    print(json.dumps(asyncio.run(main(parser.parse_args()))))
