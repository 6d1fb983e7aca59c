"""Speech as real Opus packets with realistic RTP timestamps, for the recordings tests.

The speech is the repository's own (tests/speech.py: Vietnamese sentences synthesised with espeak-ng);
packets come from libopus through PyAV, 20 ms each, as a WebRTC sender would produce them.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np
import numpy.typing as npt

from tests.speech import shippable

SAMPLE_RATE_HZ = 48000
PACKET_SAMPLES = 960  # 20 ms at 48 kHz
OPUS_BITRATE_BPS = 32000

Samples = npt.NDArray[np.float32]


def clip_paths(count: int, *, first: int = 0) -> list[Path]:
    """WAV files of ``count`` sentences from the ``first``-th (3–4.5 s each)."""
    utterances = shippable()
    assert len(utterances) >= first + count, f"only {len(utterances)} sentences"
    return [u.path for u in utterances[first : first + count]]


def load_speech(paths: list[Path]) -> Samples:
    """The clips joined, mono float32 at 48 kHz."""
    out: list[Samples] = []
    for path in paths:
        resampler = av.AudioResampler(format="flt", layout="mono", rate=SAMPLE_RATE_HZ)
        with av.open(str(path)) as container:
            for frame in container.decode(audio=0):
                out.extend(f.to_ndarray().reshape(-1) for f in resampler.resample(frame))
            out.extend(f.to_ndarray().reshape(-1) for f in resampler.resample(None))
    return np.concatenate(out).astype(np.float32)


def encode_opus(pcm: Samples, *, bitrate_bps: int = OPUS_BITRATE_BPS) -> list[bytes]:
    """20 ms Opus packets of ``pcm`` (padded to whole packets), from libopus."""
    ctx = av.CodecContext.create("libopus", "w")
    ctx.sample_rate = SAMPLE_RATE_HZ
    ctx.layout = "mono"
    ctx.format = "flt"
    ctx.bit_rate = bitrate_bps
    packets: list[bytes] = []
    count = -(-len(pcm) // PACKET_SAMPLES)
    padded = np.zeros(count * PACKET_SAMPLES, dtype=np.float32)
    padded[: len(pcm)] = pcm
    for index in range(count):
        chunk = padded[index * PACKET_SAMPLES : (index + 1) * PACKET_SAMPLES].reshape(1, -1)
        frame = av.AudioFrame.from_ndarray(chunk, format="flt", layout="mono")
        frame.sample_rate = SAMPLE_RATE_HZ
        frame.pts = index * PACKET_SAMPLES
        packets.extend(bytes(p) for p in ctx.encode(frame))
    packets.extend(bytes(p) for p in ctx.encode(None))
    return packets[:count]


@dataclass(frozen=True)
class Speech:
    """Speech samples and the Opus packets encoded from them."""

    pcm: Samples
    packets: list[bytes]


@dataclass(frozen=True)
class RtpPacket:
    payload: bytes
    timestamp: int
    index: int  # position in the source, in packets


def rtp_stream(packets: list[bytes], *, first_timestamp: int, drop: range | None = None) -> list[RtpPacket]:
    """Packets stamped on the 48 kHz RTP clock (32-bit wrap), with ``drop`` packets lost."""
    return [
        RtpPacket(p, (first_timestamp + i * PACKET_SAMPLES) % (1 << 32), i)
        for i, p in enumerate(packets)
        if drop is None or i not in drop
    ]


def decode_pcm(path: Path) -> Samples:
    """A file decoded by PyAV (FFmpeg), mono float32 at 48 kHz."""
    out: list[Samples] = []
    with av.open(str(path)) as container:
        for frame in container.decode(audio=0):
            out.append(frame.to_ndarray().mean(axis=0).astype(np.float32))
    return np.concatenate(out) if out else np.zeros(0, dtype=np.float32)


def best_lag(reference: Samples, signal: Samples, *, max_lag: int) -> tuple[int, float]:
    """Lag (samples, signal relative to reference) maximising normalised correlation, and that value."""
    best = (0, -1.0)
    n = min(len(reference), len(signal)) - max_lag
    ref = reference[max_lag : max_lag + n]
    for lag in range(-max_lag, max_lag + 1, 1):
        seg = signal[max_lag + lag : max_lag + lag + n]
        if len(seg) < n:
            continue
        value = float(np.corrcoef(ref, seg)[0, 1])
        if value > best[1]:
            best = (lag, value)
    return best


def xcorr_peak(needle: Samples, haystack: Samples) -> tuple[int, float]:
    """Offset of ``needle`` in ``haystack`` at the cross-correlation peak (FFT), and the normalised peak."""
    n = len(haystack) + len(needle)
    size = 1 << (n - 1).bit_length()
    spectrum = np.fft.rfft(haystack, size) * np.conj(np.fft.rfft(needle, size))
    corr = np.fft.irfft(spectrum, size)[: len(haystack) - len(needle) + 1]
    offset = int(np.argmax(corr))
    window = haystack[offset : offset + len(needle)]
    norm = float(np.linalg.norm(needle) * np.linalg.norm(window)) or 1.0
    return offset, float(corr[offset]) / norm
