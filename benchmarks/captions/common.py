"""What the caption benchmarks (run, simulate, meeting) share: dev-set speech, the model, the offline pass.

The speech: the VIVOS dev clips (<repo>/../shared/eval/vivos-spk01-dev, read at run time, never copied) when
present, else the espeak-ng giao ban sentences of tests/speech.py; ``Speech.corpus`` says which.
"""

from __future__ import annotations

import argparse
import os
import time
from dataclasses import dataclass

import numpy as np

from tests import speech
from transcription.audio import SAMPLE_RATE_HZ, decode_audio
from transcription.engines import create_engine
from transcription.models import DEFAULT_CACHE_DIR, ModelInfo, discover_model
from transcription.wer import error_rates

PAUSE_S = 0.8  # silence after each clip


@dataclass(frozen=True)
class Speech:
    corpus: str  # which speech, for the output
    utterances: tuple[speech.Utterance, ...]
    audio: np.ndarray  # the clips joined, each followed by a pause; float32 at SAMPLE_RATE_HZ
    reference: str  # what was said, the clips' texts joined

    @property
    def duration_s(self) -> float:
        return self.audio.size / SAMPLE_RATE_HZ


def load_speech(clips: int, pause_s: float = PAUSE_S) -> Speech:
    """The first ``clips`` clips (VIVOS, else espeak-ng), joined with ``pause_s`` of silence after each."""
    if speech.vivos_present():
        corpus, utterances = "VIVOS spk01 dev (real speech)", speech.vivos()[:clips]
    else:
        corpus = "espeak-ng Vietnamese (synthesised; VIVOS not found)"
        utterances = speech.shippable()[:clips]
    pause = np.zeros(round(pause_s * SAMPLE_RATE_HZ), dtype=np.float32)
    audio = np.concatenate([part for u in utterances for part in (decode_audio(u.path), pause)])
    return Speech(corpus, utterances, audio, " ".join(u.text for u in utterances))


def add_clips_argument(parser: argparse.ArgumentParser, default: int) -> None:
    parser.add_argument(
        "--clips", type=int, default=default, help=f"how many clips / sentences (default {default})"
    )


def asr_model() -> ModelInfo:
    """The model the caption process loads: GIAOBAN_ASR_MODEL, else the packaged one."""
    setting = os.environ.get("GIAOBAN_ASR_MODEL") or None
    return discover_model(setting, cache_dir=DEFAULT_CACHE_DIR.expanduser())


@dataclass(frozen=True)
class OfflinePass:
    text: str
    wer: float  # against the references
    wall_s: float  # the decode alone (the model loaded before)


def offline_pass(model: ModelInfo, audio: np.ndarray, reference: str, threads: int) -> OfflinePass:
    """The baseline: the default engine (30 s windows) on the whole audio, in this process."""
    engine = create_engine("faster-whisper", model, threads=threads)
    started = time.monotonic()
    text = " ".join(s.text for s in engine.transcribe(audio))
    wall_s = time.monotonic() - started
    return OfflinePass(text, error_rates([reference], [text]).wer, wall_s)
