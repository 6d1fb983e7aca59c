"""Crash-safe Ogg Opus muxing of Opus packets as received over RTP (RFC 7845), no decode, no re-encode.

The writer places each packet on the 48 kHz RTP clock: a jump in the RTP timestamp (packet loss, DTX,
a muted sender) is filled with encoded silence frames, so the decoded file keeps wall-clock alignment.
Every page goes to the kernel as soon as it is complete (an unbuffered ``os.write``), and the file is
fsynced at a configurable interval, so ``kill -9`` leaves a file that decodes up to its last page.
"""

from __future__ import annotations

import hashlib
import logging
import os
import random
import struct
import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from recordings.ogg import (
    GRANULE_NONE,
    HEADER_TYPE_BOS,
    HEADER_TYPE_EOS,
    MAX_SEGMENTS_PER_PAGE,
    build_page,
    iter_pages,
)
from recordings.opuspacket import OPUS_CLOCK_HZ, packet_duration_samples, silence_packets

logger = logging.getLogger(__name__)

DEFAULT_PRE_SKIP_SAMPLES = 312  # libopus' encoder delay at 48 kHz (what browsers use)
DEFAULT_PAGE_DURATION_S = 0.5
DEFAULT_FSYNC_INTERVAL_S = 1.0
DEFAULT_MAX_GAP_FILL_S = 4 * 3600.0
MAX_REORDER_S = 10.0  # an RTP timestamp further back than this is a restarted sender, not a late packet
VENDOR = "giaoban recordings"
_MAX_PAGE_BODY_BYTES = 60_000
_RTP_TIMESTAMP_MODULUS = 1 << 32

GapCallback = Callable[[int, int], None]
"""Called with (start, end) of a filled gap, in samples of decoded output (pre-skip already removed)."""

_fsync_pool: ThreadPoolExecutor | None = None
_fsync_pool_lock = threading.Lock()


def _fsync_executor() -> ThreadPoolExecutor:
    global _fsync_pool
    with _fsync_pool_lock:
        if _fsync_pool is None:
            _fsync_pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="recordings-fsync")
        return _fsync_pool


def opus_head(*, channels: int, pre_skip: int, input_sample_rate_hz: int) -> bytes:
    """The identification header (RFC 7845 section 5.1), channel mapping family 0."""
    return b"OpusHead" + struct.pack("<BBHIhB", 1, channels, pre_skip, input_sample_rate_hz, 0, 0)


def opus_tags(vendor: str, comments: Mapping[str, str]) -> bytes:
    """The comment header (RFC 7845 section 5.2)."""
    vendor_bytes = vendor.encode("utf-8")
    out = bytearray(b"OpusTags")
    out += struct.pack("<I", len(vendor_bytes)) + vendor_bytes
    out += struct.pack("<I", len(comments))
    for key, value in comments.items():
        entry = f"{key}={value}".encode()
        out += struct.pack("<I", len(entry)) + entry
    return bytes(out)


@dataclass(frozen=True)
class WriterStats:
    """What one writer did, for logs and the manifest."""

    packets_written: int
    packets_dropped: int
    silence_samples: int
    duration_samples: int  # decodable length of the pages on disk (pre-skip removed)
    bytes_written: int
    sha256: str  # of the bytes written so far (the whole file once closed)
    syncs: int  # fsyncs started

    @property
    def duration_s(self) -> float:
        return self.duration_samples / OPUS_CLOCK_HZ


