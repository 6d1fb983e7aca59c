"""Recording cost per track: giaoban's OggOpusWriter (packets muxed as received) against the baseline,
aiortc's MediaRecorder (packets decoded as aiortc's receiver does, then re-encoded), on the same packets
in the same run.

    python benchmarks/recording/run.py [--minutes 10]

Prints CPU seconds and bytes per hour of audio for each, and the ratios baseline / ours.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
from aiortc.codecs.opus import OpusDecoder
from aiortc.jitterbuffer import JitterFrame
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

from recordings.oggopus import OggOpusWriter
from recordings.opuspacket import OPUS_CLOCK_HZ

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from benchmarks.recording.common import SECONDS_PER_HOUR, measure, record_to_end  # noqa: E402

EVAL_DIR = REPO.parent / "shared" / "eval" / "vivos-spk01-dev"
PACKET_SAMPLES = 960
PACKET_S = PACKET_SAMPLES / OPUS_CLOCK_HZ
BITRATE_BPS = 32_000  # what a browser sends for mono speech (Chromium's default)


def load_speech() -> np.ndarray:
    chunks: list[np.ndarray] = []
    for path in sorted(EVAL_DIR.glob("*.wav")):
        resampler = av.AudioResampler(format="flt", layout="mono", rate=OPUS_CLOCK_HZ)
        with av.open(str(path)) as container:
            for frame in container.decode(audio=0):
                chunks.extend(f.to_ndarray().reshape(-1) for f in resampler.resample(frame))
    return np.concatenate(chunks).astype(np.float32)


def encode_packets(pcm: np.ndarray) -> list[bytes]:
    ctx = av.CodecContext.create("libopus", "w")
    ctx.sample_rate = OPUS_CLOCK_HZ
    ctx.layout = "mono"
    ctx.format = "flt"
    ctx.bit_rate = BITRATE_BPS
    packets: list[bytes] = []
    for index in range(len(pcm) // PACKET_SAMPLES):
        chunk = pcm[index * PACKET_SAMPLES : (index + 1) * PACKET_SAMPLES].reshape(1, -1)
        frame = av.AudioFrame.from_ndarray(chunk, format="flt", layout="mono")
        frame.sample_rate = OPUS_CLOCK_HZ
        frame.pts = index * PACKET_SAMPLES
        packets.extend(bytes(p) for p in ctx.encode(frame))
    return packets


def run_writer(
    path: Path, packets: list[bytes], fsync_interval_s: float | None, syncs: list[int]
) -> list[Path]:
    writer = OggOpusWriter(path, channels=1, fsync_interval_s=fsync_interval_s)
    timestamp = 123_456
    for payload in packets:
        writer.write(payload, timestamp)
        timestamp += PACKET_SAMPLES
    syncs.append(writer.close().syncs)
    return [path]


class DecodedTrack(MediaStreamTrack):
    """What aiortc's RTCRtpReceiver hands to a MediaRecorder: each packet decoded by OpusDecoder."""

    kind = "audio"

    def __init__(self, packets: list[bytes]) -> None:
        super().__init__()
        self._packets = iter(enumerate(packets))
        self._decoder = OpusDecoder()

    async def recv(self) -> av.AudioFrame:
        try:
            index, payload = next(self._packets)
        except StopIteration:
            self.stop()
            raise MediaStreamError from None
        frames = self._decoder.decode(JitterFrame(data=payload, timestamp=index * PACKET_SAMPLES))
        frame = frames[0]
        frame.pts = index * PACKET_SAMPLES
        frame.time_base = Fraction(1, OPUS_CLOCK_HZ)
        return frame


def run_media_recorder(path: Path, packets: list[bytes]) -> list[Path]:
    asyncio.run(record_to_end(path, DecodedTrack(packets)))
    return [path]


def run_decode_only(packets: list[bytes]) -> None:
    decoder = OpusDecoder()
    for index, payload in enumerate(packets):
        decoder.decode(JitterFrame(data=payload, timestamp=index * PACKET_SAMPLES))


