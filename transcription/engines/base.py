"""What every engine is: the Transcriber protocol, shared decoding settings and the hallucination filter."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

from transcription.segment import Doubt, Segment
from transcription.wer import normalize_vi

logger = logging.getLogger(__name__)

ProgressCallback = Callable[[float], None]
AudioInput = Path | str | npt.NDArray[np.float32]

LANGUAGE = "vi"
DEFAULT_THREADS = 2
DEFAULT_BEAM_SIZE = 5
# Temperature fallback: decode again hotter when the output repeats itself or is unlikely (Whisper's default).
TEMPERATURES: tuple[float, ...] = (0.0, 0.2, 0.4, 0.6, 0.8, 1.0)
COMPRESSION_RATIO_THRESHOLD = 2.4
LOG_PROB_THRESHOLD = -1.0
NO_SPEECH_THRESHOLD = 0.6
# faster-whisper gives hotwords at most half the 448-token context; a short list of names is what helps.
MAX_HOTWORDS = 24
# A segment made only of hotwords/prompt phrases is dropped when it repeats them at least this often, or when
# the model itself thinks it is probably not speech.
MIN_ECHO_REPEATS = 2
ECHO_NO_SPEECH_PROB = 0.5
# Whisper's own silence test (no_speech_prob above its threshold and a low average log-probability) with a
# looser log-probability bound: in trailing silence after speech, the base model emits short runs of names or
# syllables ("Chư Mố xã Ia", "Chê Chê Chê") at no_speech_prob ≈ 0.8, avg_logprob ≈ -0.8..-1.0, and word
# probabilities near zero. Measured on the VIVOS dev clips followed by 4 s of near-silence.
SILENCE_NO_SPEECH_PROB = 0.6
SILENCE_AVG_LOGPROB = -0.6
MIN_MEAN_WORD_PROBABILITY = 0.25


@dataclass(frozen=True)
class EngineOptions:
    """Decoding settings shared by the engines (the defaults are the measured ones in field-notes.md)."""

    threads: int = DEFAULT_THREADS
    beam_size: int = DEFAULT_BEAM_SIZE
    language: str = LANGUAGE
    word_timestamps: bool = True
    temperatures: tuple[float, ...] = TEMPERATURES


@runtime_checkable
class Transcriber(Protocol):
    """A speech-to-text engine: audio (a file, or 16 kHz mono float32 samples) → segments."""

    name: str

    def transcribe(
        self,
        audio: AudioInput,
        *,
        hotwords: Sequence[str] = (),
        progress: ProgressCallback | None = None,
    ) -> list[Segment]:
        """Segments in time order, times relative to ``audio``; ``progress`` receives 0..1 as it goes."""
        ...


def limit_hotwords(hotwords: Sequence[str]) -> list[str]:
    """Distinct non-empty hotwords, in order, at most :data:`MAX_HOTWORDS`."""
    seen: list[str] = []
    for word in hotwords:
        word = " ".join(word.split())
        if word and word not in seen:
            seen.append(word)
    if len(seen) > MAX_HOTWORDS:
        logger.warning("%d hotwords given; only the first %d are used", len(seen), MAX_HOTWORDS)
    return seen[:MAX_HOTWORDS]


def echo_count(text: str, phrases: Sequence[str]) -> int | None:
    """How many prompt/hotword phrases ``text`` consists of, or None when it holds anything else.

    Comparison is on normalised text (NFC, lower case, no punctuation); longer phrases are matched first.
    """
    words = normalize_vi(text).split()
    candidates = sorted({tuple(normalize_vi(p).split()) for p in phrases} - {()}, key=len, reverse=True)
    if not words or not candidates:
        return None
    count, index = 0, 0
    while index < len(words):
        for phrase in candidates:
            if tuple(words[index : index + len(phrase)]) == phrase:
                index += len(phrase)
                count += 1
                break
        else:
            return None
    return count


def doubt_of(segment: Segment) -> Doubt | None:
    """Why the model doubts a segment: it rates it as probably not speech ("no_speech"), or it barely
    believes its words ("low_confidence"); None when neither."""
    if (
        segment.no_speech_prob is not None
        and segment.avg_logprob is not None
        and segment.no_speech_prob >= SILENCE_NO_SPEECH_PROB
        and segment.avg_logprob < SILENCE_AVG_LOGPROB
    ):
        return "no_speech"
    if segment.words:
        mean = sum(w.probability for w in segment.words) / len(segment.words)
        if mean < MIN_MEAN_WORD_PROBABILITY:
            return "low_confidence"
    return None


def clean_segments(
    segments: Sequence[Segment], phrases: Sequence[str], *, keep_doubtful: bool = False
) -> list[Segment]:
    """Drop empty segments and those that only repeat the hotwords/prompt (a Whisper hallucination).

    A lone hotword is kept when the model is confident it is speech (a roll-call answer "Ia Tul" is real);
    it is dropped when repeated (``MIN_ECHO_REPEATS``) or when ``no_speech_prob`` says it is not speech.

    Segments the model doubts (:func:`doubt_of`: "decoded from silence", words barely believed) are dropped
    by default (live captions); with ``keep_doubtful`` (the meeting's transcript) they are kept with their
    ``doubt`` set, and so is a lone hotword rated as not speech: real speech at a low level or over noise
    looks like that too, and only the clerk, listening, can tell. A hotword run repeated is still dropped:
    that is the model reciting its prompt, not anything said.
    """
    kept: list[Segment] = []
    for segment in segments:
        if not normalize_vi(segment.text):
            continue
        doubt = doubt_of(segment)
        repeats = echo_count(segment.text, phrases)
        if repeats is not None and repeats >= MIN_ECHO_REPEATS:
            logger.info("dropped a segment that only repeats the prompt: %r", segment.text)
            continue
        if repeats is not None and segment.no_speech_prob is not None:
            if segment.no_speech_prob >= ECHO_NO_SPEECH_PROB:
                doubt = "no_speech"
        if doubt is not None:
            if not keep_doubtful:
                logger.info("dropped a doubtful segment (%s): %r", doubt, segment.text)
                continue
            logger.info("kept a doubtful segment (%s) for the clerk: %r", doubt, segment.text)
            segment = replace(segment, doubt=doubt)
        kept.append(segment)
    return kept