class OggOpusWriter:
    """Mux raw Opus packets into an Ogg Opus file on the RTP clock.

    ``write()`` raises ``OSError`` when the disk refuses the data; the file is then cut back to its
    last complete page (so nothing already written is damaged) and the writer refuses further writes.
    Not thread-safe: one writer belongs to one track on one event loop.
    """

    def __init__(
        self,
        path: Path | str,
        *,
        channels: int = 2,
        pre_skip: int = DEFAULT_PRE_SKIP_SAMPLES,
        sample_rate_hz: int = OPUS_CLOCK_HZ,
        page_duration_s: float = DEFAULT_PAGE_DURATION_S,
        fsync_interval_s: float | None = DEFAULT_FSYNC_INTERVAL_S,
        max_gap_fill_s: float = DEFAULT_MAX_GAP_FILL_S,
        tags: Mapping[str, str] | None = None,
        on_gap: GapCallback | None = None,
    ) -> None:
        if channels not in (1, 2):
            raise ValueError("channels must be 1 or 2")
        if not 0 <= pre_skip <= 0xFFFF:
            raise ValueError("pre_skip must fit 16 bits")
        self.path = Path(path)
        self.channels = channels
        self.pre_skip = pre_skip
        self._page_duration_samples = max(1, round(page_duration_s * OPUS_CLOCK_HZ))
        self._fsync_interval_s = fsync_interval_s
        self._max_gap_fill_samples = round(max_gap_fill_s * OPUS_CLOCK_HZ)
        self._max_reorder_samples = round(MAX_REORDER_S * OPUS_CLOCK_HZ)
        self._on_gap = on_gap
        self._serial = random.getrandbits(32)
        self._sequence = 0
        self._samples = 0  # samples of every packet so far, pre-skip included (the granule clock)
        self._next_timestamp: int | None = None
        self._fill_residual = 0
        self._page_packets: list[bytes] = []
        self._page_segments = 0
        self._page_body_bytes = 0
        self._page_start_samples = 0
        self._committed_bytes = 0
        self._committed_granule = 0
        self._packets_written = 0
        self._packets_dropped = 0
        self._silence_samples = 0
        self._closed = False
        self._failed = False
        self._last_sync = time.monotonic()
        self._pending_sync: Future[None] | None = None
        self._digest = hashlib.sha256()
        self._syncs = 0
        self._fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o644)
        try:
            comments = {"ENCODER": VENDOR, **(tags or {})}
            head = opus_head(channels=channels, pre_skip=pre_skip, input_sample_rate_hz=sample_rate_hz)
            self._write_page([head], granule=0, header_type=HEADER_TYPE_BOS)
            self._write_page([opus_tags(VENDOR, comments)], granule=0, header_type=0)
            os.fsync(self._fd)
        except BaseException:
            os.close(self._fd)
            self._closed = True
            raise

    # -- public API -------------------------------------------------------------------------

    @property
    def duration_samples(self) -> int:
        """Decoded length so far (48 kHz samples, pre-skip removed), pending page included."""
        return max(0, self._samples - self.pre_skip)

    @property
    def committed_bytes(self) -> int:
        """Bytes of complete pages handed to the kernel."""
        return self._committed_bytes

    @property
    def closed(self) -> bool:
        return self._closed

    def stats(self) -> WriterStats:
        return WriterStats(
            packets_written=self._packets_written,
            packets_dropped=self._packets_dropped,
            silence_samples=self._silence_samples,
            duration_samples=max(0, self._committed_granule - self.pre_skip),
            bytes_written=self._committed_bytes,
            sha256=self._digest.hexdigest(),
            syncs=self._syncs,
        )

    def write(self, payload: bytes, rtp_timestamp: int) -> None:
        """Add one Opus packet (an RTP payload) stamped with its RTP timestamp (48 kHz clock)."""
        if self._closed or self._failed:
            raise ValueError(f"writer for {self.path.name} is closed")
        duration = packet_duration_samples(payload)
        if duration == 0:
            self._packets_dropped += 1
            return
        if self._next_timestamp is not None:
            delta = (rtp_timestamp - self._next_timestamp) % _RTP_TIMESTAMP_MODULUS
            if delta >= _RTP_TIMESTAMP_MODULUS // 2:
                delta -= _RTP_TIMESTAMP_MODULUS
            if delta < 0:
                if delta >= -self._max_reorder_samples:
                    self._packets_dropped += 1  # late or duplicate: its slot is already filled
                    return
                logger.warning("%s: RTP timestamp went back %d samples: resync", self.path.name, -delta)
            elif delta > self._max_gap_fill_samples:
                logger.warning("%s: RTP gap of %.1f s not filled: resync", self.path.name, delta / 48000)
            elif delta > 0:
                self._fill_gap(delta)
        self._append(payload, duration)
        self._next_timestamp = (rtp_timestamp + duration) % _RTP_TIMESTAMP_MODULUS
        self._packets_written += 1

    def position_samples(self, rtp_timestamp: int) -> int | None:
        """Where an RTP timestamp at or before the last packet's end falls in the decoded output (samples,
        pre-skip removed); None before the first packet or for a timestamp ahead of the writer."""
        if self._next_timestamp is None:
            return None
        back = (self._next_timestamp - rtp_timestamp) % _RTP_TIMESTAMP_MODULUS
        if back >= _RTP_TIMESTAMP_MODULUS // 2:
            return None
        return max(0, self._samples - self.pre_skip - back)

    def flush(self) -> None:
        """Write the pending page now (the next page starts empty)."""
        if self._closed or self._failed:
            return
        if self._page_packets:
            self._flush_page(header_type=0)

    def close(self) -> WriterStats:
        """Write the last page (end of stream), fsync and close the file. Safe to call twice."""
        if self._closed:
            return self.stats()
        try:
            if not self._failed:
                self._flush_page(header_type=HEADER_TYPE_EOS)
            self._wait_sync()
            if not self._failed:
                os.fsync(self._fd)
        finally:
            self._closed = True
            os.close(self._fd)
        return self.stats()

    # -- internals ----------------------------------------------------------------------------

    def _fill_gap(self, delta: int) -> None:
        total = delta + self._fill_residual
        fill = total - total % 120
        self._fill_residual = total - fill
        if fill <= 0:
            return
        start = self._samples
        for packet in silence_packets(fill):
            self._append(packet, packet_duration_samples(packet))
        self._silence_samples += fill
        if self._on_gap is not None:
            self._on_gap(max(0, start - self.pre_skip), max(0, start + fill - self.pre_skip))

    def _append(self, packet: bytes, duration: int) -> None:
        segments = len(packet) // 255 + 1
        if self._page_packets and (
            self._page_segments + segments > MAX_SEGMENTS_PER_PAGE
            or self._page_body_bytes + len(packet) > _MAX_PAGE_BODY_BYTES
        ):
            self._flush_page(header_type=0)
        self._page_packets.append(packet)
        self._page_segments += segments
        self._page_body_bytes += len(packet)
        self._samples += duration
        if self._samples - self._page_start_samples >= self._page_duration_samples:
            self._flush_page(header_type=0)

    def _flush_page(self, *, header_type: int) -> None:
        if not self._page_packets and not header_type & HEADER_TYPE_EOS:
            return
        self._write_page(self._page_packets, granule=self._samples, header_type=header_type)
        self._page_packets = []
        self._page_segments = 0
        self._page_body_bytes = 0
        self._page_start_samples = self._samples
        self._maybe_sync()

    def _write_page(self, packets: list[bytes], *, granule: int, header_type: int) -> None:
        page = build_page(
            packets,
            serial=self._serial,
            sequence=self._sequence,
            granule_position=granule,
            header_type=header_type,
        )
        view = memoryview(page)
        try:
            while view:
                written = os.write(self._fd, view)
                view = view[written:]
        except OSError:
            self._failed = True
            self._cut_back()
            raise
        self._committed_bytes += len(page)
        self._committed_granule = max(self._committed_granule, granule)
        self._digest.update(page)
        self._sequence += 1

    def _cut_back(self) -> None:
        """Drop a partly written page so the file ends on a page boundary."""
        try:
            os.ftruncate(self._fd, self._committed_bytes)
            os.lseek(self._fd, self._committed_bytes, os.SEEK_SET)
        except OSError as exc:
            logger.error("%s: could not cut back to %d bytes: %s", self.path.name, self._committed_bytes, exc)

    def _maybe_sync(self) -> None:
        if self._fsync_interval_s is None:
            return
        now = time.monotonic()
        if now - self._last_sync < self._fsync_interval_s:
            return
        if self._pending_sync is not None:
            if not self._pending_sync.done():
                return
            self._raise_sync_error()
        self._last_sync = now
        self._pending_sync = _fsync_executor().submit(os.fdatasync, self._fd)
        self._syncs += 1

    def _raise_sync_error(self) -> None:
        pending, self._pending_sync = self._pending_sync, None
        if pending is not None:
            error = pending.exception()
            if isinstance(error, OSError):
                self._failed = True
                raise error

    def _wait_sync(self) -> None:
        if self._pending_sync is not None:
            self._pending_sync.exception()  # wait
            if not self._failed:
                self._raise_sync_error()


