"""VP8 RTP depacketization (RFC 7741) for recording: packets in, whole frames out, no decoding.

Packets are put back in sequence order (NACK retransmissions arrive late); a frame is the packets from one
that starts partition 0 (S=1, PID=0) to the one with the marker bit, all of one RTP timestamp, with no
sequence number missing. When a packet stays missing (``max_wait_s`` of newer video, or ``max_packets``
waiting behind it) its frame is dropped and, since every later frame may refer to it, so is everything up
to the next key frame: the span is reported to ``on_loss`` and recording resumes at that key frame. A
track starts at a key frame too (the frames before it cannot be decoded).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

VIDEO_CLOCK_HZ = 90000
SEQ_MODULO = 1 << 16
TS_MODULO = 1 << 32
DEFAULT_MAX_WAIT_S = 0.5
DEFAULT_MAX_PACKETS = 512

FrameSink = Callable[[bytes, int, bool], None]  # frame, extended RTP timestamp, key frame
LossSink = Callable[[int, int], None]  # extended timestamps: last good frame, the key frame resumed at


def vp8_descriptor(payload: bytes) -> tuple[int, bool] | None:
    """(length of the VP8 payload descriptor, starts partition 0) of one RTP payload; None if malformed."""
    if not payload:
        return None
    first = payload[0]
    pos = 1
    if first & 0x80:
        if len(payload) < 2:
            return None
        ext = payload[1]
        pos = 2
        if ext & 0x80:  # I: picture id, 7 or 15 bits
            if len(payload) <= pos:
                return None
            pos += 2 if payload[pos] & 0x80 else 1
        if ext & 0x40:  # L: TL0PICIDX
            pos += 1
        if ext & 0x30:  # T or K: TID / KEYIDX
            pos += 1
    if len(payload) <= pos:
        return None
    return pos, bool(first & 0x10) and (first & 0x0F) == 0


@dataclass
class AssemblerStats:
    packets: int = 0
    frames: int = 0  # written
    keyframes: int = 0  # written
    dropped_frames: int = 0  # complete but not decodable (waiting for a key frame) or broken
    losses: int = 0  # spans lost (each ends at a key frame)
    late: int = 0  # duplicates and packets arriving after their slot was given up
    malformed: int = 0


class Vp8FrameAssembler:
    def __init__(
        self,
        on_frame: FrameSink,
        on_loss: LossSink | None = None,
        *,
        max_wait_s: float = DEFAULT_MAX_WAIT_S,
        max_packets: int = DEFAULT_MAX_PACKETS,
    ) -> None:
        self._on_frame = on_frame
        self._on_loss = on_loss
        self._max_wait_ticks = int(max_wait_s * VIDEO_CLOCK_HZ)
        self._max_packets = max_packets
        self.stats = AssemblerStats()
        self.waiting_keyframe = True  # until the first key frame, and after a loss
        self._loss_from: int | None = None  # extended ts of the last good frame before a loss
        self._highest_seq: int | None = None
        self._next_seq: int | None = None
        self._last_ts: int | None = None  # extended
        self._pending: dict[int, tuple[int, bool, bytes]] = {}
        self._parts: list[bytes] = []
        self._frame_ts: int | None = None
        self._last_frame_ts: int | None = None
        self._processed_ts: int | None = None  # of the last packet taken in sequence order

    def push(self, seq: int, timestamp: int, marker: bool, payload: bytes) -> None:
        self.stats.packets += 1
        ext_seq = self._extend_seq(seq)
        ts = self._extend_ts(timestamp)
        if self._next_seq is None:
            self._next_seq = ext_seq
        if ext_seq < self._next_seq or ext_seq in self._pending:
            self.stats.late += 1
            return
        self._pending[ext_seq] = (ts, marker, payload)
        self._drain()
        while self._pending and self._stuck():
            self._skip_hole()

    def flush(self) -> None:
        """The track ends: use what arrived, skipping holes (a frame left open is dropped)."""
        while self._pending:
            self._skip_hole()
        if self._parts:
            self._broken()

    # -- internals ----------------------------------------------------------------------------------

    def _extend_seq(self, seq: int) -> int:
        if self._highest_seq is None:
            self._highest_seq = seq
            return seq
        delta = (seq - self._highest_seq) % SEQ_MODULO
        if delta >= SEQ_MODULO // 2:
            delta -= SEQ_MODULO
        ext = self._highest_seq + delta
        if delta > 0:
            self._highest_seq = ext
        return ext

    def _extend_ts(self, ts: int) -> int:
        if self._last_ts is None:
            self._last_ts = ts
            return ts
        delta = (ts - self._last_ts) % TS_MODULO
        if delta >= TS_MODULO // 2:
            delta -= TS_MODULO
        ext = self._last_ts + delta
        if delta > 0:
            self._last_ts = ext
        return ext

    def _stuck(self) -> bool:
        if len(self._pending) > self._max_packets:
            return True
        newest = self._pending[max(self._pending)][0]
        waited_from = self._processed_ts
        if waited_from is None:
            waited_from = min(v[0] for v in self._pending.values())
        return newest - waited_from > self._max_wait_ticks

    def _skip_hole(self) -> None:
        """Give up the missing packet(s) at the head: the frame they belong to is lost."""
        self._next_seq = min(self._pending)
        self._broken()
        self._drain()

    def _drain(self) -> None:
        pending = self._pending
        while self._next_seq in pending:
            assert self._next_seq is not None
            ts, marker, payload = pending.pop(self._next_seq)
            self._next_seq += 1
            self._processed_ts = ts
            self._packet(ts, marker, payload)

    def _packet(self, ts: int, marker: bool, payload: bytes) -> None:
        descriptor = vp8_descriptor(payload)
        if descriptor is None:
            self.stats.malformed += 1
            self._broken()
            return
        offset, starts = descriptor
        if starts:
            if self._parts:
                self._broken()  # the previous frame never got its marker
            self._parts = [payload[offset:]]
            self._frame_ts = ts
        elif self._parts and ts == self._frame_ts:
            self._parts.append(payload[offset:])
        else:
            if self._parts:
                self._broken()
            return  # a continuation of a frame whose start was given up
        if marker:
            self._complete()

    def _complete(self) -> None:
        frame = b"".join(self._parts)
        ts = self._frame_ts
        assert ts is not None
        self._parts = []
        self._frame_ts = None
        keyframe = bool(frame) and not frame[0] & 0x01
        if self.waiting_keyframe and not keyframe:
            self.stats.dropped_frames += 1
            return
        if self.waiting_keyframe:
            self.waiting_keyframe = False
            if self._loss_from is not None and self._on_loss is not None:
                self._on_loss(self._loss_from, ts)
            self._loss_from = None
        self._last_frame_ts = ts
        self.stats.frames += 1
        if keyframe:
            self.stats.keyframes += 1
        self._on_frame(frame, ts, keyframe)

    def _broken(self) -> None:
        """The frame being assembled (if any) cannot be completed: wait for a key frame."""
        if self._parts:
            self.stats.dropped_frames += 1
        self._parts = []
        self._frame_ts = None
        if not self.waiting_keyframe:
            self.waiting_keyframe = True
            self.stats.losses += 1
            self._loss_from = self._last_frame_ts
