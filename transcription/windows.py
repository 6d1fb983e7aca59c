"""Long tracks in bounded windows: a decoded audio stream cut at quiet moments into pieces of at most a few
minutes, so that transcribing a two-hour track costs the memory of one window.

A connection point's track lasts the whole meeting, mostly silence while the others speak. Held whole, one
hour is 230 MB of float32 samples, and faster-whisper's voice-activity detector needs about three times that
again at once (measured: peak RSS 1.16 GB for VAD over 1 h of audio). Windows of
:data:`WINDOW_S` keep the worker's peak near the model's own size whatever the meeting's length.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import numpy as np

from transcription.audio import SAMPLE_RATE_HZ, Audio

# At most this much audio goes to the engine at once (≈ 19 MB of samples, ≈ 60 MB of VAD working memory).
WINDOW_S = 300.0
# A window ends at the quietest moment of its last SPLIT_SEARCH_S seconds, so a cut rarely splits a word.
SPLIT_SEARCH_S = 20.0
# Loudness is compared over frames this long when looking for the quietest moment.
SPLIT_FRAME_S = 0.1


@dataclass(frozen=True)
class AudioWindow:
    """A stretch of a track: its samples and where it starts in the track (seconds)."""

    offset_s: float
    samples: Audio

    @property
    def duration_s(self) -> float:
        return self.samples.size / SAMPLE_RATE_HZ

    @property
    def end_s(self) -> float:
        return self.offset_s + self.duration_s


def quietest_split(samples: Audio, first: int, last: int, frame: int) -> int:
    """The sample index in ``[first, last)`` at the centre of the quietest ``frame``-long stretch."""
    count = (last - first) // frame
    if count <= 0:
        return last
    frames = samples[first : first + count * frame].reshape(count, frame).astype(np.float64)
    energy = np.mean(frames * frames, axis=1)
    # The latest of equally quiet frames: windows stay as long as allowed.
    best = count - 1 - int(np.argmin(energy[::-1]))
    return first + best * frame + frame // 2


def split_windows(
    pieces: Iterable[Audio],
    *,
    window_s: float = WINDOW_S,
    search_s: float = SPLIT_SEARCH_S,
    sample_rate_hz: int = SAMPLE_RATE_HZ,
) -> Iterator[AudioWindow]:
    """Regroup a stream of decoded pieces into consecutive windows of at most ``window_s`` seconds.

    Every sample lands in exactly one window, in order; a window other than the last ends at the quietest
    :data:`SPLIT_FRAME_S` frame of its final ``search_s`` seconds. An infinite ``window_s`` gives one window.
    """
    if window_s <= 0:
        raise ValueError("window_s must be positive")
    if math.isinf(window_s):  # one window: the whole stream (what the benchmark compares against)
        whole = [piece for piece in pieces if piece.size]
        if whole:
            yield AudioWindow(offset_s=0.0, samples=np.concatenate(whole))
        return
    window = max(1, round(window_s * sample_rate_hz))
    search = min(window - 1, max(0, round(search_s * sample_rate_hz)))
    frame = max(1, round(SPLIT_FRAME_S * sample_rate_hz))
    held: list[Audio] = []
    held_samples = 0
    offset = 0
    for piece in pieces:
        if piece.size == 0:
            continue
        held.append(piece)
        held_samples += piece.size
        if held_samples <= window:
            continue
        buffer = np.concatenate(held)
        while buffer.size > window:
            cut = quietest_split(buffer, window - search, window, frame) if search else window
            yield AudioWindow(offset_s=offset / sample_rate_hz, samples=buffer[:cut].copy())
            offset += cut
            buffer = buffer[cut:]
        held, held_samples = [buffer.copy()], buffer.size
    if held_samples:
        yield AudioWindow(offset_s=offset / sample_rate_hz, samples=np.concatenate(held))
