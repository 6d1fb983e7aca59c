"""One playback file per meeting: every track decoded, placed on the meeting clock and summed.

The mix is built block by block (memory stays flat for a meeting of hours), passes through a soft
limiter so overlapping speakers do not clip, and is encoded as Opus in Ogg. Its length equals the
meeting length (meeting_started -> meeting_ended, or the last recorded second after a crash).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import numpy.typing as npt

from recordings.manifest import MeetingManifest, TrackRecord, read_manifest
from recordings.oggopus import ogg_opus_duration_s
from recordings.opuspacket import OPUS_CLOCK_HZ
from recordings.storage import MIX_FILENAME

logger = logging.getLogger(__name__)

SAMPLE_RATE_HZ = OPUS_CLOCK_HZ
MIX_BLOCK_SAMPLES = 960 * 500  # 10 s
ENCODER_FRAME_SAMPLES = 960  # 20 ms Opus frames
DEFAULT_MIX_BITRATE_BPS = 32_000
MIX_COMPRESSION_LEVEL = 5  # libopus complexity 0-10: 5 encodes ~1.5x faster than 10, transparent for speech
LIMITER_KNEE = 0.9  # linear amplitude where the soft limiter starts bending

Samples = npt.NDArray[np.float32]

__all__ = [
    "decode_track_pcm",
    "decoded_duration_s",
    "iter_track_pcm",
    "mix_meeting",
    "ogg_opus_duration_s",
    "soft_limit",
    "track_duration_s",
]


def iter_track_pcm(path: Path | str, *, sample_rate_hz: int = SAMPLE_RATE_HZ) -> Iterator[Samples]:
    """Decode an audio file with PyAV into mono float32 chunks at ``sample_rate_hz``."""
    resampler = av.AudioResampler(format="flt", layout="mono", rate=sample_rate_hz)
    with av.open(str(path)) as container:
        if not container.streams.audio:
            return
        for frame in container.decode(audio=0):
            for out in resampler.resample(frame):
                yield out.to_ndarray().reshape(-1).astype(np.float32, copy=False)
        for out in resampler.resample(None):
            yield out.to_ndarray().reshape(-1).astype(np.float32, copy=False)


def decode_track_pcm(path: Path | str, *, sample_rate_hz: int = SAMPLE_RATE_HZ) -> Samples:
    """A whole audio file as one mono float32 array (use for tracks, not for hours-long mixes)."""
    chunks = list(iter_track_pcm(path, sample_rate_hz=sample_rate_hz))
    return np.concatenate(chunks) if chunks else np.zeros(0, dtype=np.float32)


def decoded_duration_s(path: Path | str) -> float:
    """Duration a decoder actually produces (PyAV), in seconds; 0.0 for an undecodable file."""
    samples = 0
    try:
        with av.open(str(path)) as container:
            for frame in container.decode(audio=0):
                samples += frame.samples
            rate = container.streams.audio[0].sample_rate or SAMPLE_RATE_HZ
    except (av.FFmpegError, IndexError):
        logger.warning("%s: not decodable", path)
        return 0.0
    return samples / rate


def track_duration_s(meeting_dir: Path | str, track: TrackRecord) -> float:
    """Length of a track's file from its granule positions (no decoding)."""
    return ogg_opus_duration_s(Path(meeting_dir) / track.path)


def soft_limit(block: Samples, *, knee: float = LIMITER_KNEE) -> Samples:
    """Leave |x| <= knee untouched, bend louder samples smoothly towards +-1 (never beyond)."""
    magnitude = np.abs(block)
    loud = magnitude > knee
    if not loud.any():
        return block
    headroom = 1.0 - knee
    out = block.copy()
    bent = knee + headroom * np.tanh((magnitude[loud] - knee) / headroom)
    out[loud] = np.sign(block[loud]) * bent
    return out


