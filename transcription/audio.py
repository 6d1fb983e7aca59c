"""Decoding audio files to 16 kHz mono float32 (PyAV), and cutting skipped intervals out of the audio
while keeping a map from the cut audio back to the original time."""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import av
import numpy as np
import numpy.typing as npt

from transcription.errors import AudioDecodeError

logger = logging.getLogger(__name__)

SAMPLE_RATE_HZ = 16000
# Silence put between the pieces that remain after cutting, so that Whisper does not join words across a cut.
CUT_GAP_S = 0.5
# A file whose header declares a duration but decodes to less than this share of it is truncated.
MIN_DECODED_SHARE = 0.9
# Below this difference, a shortfall against the declared duration is codec padding, not truncation.
DURATION_TOLERANCE_S = 0.5

Audio = npt.NDArray[np.float32]


def _declared_duration_s(container: av.container.InputContainer, stream: av.AudioStream) -> float | None:
    if stream.duration is not None and stream.time_base is not None:
        return float(stream.duration * stream.time_base)
    if container.duration is not None:
        return container.duration / 1_000_000
    return None


def _wav_missing_bytes(path: Path, size_bytes: int) -> int:
    """Bytes a RIFF/WAVE ``data`` chunk declares beyond the end of the file (0 when complete or not WAV).

    ffmpeg decodes a cut WAV file silently up to its end; the chunk header still tells the length written.
    """
    with open(path, "rb") as handle:
        header = handle.read(12)
        if len(header) < 12 or header[:4] != b"RIFF" or header[8:12] != b"WAVE":
            return 0
        offset = 12
        while offset + 8 <= size_bytes:
            handle.seek(offset)
            chunk = handle.read(8)
            if len(chunk) < 8:
                return 0
            chunk_size = int.from_bytes(chunk[4:8], "little")
            if chunk[:4] == b"data":
                if chunk_size in (0, 0xFFFFFFFF):  # streaming writers leave the size unset
                    return 0
                return max(0, offset + 8 + chunk_size - size_bytes)
            offset += 8 + chunk_size + (chunk_size & 1)
    return 0


def stream_audio(path: Path | str, *, sample_rate_hz: int = SAMPLE_RATE_HZ) -> Iterator[Audio]:
    """Decode the first audio stream of ``path`` (Ogg Opus, WAV, WebM, …) to mono float32, piece by piece
    (a few milliseconds each, in order): a long track is never held whole in memory.

    Raises :class:`AudioDecodeError` (with the path and a readable reason) when the file is missing, empty,
    not audio, holds no decodable sound, or is truncated well short of the duration its header declares. The
    checks that need the whole stream (truncation, no sound at all) raise after the last piece.
    """
    path = Path(path)
    try:
        size_bytes = path.stat().st_size
    except OSError as exc:
        raise AudioDecodeError(path, f"cannot read the file ({exc.strerror or exc})") from exc
    if size_bytes == 0:
        raise AudioDecodeError(path, "the file is empty (0 bytes)")
    missing_bytes = _wav_missing_bytes(path, size_bytes)
    if missing_bytes > 0:
        raise AudioDecodeError(
            path, f"the WAV file is truncated: {missing_bytes} bytes of its data chunk are missing"
        )
    try:
        container = av.open(str(path), mode="r")
    except av.FFmpegError as exc:
        raise AudioDecodeError(path, f"not a readable audio/video container ({exc})") from exc
    except (OSError, ValueError) as exc:
        raise AudioDecodeError(path, f"cannot open the file ({exc})") from exc
    decoded_samples = 0
    try:
        if not container.streams.audio:
            raise AudioDecodeError(path, "the file holds no audio stream")
        stream = container.streams.audio[0]
        declared_s = _declared_duration_s(container, stream)
        resampler = av.AudioResampler(format="flt", layout="mono", rate=sample_rate_hz)
        try:
            for frame in container.decode(stream):
                for out in resampler.resample(frame):
                    piece = out.to_ndarray().reshape(-1).astype(np.float32, copy=False)
                    decoded_samples += piece.size
                    yield piece
            for out in resampler.resample(None):
                piece = out.to_ndarray().reshape(-1).astype(np.float32, copy=False)
                decoded_samples += piece.size
                yield piece
        except av.FFmpegError as exc:
            if decoded_samples == 0:
                raise AudioDecodeError(path, f"the audio cannot be decoded ({exc})") from exc
            decoded_s = decoded_samples / sample_rate_hz
            raise AudioDecodeError(
                path, f"the file is truncated or corrupt: decoding failed after {decoded_s:.2f} s ({exc})"
            ) from exc
    finally:
        container.close()
    if decoded_samples == 0:
        raise AudioDecodeError(path, "the file holds no decodable audio (truncated or empty stream)")
    decoded_s = decoded_samples / sample_rate_hz
    if (
        declared_s is not None
        and declared_s - decoded_s > DURATION_TOLERANCE_S
        and decoded_s < MIN_DECODED_SHARE * declared_s
    ):
        raise AudioDecodeError(
            path, f"the file is truncated: {decoded_s:.2f} s decoded of the {declared_s:.2f} s it declares"
        )


