"""Transcribing a meeting's tracks (one per connection point) separately, merged on the meeting clock.

No job queue here: the server owns it and calls :func:`transcribe_tracks` from its worker.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from recordings.manifest import TrackRecord
from transcription.audio import SAMPLE_RATE_HZ, TimeMap, cut_intervals, probe_duration_s, stream_audio
from transcription.engines.base import ProgressCallback, Transcriber
from transcription.errors import AudioDecodeError
from transcription.segment import Segment, UncertainReason, Word
from transcription.windows import WINDOW_S, split_windows

logger = logging.getLogger(__name__)

MIN_UNCERTAIN_LOSS_S = 0.06  # an unrecovered loss at least this long makes the words said over it uncertain


def lost_spans(track: TrackRecord, *, min_s: float = MIN_UNCERTAIN_LOSS_S) -> tuple[tuple[float, float], ...]:
    """A recorded track's unrecovered packet-loss spans (the manifest's ``losses``, adjacent ones merged) of
    at least ``min_s``, relative to the track: what :class:`TrackInput` takes as ``lost``."""
    return tuple(
        (max(0.0, span.start_s - track.start_s), max(0.0, span.end_s - track.start_s))
        for span in track.losses
        if span.end_s - span.start_s >= min_s - 1e-6
    )


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
    lost: tuple[
        tuple[float, float], ...
    ] = ()  # (start_s, end_s) relative to the track: audio lost in transit (silence): words over it uncertain


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
    # a word of it (or, without word times, the segment) overlaps lost audio, or the engine doubts it
    uncertain: bool = False
    uncertain_reason: UncertainReason | None = None  # set exactly when uncertain
    confidence: float | None = None  # 0..1, Segment.confidence: the words' mean probability


def _weights(durations: Sequence[float | None]) -> list[float]:
    """Each track's share of the work: its duration (1 s for an unreadable track) over the total."""
    sizes = [max(d, 1e-3) if d is not None else 1.0 for d in durations]
    total = sum(sizes)
    return [d / total for d in sizes]


def transcribe_track(
    index: int,
    track: TrackInput,
    engine: Transcriber,
    *,
    hotwords: Sequence[str] = (),
    progress: ProgressCallback | None = None,
    window_s: float = WINDOW_S,
    duration_s: float | None = None,
) -> list[TranscribedSegment]:
    """Transcribe one track without its ``skip`` intervals; times mapped to the meeting clock.

    The track is decoded as a stream and transcribed window by window (:mod:`transcription.windows`), so
    memory stays bounded however long the meeting was. ``duration_s`` (probed when not given) scales the
    progress reports.
    """
    total_s = duration_s if duration_s is not None else _duration_or_none(track.path)
    placed: list[TranscribedSegment] = []
    for window in split_windows(stream_audio(track.path), window_s=window_s):
        inner: ProgressCallback | None = None
        if progress is not None and total_s:
            inner = _scaled(progress, window.offset_s / total_s, window.duration_s / total_s)
        skip = [(a - window.offset_s, b - window.offset_s) for a, b in track.skip]
        cut = cut_intervals(window.samples, skip)
        if cut.audio.size < SAMPLE_RATE_HZ // 10:
            continue
        segments = engine.transcribe(cut.audio, hotwords=hotwords, progress=inner)
        placed.extend(_place(index, track, segments, cut.time_map, track.offset_s + window.offset_s))
    if progress is not None:
        progress(1.0)
    if not placed:
        logger.info("track %d (%s): nothing transcribed", index, track.unit_code)
    logger.info("track %d (%s, %s): %d segments", index, track.unit_code, track.path.name, len(placed))
    return placed


def _duration_or_none(path: Path) -> float | None:
    try:
        return probe_duration_s(path)
    except AudioDecodeError:
        return None  # stream_audio raises the readable error


def _place(
    index: int, track: TrackInput, segments: Sequence[Segment], time_map: TimeMap, shift_s: float
) -> list[TranscribedSegment]:
    """Engine segments (times in the cut window) placed on the meeting clock."""
    to_original = time_map.to_original
    lost = [(track.offset_s + a, track.offset_s + b) for a, b in track.lost]

    def over_loss(start_s: float, end_s: float) -> bool:
        return any(start_s < b and end_s > a for a, b in lost)

    placed: list[TranscribedSegment] = []
    for segment in segments:
        start = to_original(segment.start_s, side="start")
        end = max(start, to_original(segment.end_s, side="end"))
        words = []
        for w in segment.words:
            word_start = shift_s + to_original(w.start_s, side="start")
            word_end = shift_s + to_original(w.end_s, side="end")
            words.append(Word(word_start, word_end, w.text, w.probability, over_loss(word_start, word_end)))
        said_over_loss = (
            any(w.uncertain for w in words) if words else over_loss(shift_s + start, shift_s + end)
        )
        reason: UncertainReason | None = "loss" if said_over_loss else segment.doubt
        placed.append(
            TranscribedSegment(
                start_s=shift_s + start,
                end_s=shift_s + end,
                unit_code=track.unit_code,
                unit_name=track.unit_name,
                speaker=track.speaker,
                text=segment.text,
                track_index=index,
                words=tuple(words),
                avg_logprob=segment.avg_logprob,
                uncertain=reason is not None,
                uncertain_reason=reason,
                confidence=segment.confidence,
            )
        )
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
    durations = [_duration_or_none(track.path) for track in tracks]
    weights = _weights(durations) if tracks else []
    done = 0.0
    merged: list[TranscribedSegment] = []
    for index, track in enumerate(tracks):
        inner: ProgressCallback | None = None
        if progress is not None:
            inner = _scaled(progress, done, weights[index])
        merged.extend(
            transcribe_track(
                index, track, engine, hotwords=hotwords, progress=inner, duration_s=durations[index]
            )
        )
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
