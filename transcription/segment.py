"""Typed transcript pieces returned by every engine: a Segment and the Words inside it."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

# Why the engine doubts a segment it kept: the model rates it as probably not speech ("no_speech"), or it
# barely believes its own words ("low_confidence"). The pipeline adds "loss" (audio lost in transit).
Doubt = Literal["no_speech", "low_confidence"]

# Why a transcript segment is uncertain, the first that applies: audio lost in transit under it, the model
# rating it as probably not speech, the model barely believing its words.
UncertainReason = Literal["loss", "no_speech", "low_confidence"]


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
    doubt: Doubt | None = None  # kept, but doubtful: the clerk checks it (engines.base.clean_segments)

    @property
    def duration_s(self) -> float:
        return self.end_s - self.start_s

    @property
    def confidence(self) -> float | None:
        """How sure the engine is of the text, 0..1: the mean probability of its words; without word times
        exp(avg_logprob) (the mean token probability, geometric); None when the engine gave neither."""
        if self.words:
            value = sum(w.probability for w in self.words) / len(self.words)
        elif self.avg_logprob is not None:
            value = math.exp(self.avg_logprob)
        else:
            return None
        return min(1.0, max(0.0, value))