def decode_audio(path: Path | str, *, sample_rate_hz: int = SAMPLE_RATE_HZ) -> Audio:
    """The whole of :func:`stream_audio` as one array (same errors)."""
    pieces = list(stream_audio(path, sample_rate_hz=sample_rate_hz))
    return np.concatenate(pieces)


def as_audio(samples: npt.ArrayLike) -> Audio:
    """Check and convert an in-memory waveform: one channel, float32, values in [-1, 1]."""
    array = np.asarray(samples)
    if array.ndim != 1:
        raise AudioDecodeError(None, f"expected mono audio (1-D array), got shape {array.shape}")
    if array.size == 0:
        raise AudioDecodeError(None, "the audio is empty (0 samples)")
    if np.issubdtype(array.dtype, np.integer):
        scale = float(np.iinfo(array.dtype).max) + 1.0
        return (array.astype(np.float32) / scale).astype(np.float32)
    return array.astype(np.float32, copy=False)


def load_audio(audio: Path | str | npt.ArrayLike) -> Audio:
    """A path is decoded with :func:`decode_audio`; an array is checked with :func:`as_audio`."""
    if isinstance(audio, Path | str):
        return decode_audio(audio)
    return as_audio(audio)


@dataclass(frozen=True)
class Piece:
    """A kept stretch of the original audio and where it sits in the cut audio (seconds)."""

    cut_start_s: float
    original_start_s: float
    duration_s: float

    @property
    def cut_end_s(self) -> float:
        return self.cut_start_s + self.duration_s


@dataclass(frozen=True)
class TimeMap:
    """Maps a time in the cut audio back to the original audio's time."""

    pieces: tuple[Piece, ...]

    def to_original(self, cut_time_s: float, *, side: Literal["start", "end"] = "start") -> float:
        """Original time of ``cut_time_s``.

        A time inside the silence inserted between two pieces snaps to the next piece's start
        (``side="start"``) or the previous piece's end (``side="end"``), so a segment never spans skipped
        audio at its edges.
        """
        if not self.pieces:
            return cut_time_s
        previous: Piece | None = None
        for piece in self.pieces:
            if cut_time_s < piece.cut_start_s:
                if side == "end" and previous is not None:
                    return previous.original_start_s + previous.duration_s
                return piece.original_start_s
            inside = cut_time_s < piece.cut_end_s or (side == "end" and cut_time_s == piece.cut_end_s)
            if inside:
                return piece.original_start_s + (cut_time_s - piece.cut_start_s)
            previous = piece
        last = self.pieces[-1]
        return last.original_start_s + min(cut_time_s - last.cut_start_s, last.duration_s)


