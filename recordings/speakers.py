"""Who spoke when, from the recorded audio tracks: the speaker timeline of the composed video.

Each participant's tracks are decoded once (streaming), reduced to a level (dBFS) per window on the meeting
clock, muted spans silenced. In every window the loudest participant above the speech gate is the candidate;
the shown speaker changes only after a candidate has led for ``hold_s`` (a cough or a short reply does not
cut the picture), and silence keeps the last speaker. The tracks are the same audio the SFU chose its active
speaker from, so the composition follows the meeting as the participants saw it, with exact timing, and
exists even when transcription failed.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from recordings.manifest import MeetingManifest, TrackRecord
from recordings.mixing import iter_track_pcm

LEVEL_RATE_HZ = 16_000  # decoded at 16 kHz: enough to tell speech from silence, a third of the work
DEFAULT_WINDOW_S = 0.25
DEFAULT_GATE_DBFS = -45.0  # below this nobody speaks (the bots' and microphones' silence is far below)
DEFAULT_HOLD_S = 1.0
SILENT_DBFS = -120.0

logger = logging.getLogger(__name__)

Levels = npt.NDArray[np.float32]


@dataclass(frozen=True)
class Turn:
    """A span on the meeting clock during which ``participant_id`` is shown as the speaker."""

    start_s: float
    end_s: float
    participant_id: str


def track_levels(path: Path, offset_s: float, windows: int, window_s: float) -> Levels:
    """A track's level per meeting-clock window (dBFS; ``SILENT_DBFS`` outside the track)."""
    energy = np.zeros(windows, dtype=np.float64)
    counts = np.zeros(windows, dtype=np.int64)
    per_window = max(1, round(window_s * LEVEL_RATE_HZ))
    position = round(offset_s * LEVEL_RATE_HZ)  # the next sample's index on the meeting clock
    for chunk in iter_track_pcm(path, sample_rate_hz=LEVEL_RATE_HZ):
        index = position + np.arange(len(chunk))
        window = index // per_window
        keep = (window >= 0) & (window < windows)
        squares = chunk[keep].astype(np.float64) ** 2
        np.add.at(energy, window[keep], squares)
        np.add.at(counts, window[keep], 1)
        position += len(chunk)
    with np.errstate(divide="ignore", invalid="ignore"):
        rms = np.sqrt(energy / np.maximum(counts, 1))
        levels = np.where(rms > 0, 20 * np.log10(np.maximum(rms, 1e-12)), SILENT_DBFS)
    return levels.astype(np.float32)


def participant_levels(
    meeting_dir: Path, manifest: MeetingManifest, window_s: float = DEFAULT_WINDOW_S
) -> dict[str, Levels]:
    """Every participant's level per window over the meeting (their tracks combined, muted spans silent)."""
    windows = max(1, math.ceil(manifest.length_s / window_s))
    out: dict[str, Levels] = {}
    for track in manifest.audio_tracks:
        try:
            levels = track_levels(meeting_dir / track.path, track.start_s, windows, window_s)
        except (OSError, ValueError) as exc:  # an unreadable track has no voice in the timeline
            logger.warning("%s: no levels: %s", track.track_id, exc)
            continue
        _silence_muted(levels, track, window_s)
        previous = out.get(track.participant_id)
        out[track.participant_id] = levels if previous is None else np.maximum(previous, levels)
    return out


def _silence_muted(levels: Levels, track: TrackRecord, window_s: float) -> None:
    for span in track.muted:
        first = max(0, math.floor(span.start_s / window_s))
        last = min(len(levels), math.ceil(span.end_s / window_s))
        levels[first:last] = SILENT_DBFS


def speaker_timeline(
    levels: dict[str, Levels],
    length_s: float,
    *,
    window_s: float = DEFAULT_WINDOW_S,
    gate_dbfs: float = DEFAULT_GATE_DBFS,
    hold_s: float = DEFAULT_HOLD_S,
) -> list[Turn]:
    """Turns covering the meeting from the first speech on (before it, nobody is the speaker)."""
    if not levels or length_s <= 0:
        return []
    ids = sorted(levels)
    stacked = np.vstack([levels[p] for p in ids])
    loudest = np.argmax(stacked, axis=0)
    speaking = stacked.max(axis=0) >= gate_dbfs
    hold = max(1, round(hold_s / window_s))
    shown: list[int | None] = []
    current: int | None = None
    candidate, run = -1, 0
    for window in range(stacked.shape[1]):
        if not speaking[window]:
            candidate, run = -1, 0
        elif loudest[window] == current:
            candidate, run = -1, 0
        else:
            if loudest[window] == candidate:
                run += 1
            else:
                candidate, run = int(loudest[window]), 1
            if run >= hold or current is None:
                # the change is placed where the new speaker started leading
                first = window - run + 1
                for back in range(max(0, first), window):
                    shown[back] = candidate
                current, candidate, run = candidate, -1, 0
        shown.append(current)
    turns: list[Turn] = []
    for window, who in enumerate(shown):
        if who is None:
            continue
        start = window * window_s
        end = min(length_s, (window + 1) * window_s)
        if turns and turns[-1].participant_id == ids[who] and abs(turns[-1].end_s - start) < 1e-9:
            turns[-1] = Turn(turns[-1].start_s, end, ids[who])
        else:
            turns.append(Turn(start, end, ids[who]))
    return [t for t in turns if t.end_s > t.start_s]
