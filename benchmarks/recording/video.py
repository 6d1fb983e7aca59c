"""Video recording cost per track: giaoban's pass-through (VP8 RTP depacketized into IVF, through the live
core's tap) against the baseline, aiortc's receive path (jitter buffer, VP8 decode) feeding aiortc's
MediaRecorder (re-encodes: libx264 into MP4, its default container here), on the same RTP packets in the
same run.

    python benchmarks/recording/video.py [--minutes 3] [--tracks 4]

The packets: a moving test pattern, 640x360 at 30 fps, encoded once with libvpx at ~490 kb/s (the SFU
benchmark's stream, a key frame every 3 s as a browser sends after the recorder's request), packetized by
aiortc's VP8 packetizer. Prints CPU seconds, % of a core and MB per hour of video for each case, and the
ratios baseline / ours.
"""

from __future__ import annotations

import argparse
import asyncio
import fractions
import json
import subprocess
import sys
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

import av
from aiortc.codecs import depayload, get_decoder
from aiortc.codecs.vpx import Vp8Encoder
from aiortc.jitterbuffer import JitterBuffer
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack
from aiortc.rtcrtpparameters import RTCRtpCodecParameters
from aiortc.rtp import RtpPacket

from recordings.ivf import read_ivf_info
from recordings.storage import MeetingRecorder, RecordingsLayout
from server.live.connections import LiveRoom
from server.live.recording import on_video_packet
from server.media.client import encode_test_pattern
from server.rooms.room import Participant, Room

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from benchmarks.recording.common import Result, measure, record_to_end  # noqa: E402

FPS = 30
WIDTH, HEIGHT = 640, 360
BITRATE_BPS = 490_000
KEYFRAME_EVERY = 90
DISTINCT_FRAMES = 300  # encoded once, looped
TICKS = 90000 // FPS
VP8 = RTCRtpCodecParameters(mimeType="video/VP8", clockRate=90000, payloadType=96)


@dataclass(frozen=True)
class RtpIn:
    seq: int
    ts: int
    marker: bool
    payload: bytes


def make_packets(seconds: float) -> list[RtpIn]:
    frames = encode_test_pattern(WIDTH, HEIGHT, FPS, DISTINCT_FRAMES, BITRATE_BPS, KEYFRAME_EVERY)
    packer = Vp8Encoder()
    out: list[RtpIn] = []
    seq = 0
    for i in range(int(seconds * FPS)):
        packet = av.Packet(frames[i % len(frames)])
        packet.pts = i * TICKS
        packet.time_base = fractions.Fraction(1, 90000)
        payloads, ts = packer.pack(packet)
        for k, payload in enumerate(payloads):
            out.append(RtpIn(seq % 65536, ts % (1 << 32), k == len(payloads) - 1, payload))
            seq += 1
    return out


class FakeMedia:
    def request_keyframe(self, participant_id: str, source: str) -> None:
        pass


def run_ours(folder: Path, packets: list[RtpIn], tracks: int, fsync_interval_s: float | None) -> list[Path]:
    """N camera tracks through the live core's tap (server.live.recording.on_video_packet), interleaved."""
    recorder = MeetingRecorder.start(RecordingsLayout(folder), "bench", fsync_interval_s=fsync_interval_s)
    live = LiveRoom(1, Room(1, "bench"), FakeMedia(), 1, recorder=recorder, video_mode="all")  # type: ignore[arg-type]
    pids = [f"u{n}" for n in range(tracks)]
    for n, pid in enumerate(pids):
        live.room.participants[pid] = Participant(
            id=pid, user_id=n, username=f"xa{n}", display_name=f"Xã {n}", unit_code=f"X{n}",
            unit_name=f"UBND xã {n}", role="member", is_chair_unit=False, can_moderate=False,
            can_publish=True,
        )
    for p in packets:
        for n, pid in enumerate(pids):
            on_video_packet(live, pid, "camera", p.payload, p.ts, p.seq, p.marker, 1000 + n)
    recorder.end(recorder.clock_s())
    return sorted((folder / "recordings" / "bench" / "tracks").glob("*.ivf"))