@dataclass(frozen=True)
class OggOpusInfo:
    """What a (possibly unfinished) Ogg Opus file holds, read from its valid pages."""

    channels: int
    pre_skip: int
    input_sample_rate_hz: int
    duration_samples: int
    valid_bytes: int  # length of the prefix made of valid pages
    file_bytes: int
    finished: bool  # an end-of-stream page was seen

    @property
    def duration_s(self) -> float:
        return self.duration_samples / OPUS_CLOCK_HZ


def read_ogg_opus_info(path: Path | str) -> OggOpusInfo:
    """Header fields and decodable duration from the granule of the last valid page.

    Raises ``ValueError`` if the file does not start with a valid OpusHead page.
    """
    data = Path(path).read_bytes()
    channels = pre_skip = rate = 0
    last_granule = 0
    valid = 0
    finished = False
    for index, page in enumerate(iter_pages(data)):
        if index == 0:
            head = page.packets[0] if page.packets else b""
            if not head.startswith(b"OpusHead") or len(head) < 19:
                raise ValueError(f"{path}: not an Ogg Opus file")
            _, channels, pre_skip, rate, _, _ = struct.unpack_from("<BBHIhB", head, 8)
        elif page.granule_position != GRANULE_NONE and index >= 2:
            last_granule = page.granule_position
        valid = page.end_offset_bytes
        finished = finished or bool(page.header_type & HEADER_TYPE_EOS)
    if valid == 0:
        raise ValueError(f"{path}: not an Ogg Opus file")
    return OggOpusInfo(
        channels=channels,
        pre_skip=pre_skip,
        input_sample_rate_hz=rate,
        duration_samples=max(0, last_granule - pre_skip),
        valid_bytes=valid,
        file_bytes=len(data),
        finished=finished,
    )


def ogg_opus_duration_s(path: Path | str) -> float:
    """Decodable duration of an Ogg Opus file from its granule positions (fast, no decoding)."""
    return read_ogg_opus_info(path).duration_s
