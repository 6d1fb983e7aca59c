"""Helpers shared by the transcription tests: speech by key (tests/speech.py: the synthesised giao ban
sentences GB01…GB12 the repository can carry) and Opus files made with PyAV."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import av
import numpy as np

from tests.speech import shippable_utterance
from transcription.audio import SAMPLE_RATE_HZ, decode_audio

AudioMaker = Callable[[np.ndarray, Path], Path]


def clip_path(key: str) -> Path:
    """The 16 kHz WAV of one shippable sentence (``GB01``…)."""
    return shippable_utterance(key).path


def clip_audio(key: str) -> np.ndarray:
    return decode_audio(clip_path(key))


def encode_opus(audio: np.ndarray, out: Path, *, container_format: str = "ogg") -> Path:
    """Encode 16 kHz mono float32 samples to Opus (48 kHz, as the recorder stores it) with PyAV."""
    with av.open(str(out), mode="w", format=container_format) as container:
        stream = container.add_stream("libopus", rate=48000)
        stream.layout = "mono"
        resampler = av.AudioResampler(format="s16", layout="mono", rate=48000)
        pcm = (np.clip(audio, -1.0, 1.0) * 32767.0).astype(np.int16).reshape(1, -1)
        frame = av.AudioFrame.from_ndarray(pcm, format="s16", layout="mono")
        frame.sample_rate = SAMPLE_RATE_HZ
        for resampled in [*resampler.resample(frame), *resampler.resample(None)]:
            for packet in stream.encode(resampled):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    return out