class ReceivedVideoTrack(MediaStreamTrack):
    """What aiortc's RTCRtpReceiver hands to a MediaRecorder: depayloaded, jitter-buffered, decoded frames."""

    kind = "video"

    def __init__(self, packets: list[RtpIn]) -> None:
        super().__init__()
        self._packets = iter(packets)
        self._jitter = JitterBuffer(capacity=128, is_video=True)
        self._decoder = get_decoder(VP8)
        self._ready: list[av.VideoFrame] = []

    async def recv(self) -> av.VideoFrame:
        while not self._ready:
            try:
                p = next(self._packets)
            except StopIteration:
                self.stop()
                raise MediaStreamError from None
            rtp = RtpPacket(payload_type=96, marker=int(p.marker), sequence_number=p.seq, timestamp=p.ts,
                            ssrc=1, payload=p.payload)
            rtp._data = depayload(VP8, rtp.payload)  # type: ignore[attr-defined]
            _pli, encoded = self._jitter.add(rtp)
            if encoded is not None:
                self._ready.extend(self._decoder.decode(encoded))  # type: ignore[arg-type]
        frame = self._ready.pop(0)
        return frame


def run_media_recorder(folder: Path, packets: list[RtpIn], tracks: int) -> list[Path]:
    paths = [folder / f"mr{n}.mp4" for n in range(tracks)]

    async def main() -> None:
        await asyncio.gather(*(record_to_end(path, ReceivedVideoTrack(packets)) for path in paths))

    asyncio.run(main())
    return paths


CASES = {
    "ours": "giaoban tap + IVF (fsync every 0.5 s batch)",
    "ours-nosync": "giaoban tap + IVF (no fsync)",
    "baseline": "baseline: aiortc receive + decode + MediaRecorder (x264)",
}


def run_case(case: str, minutes: float, tracks: int) -> None:
    """One case in this process (each case runs in its own): prints its Result as JSON."""
    seconds = minutes * 60
    packets = make_packets(seconds)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        if case == "baseline":
            result = measure(CASES[case], seconds * tracks,
                             lambda: run_media_recorder(folder, packets, tracks))
        else:
            fsync = 0.0 if case == "ours" else None
            result = measure(CASES[case], seconds * tracks, lambda: run_ours(folder, packets, tracks, fsync))
            if case == "ours":  # every frame sent is in the files
                files = (folder / "recordings" / "bench" / "tracks").glob("*.ivf")
                frames = [read_ivf_info(p).frames for p in files]
                assert frames == [int(seconds * FPS)] * tracks, frames
    print(json.dumps(asdict(result)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=3.0, help="video per track, in minutes")
    parser.add_argument("--tracks", type=int, default=4, help="tracks recorded at once")
    parser.add_argument("--case", choices=sorted(CASES), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.case:
        run_case(args.case, args.minutes, args.tracks)
        return
    seconds = args.minutes * 60
    packets = make_packets(10)
    payload_bytes = sum(len(p.payload) for p in packets)
    print(f"{args.tracks} tracks x {seconds:.0f} s of VP8 {WIDTH}x{HEIGHT} @{FPS} "
          f"(~{payload_bytes * 8 / 10_000:.0f} kb/s of payload, {len(packets) / 10:.0f} packets/s a track); "
          f"each case in its own process; python {sys.version.split()[0]}, av {av.__version__}")
    results = {}
    for case in CASES:
        out = subprocess.run(
            [sys.executable, __file__, "--case", case, "--minutes", str(args.minutes),
             "--tracks", str(args.tracks)],
            capture_output=True, text=True, check=True,
        )
        results[case] = Result(**json.loads(out.stdout.strip().splitlines()[-1]))
    ours, ours_nosync, baseline = results["ours"], results["ours-nosync"], results["baseline"]
    print(f"{'case':58} {'CPU s/h':>9} {'% core':>8} {'MB/h':>8} {'wall s':>8}")
    for r in (ours, ours_nosync, baseline):
        print(f"{r.name:58} {r.cpu_s_per_hour:9.2f} {r.core_percent:8.3f} {r.mb_per_hour:8.1f} "
              f"{r.wall_s:8.2f}")
    print(f"ratio CPU baseline / ours (fsync every batch): {baseline.cpu_s / ours.cpu_s:.0f}x")
    print(f"ratio CPU baseline / ours (no fsync):          {baseline.cpu_s / ours_nosync.cpu_s:.0f}x")
    print(f"ratio bytes baseline / ours: {baseline.bytes / ours.bytes:.2f}x (the baseline re-encodes at "
          "x264's default quality)")
    print(f"meeting of 10 recorded cameras, ours: {10 * ours.core_percent:.2f} % of a core; "
          f"baseline: {10 * baseline.core_percent:.1f} %")


if __name__ == "__main__":
    main()