class _PlacedTrack:
    """A track's decoded samples, read sequentially, positioned at its meeting-clock offset."""

    def __init__(self, meeting_dir: Path, track: TrackRecord) -> None:
        self.track = track
        self.offset = round(track.start_s * SAMPLE_RATE_HZ)
        self._chunks = iter_track_pcm(meeting_dir / track.path)
        self._buffer = np.zeros(0, dtype=np.float32)
        self._position = 0  # track samples consumed so far
        self._exhausted = False
        self.muted = [
            (round(m.start_s * SAMPLE_RATE_HZ), round(m.end_s * SAMPLE_RATE_HZ)) for m in track.muted
        ]

    def _read(self, count: int) -> Samples:
        chunks = [self._buffer]
        have = len(self._buffer)
        while have < count and not self._exhausted:
            try:
                chunk = next(self._chunks)
            except StopIteration:
                self._exhausted = True
                break
            except av.FFmpegError as exc:  # a damaged tail: keep what decoded
                logger.warning("track %s: decoding stopped: %s", self.track.track_id, exc)
                self._exhausted = True
                break
            chunks.append(chunk)
            have += len(chunk)
        merged = np.concatenate(chunks) if len(chunks) > 1 else self._buffer
        out, self._buffer = merged[:count], merged[count:]
        self._position += len(out)
        return out

    def add_into(self, mix: Samples, block_start: int) -> None:
        """Add this track's samples that fall in [block_start, block_start + len(mix))."""
        block_end = block_start + len(mix)
        first = max(block_start, self.offset + self._position)
        if first >= block_end or (self._exhausted and not len(self._buffer)):
            return
        skip = first - (self.offset + self._position)  # > 0 only for a track starting before 0
        if skip > 0:
            self._read(skip)
        samples = self._read(block_end - first)
        if not len(samples):
            return
        segment = samples.copy()
        for mute_start, mute_end in self.muted:
            lo = max(mute_start, first) - first
            hi = min(mute_end, first + len(segment)) - first
            if hi > lo:
                segment[lo:hi] = 0.0
        mix[first - block_start : first - block_start + len(segment)] += segment


def _mix_length_samples(manifest: MeetingManifest) -> int:
    return max(0, round(manifest.length_s * SAMPLE_RATE_HZ))


def mix_meeting(
    meeting_dir: Path | str,
    *,
    output: Path | str | None = None,
    bitrate_bps: int = DEFAULT_MIX_BITRATE_BPS,
    honour_mutes: bool = True,
) -> Path:
    """Mix every track of a meeting into one Ogg Opus file (default ``<meeting_dir>/mix.ogg``).

    Tracks sit at their ``start_s``; muted spans are silenced when ``honour_mutes``; the file is
    written under a temporary name and renamed, so a reader never sees half a mix.
    """
    folder = Path(meeting_dir)
    manifest = read_manifest(folder)
    target = Path(output) if output is not None else folder / MIX_FILENAME
    total = _mix_length_samples(manifest)
    placed: list[_PlacedTrack] = []
    for track in manifest.audio_tracks:
        try:
            if ogg_opus_duration_s(folder / track.path) <= 0.0:
                continue  # opened, but no audio ever arrived
        except (OSError, ValueError) as exc:
            logger.warning("meeting %s: track %s skipped: %s", manifest.meeting_id, track.track_id, exc)
            continue
        item = _PlacedTrack(folder, track)
        if not honour_mutes:
            item.muted = []
        placed.append(item)
    temporary = target.with_name(f".{target.name}.partial")
    temporary.unlink(missing_ok=True)
    with av.open(str(temporary), mode="w", format="ogg") as container:
        stream = container.add_stream("libopus", rate=SAMPLE_RATE_HZ)
        stream.layout = "mono"
        stream.bit_rate = bitrate_bps
        stream.options = {"compression_level": str(MIX_COMPRESSION_LEVEL)}
        stream.time_base = Fraction(1, SAMPLE_RATE_HZ)
        pts = 0
        for block_start in range(0, total, MIX_BLOCK_SAMPLES):
            block = np.zeros(min(MIX_BLOCK_SAMPLES, total - block_start), dtype=np.float32)
            for item in placed:
                item.add_into(block, block_start)
            block = soft_limit(block)
            for frame_start in range(0, len(block), ENCODER_FRAME_SAMPLES):
                piece = block[frame_start : frame_start + ENCODER_FRAME_SAMPLES]
                frame = av.AudioFrame.from_ndarray(piece.reshape(1, -1), format="flt", layout="mono")
                frame.sample_rate = SAMPLE_RATE_HZ
                frame.pts = pts
                frame.time_base = Fraction(1, SAMPLE_RATE_HZ)
                pts += len(piece)
                for packet in stream.encode(frame):
                    container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    with open(temporary, "rb+") as handle:
        os.fsync(handle.fileno())
    os.replace(temporary, target)
    logger.info(
        "meeting %s: mix of %d tracks, %.1f s -> %s",
        manifest.meeting_id,
        len(placed),
        total / SAMPLE_RATE_HZ,
        target.name,
    )
    return target
