"""Audio helpers for tests that check speech arrived as itself: decode to mono PCM, how long the speech in it
lasts, and how alike two waveforms are."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np


def pcm(path: Path, rate: int = 16000) -> np.ndarray:
    with av.open(str(path)) as c:
        res = av.AudioResampler(format="flt", layout="mono", rate=rate)
        chunks = [f.to_ndarray().reshape(-1) for fr in c.decode(audio=0) for f in res.resample(fr)]
    return np.concatenate(chunks) if chunks else np.zeros(0, np.float32)


def speech_span_s(x: np.ndarray, rate: int = 16000, frame: int = 320) -> float:
    """Seconds from the first to the last 20 ms frame louder than -40 dBFS."""
    n = len(x) // frame
    rms = np.sqrt((x[: n * frame].reshape(n, frame) ** 2).mean(axis=1) + 1e-12)
    loud = np.nonzero(20 * np.log10(rms) > -40)[0]
    return 0.0 if len(loud) == 0 else (loud[-1] - loud[0] + 1) * frame / rate


def waveform_correlation(a: np.ndarray, b: np.ndarray) -> float:
    """Pearson correlation of two signals over their overlap at the best lag (FFT cross-correlation)."""
    n = len(a) + len(b) - 1
    size = 1 << (n - 1).bit_length()
    xc = np.fft.irfft(np.fft.rfft(a, size) * np.conj(np.fft.rfft(b, size)), size)
    lag = int(np.argmax(np.concatenate([xc[-(len(b) - 1) :], xc[: len(a)]]))) - (len(b) - 1)
    a0, b0 = max(lag, 0), max(-lag, 0)
    length = min(len(a) - a0, len(b) - b0)
    return float(np.corrcoef(a[a0 : a0 + length], b[b0 : b0 + length])[0, 1])


def loud_windows(x: np.ndarray, rate: int = 16000, window_s: float = 0.25) -> int:
    """How many `window_s` windows of `x` are louder than -40 dBFS: the windows `aligned_share` can place."""
    w = int(window_s * rate)
    return sum(_loud(x[start : start + w]) for start in range(0, len(x) - w + 1, w))


def _loud(win: np.ndarray) -> bool:
    return bool(20 * np.log10(np.sqrt((win.astype(np.float64) ** 2).mean()) + 1e-12) >= -40)


def aligned_share(
    heard: np.ndarray,
    source: np.ndarray,
    rate: int = 16000,
    window_s: float = 0.25,
    tolerance_s: float = 0.02,
    period: int | None = None,
) -> float:
    """How much of `heard` is `source` played in order: `heard` is cut into windows, each loud window is
    located in `source` (normalised cross-correlation), and the share of loud windows found at one offset
    (within `tolerance_s` of the offset most windows agree on) is returned. A recording of the file plays its
    windows at one offset (share near 1); speech that only sounds alike lands each window somewhere else (near
    0). `period`: the length in samples of a file that `source` repeats (a looped file), so offsets one loop
    apart are one."""
    w = int(window_s * rate)
    offsets = []
    energy = np.concatenate([[0.0], np.cumsum(source.astype(np.float64) ** 2)])
    for start in range(0, len(heard) - w + 1, w):
        win = heard[start : start + w]
        if not _loud(win) or len(source) < w:
            continue
        size = 1 << (len(source) + w - 2).bit_length()
        xc = np.fft.irfft(np.fft.rfft(source, size) * np.conj(np.fft.rfft(win, size)), size)
        xc = xc[: len(source) - w + 1] / np.sqrt(energy[w:] - energy[: len(source) - w + 1] + 1e-9)
        offsets.append(int(np.argmax(xc)) - start)
    if not offsets:
        return 0.0
    found = np.array(offsets)
    if period:
        found %= period
    # the offset most windows agree on (not the median: with an even count the median of two clusters is
    # between them, and with few windows it is no window's offset)
    distance = np.abs(found[:, None] - found[None, :])
    if period:
        distance = np.minimum(distance, period - distance)
    agree = distance <= tolerance_s * rate
    return float(agree.sum(axis=1).max() / len(found))
