"""Helpers shared by the transcription tests: the eval clips (read from <repo>/../shared/eval at test time,
never copied into the repo) and Opus files made with PyAV."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import av
import numpy as np

from transcription.audio import SAMPLE_RATE_HZ, decode_audio

REPO = Path(__file__).resolve().parents[2]
EVAL_DIR = REPO.parent / "shared" / "eval" / "vivos-spk01-dev"

AudioMaker = Callable[[np.ndarray, Path], Path]


def read_references() -> dict[str, str]:
    refs: dict[str, str] = {}
    for line in (EVAL_DIR / "transcripts.tsv").read_text(encoding="utf-8").splitlines():
        if line.strip():
            name, text = line.split("\t", 1)
            refs[name] = text.strip()
    return refs


def clip_path(name: str) -> Path:
    return EVAL_DIR / f"VIVOSSPK01_{name}.wav"


def clip_audio(name: str) -> np.ndarray:
    return decode_audio(clip_path(name))


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
