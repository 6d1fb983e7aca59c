"""Typed transcript pieces returned by every engine: a Segment and the Words inside it."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Word:
    """One word with its time span (seconds, relative to the audio given to the engine)."""

    start_s: float
    end_s: float
    text: str
    probability: float
    uncertain: bool = False  # said (partly) where the recording lost audio nothing recovered


@dataclass(frozen=True)
class Segment:
    """A piece of transcript; times in seconds relative to the audio given to the engine."""

    start_s: float
    end_s: float
    text: str
    words: tuple[Word, ...] = ()
    avg_logprob: float | None = None
    no_speech_prob: float | None = None

    @property
    def duration_s(self) -> float:
        return self.end_s - self.start_s
