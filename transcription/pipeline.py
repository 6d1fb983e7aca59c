"""Transcribing a meeting's tracks (one per connection point) separately, merged on the meeting clock.

No job queue here: the server owns it and calls :func:`transcribe_tracks` from its worker.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from transcription.audio import SAMPLE_RATE_HZ, cut_intervals, decode_audio, probe_duration_s
from transcription.engines.base import ProgressCallback, Transcriber
from transcription.errors import AudioDecodeError
from transcription.segment import Word

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrackInput:
    """One recorded track: where it is, when it starts on the meeting clock, what to skip, who speaks."""

    path: Path
    offset_s: float  # the track's start on the meeting clock
    unit_code: str
    unit_name: str
    speaker: str
    skip: tuple[
        tuple[float, float], ...
    ] = ()  # (start_s, end_s) relative to the track: muted, not transcribed


@dataclass(frozen=True)
class TranscribedSegment:
    """A transcript piece placed on the meeting clock and attributed to its connection point."""

    start_s: float
    end_s: float
    unit_code: str
    unit_name: str
    speaker: str
    text: str
    track_index: int
    words: tuple[Word, ...] = ()  # word times on the meeting clock
    avg_logprob: float | None = None


def _weights(tracks: Sequence[TrackInput]) -> list[float]:
    durations: list[float] = []
    for track in tracks:
        try:
            durations.append(max(probe_duration_s(track.path), 1e-3))
        except AudioDecodeError:
            durations.append(1.0)  # reported when the track's turn comes
    total = sum(durations)
    return [d / total for d in durations]


def transcribe_track(
    index: int,
    track: TrackInput,
    engine: Transcriber,
    *,
    hotwords: Sequence[str] = (),
    progress: ProgressCallback | None = None,
) -> list[TranscribedSegment]:
    """Transcribe one track without its ``skip`` intervals; times mapped to the meeting clock."""
    audio = decode_audio(track.path)
    cut = cut_intervals(audio, track.skip)
    if cut.audio.size < SAMPLE_RATE_HZ // 10:
        logger.info("track %d (%s): nothing left to transcribe after skipping", index, track.unit_code)
        if progress is not None:
            progress(1.0)
        return []
    segments = engine.transcribe(cut.audio, hotwords=hotwords, progress=progress)
    to_original = cut.time_map.to_original
    placed: list[TranscribedSegment] = []
    for segment in segments:
        start = to_original(segment.start_s, side="start")
        end = max(start, to_original(segment.end_s, side="end"))
        placed.append(
            TranscribedSegment(
                start_s=track.offset_s + start,
                end_s=track.offset_s + end,
                unit_code=track.unit_code,
                unit_name=track.unit_name,
                speaker=track.speaker,
                text=segment.text,
                track_index=index,
                words=tuple(
                    Word(
                        start_s=track.offset_s + to_original(w.start_s, side="start"),
                        end_s=track.offset_s + to_original(w.end_s, side="end"),
                        text=w.text,
                        probability=w.probability,
                    )
                    for w in segment.words
                ),
                avg_logprob=segment.avg_logprob,
            )
        )
    logger.info("track %d (%s, %s): %d segments", index, track.unit_code, track.path.name, len(placed))
    return placed


def transcribe_tracks(
    tracks: Sequence[TrackInput],
    engine: Transcriber,
    *,
    hotwords: Sequence[str] = (),
    progress: ProgressCallback | None = None,
) -> list[TranscribedSegment]:
    """Transcribe each track separately and merge the segments on the meeting clock, ordered by time.

    ``progress`` receives the overall share done (0..1), tracks weighted by their duration. A track that
    cannot be decoded raises :class:`AudioDecodeError` naming its file; the caller decides whether to go on
    without it.
    """
    weights = _weights(tracks) if tracks else []
    done = 0.0
    merged: list[TranscribedSegment] = []
    for index, track in enumerate(tracks):
        inner: ProgressCallback | None = None
        if progress is not None:
            inner = _scaled(progress, done, weights[index])
        merged.extend(transcribe_track(index, track, engine, hotwords=hotwords, progress=inner))
        done += weights[index]
        if progress is not None:
            progress(min(1.0, done))
    if progress is not None:
        progress(1.0)
    merged.sort(key=lambda s: (s.start_s, s.end_s, s.track_index))
    return merged


def _scaled(progress: ProgressCallback, base: float, weight: float) -> Callable[[float], None]:
    high = [base]

    def report(share: float) -> None:
        value = min(1.0, base + weight * max(0.0, min(1.0, share)))
        if value >= high[0]:  # never report going backwards
            high[0] = value
            progress(value)

    return report
