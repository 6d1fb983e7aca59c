"""Crash-safe IVF files: VP8 frames stored as received, one 12-byte header per frame.

IVF is a 32-byte file header (``DKIF``, codec fourcc, width, height, time base, frame count) followed by
frames, each ``size (u32 LE) | pts (u64 LE) | data``. Nothing in the file depends on what comes after it:
a file cut anywhere plays up to its last whole frame (:func:`read_ivf_info` finds it, recovery cuts the
torn tail). The header's frame count stays 0 (readers such as FFmpeg count the frames themselves): patching
it at close would change bytes the SHA-256, computed as the file is written, already covers.

Writes never happen on the caller's thread: frames are appended to an in-memory batch and each batch
(at most ``batch_s`` of video or ``batch_bytes``) is written, and fdatasync'ed every ``fsync_interval_s``,
by one shared writer thread. A disk error is reported by the next call (``write_frame`` / ``close`` raise
it as :class:`OSError`); what was written before stays a playable file. With ``min_free_bytes`` the thread
also refuses to write (ENOSPC) once the file system's free space falls below it (checked every
``FREE_SPACE_CHECK_S``): video stops while the room left is kept for the audio tracks.
"""

from __future__ import annotations

import errno
import hashlib
import os
import struct
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

IVF_SIGNATURE = b"DKIF"
IVF_HEADER_BYTES = 32
FRAME_HEADER_BYTES = 12
FOURCC_VP8 = b"VP80"
VIDEO_CLOCK_HZ = 90000
DEFAULT_BATCH_S = 0.5
DEFAULT_BATCH_BYTES = 256 * 1024
DEFAULT_FSYNC_INTERVAL_S = 1.0
MAX_FRAME_BYTES = 16 * 1024 * 1024  # larger sizes in a frame header mean a torn or foreign file
FREE_SPACE_CHECK_S = 2.0

_FILE_HEADER = struct.Struct("<4sHH4sHHIII")
_FRAME_HEADER = struct.Struct("<IQ")

_pool: ThreadPoolExecutor | None = None
_pool_lock = threading.Lock()


def _executor() -> ThreadPoolExecutor:
    """One thread writes every video file of the process, in submission order per file."""
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="recordings-video")
        return _pool


def ivf_file_header(fourcc: bytes, width: int, height: int, frames: int = 0) -> bytes:
    return (
        _FILE_HEADER.pack(
            IVF_SIGNATURE, 0, IVF_HEADER_BYTES, fourcc, width, height, VIDEO_CLOCK_HZ, 1, frames
        )
        + b"\0" * 4
    )


def vp8_keyframe_size(frame: bytes) -> tuple[int, int] | None:
    """(width, height) of a VP8 key frame (RFC 6386 9.1), None for an interframe or a malformed one."""
    if len(frame) < 10 or frame[0] & 0x01 or frame[3:6] != b"\x9d\x01\x2a":
        return None
    width = int.from_bytes(frame[6:8], "little") & 0x3FFF
    height = int.from_bytes(frame[8:10], "little") & 0x3FFF
    return width, height


def vp8_is_keyframe(frame: bytes) -> bool:
    return bool(frame) and not frame[0] & 0x01


@dataclass(frozen=True)
class IvfStats:
    frames: int
    keyframes: int
    bytes_written: int
    duration_s: float  # first to last frame, plus one frame interval
    sha256: str  # of the whole file (after close); "" before, or after a write failed


