"""The parent's side of the caption process: start it, write frames, collect its events as they arrive.

Every event keeps the monotonic time it was read at, so callers can measure caption delay. ``send`` writes
to the pipe directly: a caller on an event loop that must never wait (the media process) hands frames to a
thread that calls it.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import IO, Any

import av
import numpy as np

from recordings.opuscodec import Encoder
from transcription.audio import SAMPLE_RATE_HZ, Audio
from transcription.captions_worker import KIND_CLOSE, KIND_END_OF_SPEECH, KIND_OPUS, encode_frame

READY_TIMEOUT_S = 120.0
OPUS_RATE_HZ = 48000
OPUS_FRAME_S = 0.020
OPUS_FRAME_SAMPLES = round(OPUS_RATE_HZ * OPUS_FRAME_S)


@dataclass(frozen=True)
class Event:
    received_s: float  # time.monotonic() when the line was read
    data: dict[str, Any]


class CaptionProcess:
    """``python -m transcription.captions_worker`` as a child process."""

    def __init__(self, args: Sequence[str] = (), *, env: dict[str, str] | None = None) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "transcription.captions_worker", *args],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env=env,
        )
        self.events: list[Event] = []
        self._changed = threading.Condition()
        self._stdin: IO[bytes] = self.process.stdin  # type: ignore[assignment]
        self._reader = threading.Thread(target=self._read, name="caption-events", daemon=True)
        self._reader.start()

    @property
    def pid(self) -> int:
        return self.process.pid

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            event = Event(time.monotonic(), json.loads(line))
            with self._changed:
                self.events.append(event)
                self._changed.notify_all()
        with self._changed:
            self._changed.notify_all()

    def wait_for(self, kind: str, timeout_s: float) -> Event:
        """The first event of type ``kind``; raises TimeoutError when none comes in time."""
        deadline = time.monotonic() + timeout_s
        with self._changed:
            while True:
                for event in self.events:
                    if event.data.get("type") == kind:
                        return event
                left = deadline - time.monotonic()
                if left <= 0 or (not self._reader.is_alive() and self.process.poll() is not None):
                    exit_code = self.process.poll()
                    raise TimeoutError(f"no {kind!r} event from the caption process (exit {exit_code})")
                self._changed.wait(min(left, 0.5))

    def wait_ready(self, timeout_s: float = READY_TIMEOUT_S) -> Event:
        return self.wait_for("ready", timeout_s)

    def send(self, frame: bytes) -> None:
        self._stdin.write(frame)
        self._stdin.flush()

    def send_opus(self, unit: str, time_s: float, packet: bytes) -> None:
        self.send(encode_frame(KIND_OPUS, unit, time_s, packet))

    def end_of_speech(self, unit: str) -> None:
        self.send(encode_frame(KIND_END_OF_SPEECH, unit))

    def close(self, timeout_s: float = 60.0) -> Event:
        """Ask it to finalise and exit; the 'closed' event (CPU time, peak RSS)."""
        self.send(encode_frame(KIND_CLOSE, ""))
        self._stdin.close()
        closed = self.wait_for("closed", timeout_s)
        self.process.wait(timeout_s)
        return closed

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()

    def captions(self, *, final: bool | None = None) -> list[Event]:
        with self._changed:
            found = [e for e in self.events if e.data.get("type") == "caption"]
        return [e for e in found if final is None or e.data["final"] is final]


def opus_packets(audio: Audio, *, bitrate_bps: int = 32000) -> list[bytes]:
    """16 kHz mono float32 speech as the 20 ms Opus packets (48 kHz) a browser would send."""
    resampler = av.AudioResampler(format="s16", layout="mono", rate=OPUS_RATE_HZ)
    pcm = (np.clip(audio, -1.0, 1.0) * 32767.0).astype(np.int16).reshape(1, -1)
    frame = av.AudioFrame.from_ndarray(pcm, format="s16", layout="mono")
    frame.sample_rate = SAMPLE_RATE_HZ
    parts = [f.to_ndarray().reshape(-1) for f in [*resampler.resample(frame), *resampler.resample(None)]]
    samples = np.concatenate(parts) if parts else np.zeros(0, dtype=np.int16)
    samples = np.pad(samples, (0, -samples.size % OPUS_FRAME_SAMPLES))
    encoder = Encoder(1, bitrate_bps=bitrate_bps)
    try:
        return [
            encoder.encode(samples[i : i + OPUS_FRAME_SAMPLES].reshape(-1, 1))
            for i in range(0, samples.size, OPUS_FRAME_SAMPLES)
        ]
    finally:
        encoder.close()


def feed_realtime(
    process: CaptionProcess, unit: str, packets: Sequence[bytes], *, start_s: float = 0.0, speed: float = 1.0
) -> float:
    """Send ``packets`` (20 ms each, the first at ``start_s`` on the meeting clock) paced at ``speed`` × real
    time. Returns the monotonic time that corresponds to meeting-clock 0 (packet i is sent at
    ``t0 + (start_s + i * 0.02) / speed``)."""
    t0 = time.monotonic() - start_s / speed
    for index, packet in enumerate(packets):
        at_s = start_s + index * OPUS_FRAME_S
        wait_s = t0 + at_s / speed - time.monotonic()
        if wait_s > 0:
            time.sleep(wait_s)
        process.send_opus(unit, at_s, packet)
    return t0