@dataclass(frozen=True)
class CutAudio:
    """Audio with some intervals removed, and the map back to the original time."""

    audio: Audio
    time_map: TimeMap

    @property
    def duration_s(self) -> float:
        return self.audio.size / SAMPLE_RATE_HZ


def merge_intervals(intervals: Sequence[tuple[float, float]], *, limit_s: float) -> list[tuple[float, float]]:
    """Sort, clip to [0, limit_s], drop empty ones and merge overlapping intervals."""
    clipped = sorted((max(0.0, a), min(limit_s, b)) for a, b in intervals if min(limit_s, b) > max(0.0, a))
    merged: list[tuple[float, float]] = []
    for start, end in clipped:
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


def cut_intervals(
    audio: Audio,
    skip: Sequence[tuple[float, float]],
    *,
    sample_rate_hz: int = SAMPLE_RATE_HZ,
    gap_s: float = CUT_GAP_S,
) -> CutAudio:
    """Remove the ``skip`` intervals (seconds, relative to ``audio``) and join what remains with ``gap_s`` of
    silence between pieces. The returned :class:`TimeMap` maps cut times back to ``audio``'s time."""
    total_s = audio.size / sample_rate_hz
    skipped = merge_intervals(skip, limit_s=total_s)
    kept: list[tuple[float, float]] = []
    cursor = 0.0
    for start, end in skipped:
        if start > cursor:
            kept.append((cursor, start))
        cursor = end
    if cursor < total_s:
        kept.append((cursor, total_s))
    gap = np.zeros(round(gap_s * sample_rate_hz), dtype=np.float32)
    chunks: list[Audio] = []
    pieces: list[Piece] = []
    cut_samples = 0
    for start, end in kept:
        first, last = round(start * sample_rate_hz), round(end * sample_rate_hz)
        if last <= first:
            continue
        if chunks:
            chunks.append(gap)
            cut_samples += gap.size
        chunks.append(audio[first:last])
        pieces.append(
            Piece(cut_samples / sample_rate_hz, first / sample_rate_hz, (last - first) / sample_rate_hz)
        )
        cut_samples += last - first
    cut = np.concatenate(chunks) if chunks else np.zeros(0, dtype=np.float32)
    return CutAudio(audio=cut, time_map=TimeMap(tuple(pieces)))


def silent_intervals(
    audio: Audio,
    *,
    sample_rate_hz: int = SAMPLE_RATE_HZ,
    threshold_dbfs: float = -50.0,
    min_duration_s: float = 2.0,
    window_s: float = 0.1,
) -> list[tuple[float, float]]:
    """Intervals (seconds) at least ``min_duration_s`` long whose RMS level stays below ``threshold_dbfs``:
    candidates for ``skip`` (a muted microphone records digital silence)."""
    window = max(1, round(window_s * sample_rate_hz))
    count = audio.size // window
    if count == 0:
        return []
    frames = audio[: count * window].reshape(count, window).astype(np.float64)
    rms = np.sqrt(np.mean(frames * frames, axis=1))
    quiet = 20.0 * np.log10(np.maximum(rms, 1e-10)) < threshold_dbfs
    intervals: list[tuple[float, float]] = []
    start: int | None = None
    for index, is_quiet in enumerate([*quiet.tolist(), False]):
        if is_quiet and start is None:
            start = index
        elif not is_quiet and start is not None:
            if (index - start) * window_s >= min_duration_s:
                intervals.append((start * window / sample_rate_hz, index * window / sample_rate_hz))
            start = None
    return intervals


def probe_duration_s(path: Path | str) -> float:
    """Duration of a file from its header when it has one, otherwise by decoding it."""
    path = Path(path)
    try:
        with av.open(str(path), mode="r") as container:
            if container.streams.audio:
                declared = _declared_duration_s(container, container.streams.audio[0])
                if declared is not None and declared > 0:
                    return declared
    except (av.FFmpegError, OSError, ValueError):
        pass  # decode_audio below raises the readable error
    return sum(piece.size for piece in stream_audio(path)) / SAMPLE_RATE_HZ
