"""Speech as Opus packets with in-band FEC, and what a recorded track decodes to, for the loss tests.

The speech is two of tests/speech.py's sentences (espeak-ng's Vietnamese voice, made once per session;
nothing read from ../shared/eval, so a fresh clone passes); the packets come from libopus with FEC on, 20 ms
each, as a browser sends them.
"""

from __future__ import annotations

import wave
from pathlib import Path

import numpy as np
import numpy.typing as npt

from recordings.mixing import decode_track_pcm
from recordings.opuscodec import Encoder
from tests.speech import spoken

SAMPLE_RATE_HZ = 48000
FRAME_SAMPLES = 960
BITRATE_BPS = 32000
SPEECH_KEYS = ("GB01", "GB07")  # tests/speech.py: about 8 s together


def espeak_pcm() -> npt.NDArray[np.int16]:
    """About 8 s of Vietnamese speech at 48 kHz mono, int16."""
    wav = spoken(SPEECH_KEYS, SAMPLE_RATE_HZ)
    with wave.open(str(wav)) as w:
        assert (w.getframerate(), w.getnchannels(), w.getsampwidth()) == (SAMPLE_RATE_HZ, 1, 2)
        return np.frombuffer(w.readframes(w.getnframes()), dtype="<i2").astype(np.int16)


def encode_fec(pcm: npt.NDArray[np.int16], *, fec: bool = True, loss_percent: int = 10) -> list[bytes]:
    encoder = Encoder(1, bitrate_bps=BITRATE_BPS, fec=fec, packet_loss_percent=loss_percent)
    count = len(pcm) // FRAME_SAMPLES
    frames = (pcm[i * FRAME_SAMPLES : (i + 1) * FRAME_SAMPLES].reshape(-1, 1) for i in range(count))
    return [encoder.encode(frame) for frame in frames]


def decoded(path: Path) -> npt.NDArray[np.float64]:
    return np.asarray(decode_track_pcm(path), dtype=np.float64).reshape(-1)


def frame_correlation(
    reference: npt.NDArray[np.float64], other: npt.NDArray[np.float64], index: int
) -> float:
    """Pearson correlation of frame ``index`` (20 ms, on the decoded output's clock) of two signals."""
    part = slice(index * FRAME_SAMPLES, (index + 1) * FRAME_SAMPLES)
    a, b = reference[part], other[part]
    if np.std(a) == 0 or np.std(b) == 0:
        return 0.0
    return float(np.corrcoef(a, b)[0, 1])


def loud(reference: npt.NDArray[np.float64], index: int, floor: float = 0.01) -> bool:
    part = reference[index * FRAME_SAMPLES : (index + 1) * FRAME_SAMPLES]
    return bool(np.sqrt(np.mean(part**2)) > floor)


def snr_db(reference: npt.NDArray[np.float64], other: npt.NDArray[np.float64]) -> float:
    n = min(len(reference), len(other))
    error = reference[:n] - other[:n]
    return float(10 * np.log10(np.sum(reference[:n] ** 2) / max(1e-12, np.sum(error**2))))