def measure_fsync(folder: Path, count: int = 500, page_bytes: int = 2000) -> tuple[float, float]:
    """CPU and wall seconds of one fdatasync after appending one page-sized write (the 1 s cadence)."""
    fd = os.open(folder / "sync.bin", os.O_WRONLY | os.O_CREAT, 0o644)
    payload = b"\x00" * page_bytes
    cpu = time.process_time()
    wall = time.perf_counter()
    for _ in range(count):
        os.write(fd, payload)
        os.fdatasync(fd)
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    os.close(fd)
    return cpu / count, wall / count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10.0, help="audio per case, in minutes")
    args = parser.parse_args()
    speech = encode_packets(load_speech())
    count = int(args.minutes * 60 / PACKET_S)
    packets = [speech[i % len(speech)] for i in range(count)]
    audio_s = count * PACKET_S
    print(f"audio per case: {audio_s:.0f} s of real speech (VIVOS), {len(speech)} distinct Opus packets "
          f"at {BITRATE_BPS // 1000} kb/s; python {sys.version.split()[0]}, av {av.__version__}")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        syncs: list[int] = []
        # Run faster than real time, a 1 s fsync interval would sync almost never: fsync after every
        # page (0.5 s of audio) instead, twice what the default costs at real pace.
        results = [
            measure("giaoban OggOpusWriter (fsync every page)", audio_s,
                    lambda: run_writer(folder / "a.ogg", packets, 0.0, syncs)),
            measure("giaoban OggOpusWriter (no fsync)", audio_s,
                    lambda: run_writer(folder / "b.ogg", packets, None, syncs)),
            measure("baseline: aiortc decode + MediaRecorder", audio_s,
                    lambda: run_media_recorder(folder / "c.ogg", packets)),
        ]
        fsync_cpu, fsync_wall = measure_fsync(folder)
        decode_cpu = time.process_time()
        run_decode_only(packets)
        fsync_cpu, fsync_wall = measure_fsync(folder)
        decode_cpu = time.process_time() - decode_cpu
    print(f"{'case':44} {'CPU s/h audio':>14} {'% of a core':>12} {'MB/h':>8} {'wall s':>8}")
    for r in results:
        print(f"{r.name:44} {r.cpu_s_per_hour:14.2f} {r.core_percent:12.3f} {r.mb_per_hour:8.2f} "
              f"{r.wall_s:8.2f}")
    print(f"{'  of which aiortc Opus decode alone':44} {decode_cpu / audio_s * SECONDS_PER_HOUR:14.2f} "
          f"{100 * decode_cpu / audio_s:12.3f}")
    ours, baseline = results[0], results[2]
    print(f"fsyncs done with 'every page': {syncs[0] / audio_s * SECONDS_PER_HOUR:.0f} per hour of audio "
          f"(the default, 1 s at real pace: 3600)")
    print(f"one fdatasync here: {fsync_cpu * 1e6:.0f} us CPU, {fsync_wall * 1e3:.2f} ms wall (in the "
          f"writer's fsync thread); at 1 per s: {fsync_cpu * SECONDS_PER_HOUR:.2f} CPU s/h")
    paced = results[1].cpu_s_per_hour + fsync_cpu * SECONDS_PER_HOUR
    print(f"ours at real pace, fsync 1 s (no-fsync CPU + 3600 fsyncs): {paced:.2f} CPU s/h = "
          f"{100 * paced / SECONDS_PER_HOUR:.3f} % of a core; baseline / ours: "
          f"{baseline.cpu_s_per_hour / paced:.1f}x")
    print(f"ratio CPU baseline / ours (fsync every page): {baseline.cpu_s / ours.cpu_s:.1f}x")
    print(f"ratio CPU baseline / ours (no fsync):         {baseline.cpu_s / results[1].cpu_s:.1f}x")
    print(f"ratio bytes baseline / ours:           {baseline.bytes / ours.bytes:.2f}x "
          "(the baseline re-encodes at libopus' default bitrate)")
    print(f"meeting of 10 tracks, ours: {10 * ours.core_percent:.2f} % of a core; "
          f"baseline: {10 * baseline.core_percent:.2f} %")


if __name__ == "__main__":
    main()
