"""What the recording benchmarks (run: audio, video) share: a case's measured cost and aiortc's MediaRecorder
fed one track to its end (the baseline)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from aiortc.contrib.media import MediaRecorder
from aiortc.mediastreams import MediaStreamTrack

SECONDS_PER_HOUR = 3600.0


@dataclass(frozen=True)
class Result:
    name: str
    cpu_s: float
    wall_s: float
    bytes: int  # of the files written
    media_s: float  # seconds of audio or video recorded (per track, times the tracks)

    @property
    def cpu_s_per_hour(self) -> float:
        return self.cpu_s / self.media_s * SECONDS_PER_HOUR

    @property
    def mb_per_hour(self) -> float:
        return self.bytes / self.media_s * SECONDS_PER_HOUR / 1e6

    @property
    def core_percent(self) -> float:
        return 100.0 * self.cpu_s / self.media_s


def measure(name: str, media_s: float, run: Callable[[], Sequence[Path]]) -> Result:
    """CPU (every thread of this process: fsync threads, encoders' threads) and wall time of ``run``, and the
    size of the files it returns."""
    wall = time.perf_counter()
    cpu = time.process_time()
    paths = run()
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    return Result(name, cpu, wall, sum(p.stat().st_size for p in paths), media_s)


async def record_to_end(path: Path, track: MediaStreamTrack) -> None:
    """aiortc's MediaRecorder writing ``track`` into ``path`` until the track ends."""
    recorder = MediaRecorder(str(path))
    recorder.addTrack(track)
    await recorder.start()
    while track.readyState != "ended":
        await asyncio.sleep(0.01)
    await asyncio.sleep(0)
    await recorder.stop()