class IvfWriter:
    """Append VP8 frames (pts in 1/90000 s from the track's first frame) to an IVF file.

    The file is created at once; the header is written with the first frame (a key frame gives the size).
    """

    def __init__(
        self,
        path: Path,
        *,
        fourcc: bytes = FOURCC_VP8,
        batch_s: float = DEFAULT_BATCH_S,
        batch_bytes: int = DEFAULT_BATCH_BYTES,
        fsync_interval_s: float | None = DEFAULT_FSYNC_INTERVAL_S,
        min_free_bytes: int = 0,
    ) -> None:
        self.path = Path(path)
        self._min_free_bytes = min_free_bytes
        self._free_checked = -1e9  # monotonic time of the last free-space check (writer thread)
        self.fourcc = fourcc
        self._batch_ticks = int(batch_s * VIDEO_CLOCK_HZ)
        self._batch_bytes = batch_bytes
        self._fsync_interval_s = fsync_interval_s
        self._fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o644)
        self._buffer = bytearray()
        self._buffer_first_pts: int | None = None
        self._pending: Future[None] | None = None
        self._error: OSError | None = None
        self._last_sync = time.monotonic()
        self._closed = False
        self._digest = hashlib.sha256()  # of what the writer thread wrote, in order
        self._bytes_written = 0
        self.frames = 0
        self.keyframes = 0
        self.bytes_queued = 0
        self.first_pts: int | None = None
        self.last_pts: int | None = None
        self.width = 0
        self.height = 0

    @property
    def closed(self) -> bool:
        return self._closed

    @property
    def duration_s(self) -> float:
        if self.first_pts is None or self.last_pts is None:
            return 0.0
        span = self.last_pts - self.first_pts
        step = span / (self.frames - 1) if self.frames > 1 else 0
        return (span + step) / VIDEO_CLOCK_HZ

    def write_frame(self, frame: bytes, pts: int) -> None:
        """Queue one whole frame. Raises OSError when an earlier batch could not be written."""
        if self._closed:
            raise ValueError(f"{self.path} is closed")
        self._raise_error()
        if self.frames == 0:
            size = vp8_keyframe_size(frame)
            if size is not None:
                self.width, self.height = size
            self._buffer += ivf_file_header(self.fourcc, self.width, self.height)
            self.first_pts = pts
        if vp8_is_keyframe(frame):
            self.keyframes += 1
        self._buffer += _FRAME_HEADER.pack(len(frame), pts)
        self._buffer += frame
        self.frames += 1
        self.last_pts = pts
        if self._buffer_first_pts is None:
            self._buffer_first_pts = pts
        if len(self._buffer) >= self._batch_bytes or pts - self._buffer_first_pts >= self._batch_ticks:
            self._submit(sync=False)

    def flush(self) -> None:
        """Hand what is buffered to the writer thread (no wait)."""
        self._raise_error()
        if self._buffer:
            self._submit(sync=False)

    def close(self) -> IvfStats:
        """Write what is buffered, fix the frame count, fsync, close; the stats with the file's SHA-256.
        Waits for the writer thread (call it off the event loop when that matters). Safe to call twice."""
        if self._closed:
            return self.stats()
        self._closed = True
        try:
            self._submit(sync=True)
            self._wait()
            self._raise_error()
        finally:
            os.close(self._fd)
        return self.stats()

    def abandon(self) -> None:
        """Close without waiting for or raising errors (after a failure elsewhere)."""
        if self._closed:
            return
        self._closed = True
        self._buffer.clear()
        try:
            self._wait()
        finally:
            os.close(self._fd)

    def stats(self) -> IvfStats:
        sha = self._digest.hexdigest() if self._closed and self._error is None else ""
        return IvfStats(self.frames, self.keyframes, self._bytes_written, round(self.duration_s, 6), sha)

    # -- the writer thread --------------------------------------------------------------------------

    def _submit(self, *, sync: bool) -> None:
        data = bytes(self._buffer)
        self._buffer.clear()
        self._buffer_first_pts = None
        self.bytes_queued += len(data)
        now = time.monotonic()
        interval = self._fsync_interval_s
        do_sync = sync or (interval is not None and now - self._last_sync >= interval)
        if do_sync:
            self._last_sync = now
        # one thread: the jobs of a file run in order, and the last one done means all are
        self._pending = _executor().submit(self._write, data, do_sync)

    def _write(self, data: bytes, sync: bool) -> None:
        if self._error is not None:
            return
        if self._min_free_bytes and data and time.monotonic() - self._free_checked >= FREE_SPACE_CHECK_S:
            self._free_checked = time.monotonic()
            try:
                stat = os.statvfs(self.path)
            except OSError as exc:
                self._error = exc
                return
            free = stat.f_bavail * stat.f_frsize
            if free < self._min_free_bytes:
                self._error = OSError(
                    errno.ENOSPC,
                    f"{free // 2**20} MB free, under the {self._min_free_bytes // 2**20} MB kept for audio",
                )
                return
        view = memoryview(data)
        try:
            while view:
                written = os.write(self._fd, view)
                view = view[written:]
            self._digest.update(data)
            self._bytes_written += len(data)
            if sync:
                os.fdatasync(self._fd)
        except OSError as exc:
            self._error = exc

    def _wait(self) -> None:
        pending, self._pending = self._pending, None
        if pending is not None:
            pending.result()

    def _raise_error(self) -> None:
        if self._error is not None:
            raise self._error


@dataclass(frozen=True)
class IvfInfo:
    fourcc: bytes
    width: int
    height: int
    frames: int
    keyframes: int
    first_pts: int | None
    last_pts: int | None
    valid_bytes: int  # up to the end of the last whole frame
    file_bytes: int

    @property
    def duration_s(self) -> float:
        if self.first_pts is None or self.last_pts is None:
            return 0.0
        span = self.last_pts - self.first_pts
        step = span / (self.frames - 1) if self.frames > 1 else 0
        return (span + step) / VIDEO_CLOCK_HZ


def read_ivf_info(path: Path | str) -> IvfInfo:
    """Walk the frame headers: how many whole frames, key frames, the pts span, where the last one ends.
    Raises ValueError when the file is not IVF (a file shorter than its header has no frame: 0 frames)."""
    with open(path, "rb") as handle:
        size = os.fstat(handle.fileno()).st_size
        header = handle.read(IVF_HEADER_BYTES)
        if len(header) < IVF_HEADER_BYTES:
            if header and not IVF_SIGNATURE.startswith(header[:4]):
                raise ValueError(f"{path}: not an IVF file")
            return IvfInfo(FOURCC_VP8, 0, 0, 0, 0, None, None, 0, size)
        signature, _version, header_len, fourcc, width, height, _rate, _scale, _count = _FILE_HEADER.unpack(
            header[:28]
        )
        if signature != IVF_SIGNATURE:
            raise ValueError(f"{path}: not an IVF file")
        pos = header_len
        frames = keyframes = 0
        first = last = None
        while pos + FRAME_HEADER_BYTES <= size:
            handle.seek(pos)
            raw = handle.read(FRAME_HEADER_BYTES + 1)
            length, pts = _FRAME_HEADER.unpack_from(raw)
            if length == 0 or length > MAX_FRAME_BYTES or pos + FRAME_HEADER_BYTES + length > size:
                break
            frames += 1
            if not raw[FRAME_HEADER_BYTES] & 0x01:
                keyframes += 1
            if first is None:
                first = pts
            last = pts
            pos += FRAME_HEADER_BYTES + length
        return IvfInfo(
            fourcc,
            width,
            height,
            frames,
            keyframes,
            first,
            last,
            pos if frames else min(size, header_len),
            size,
        )


def ivf_duration_s(path: Path | str) -> float:
    return read_ivf_info(path).duration_s
