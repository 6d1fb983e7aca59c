"""Repairing a recorded track: a short reordering buffer, then its holes filled from the redundancy received.

Packets arrive out of order, late (a retransmission) or not at all. Each track's packets pass through a
:class:`ReorderBuffer` holding a few packets (default 4: 80 ms of 20 ms frames) so they reach the writer in
sequence order; a sequence number still missing when the buffer has moved ``depth`` packets past it is a
hole. Before the packet after a hole is written, :class:`TrackRepairer` fills the hole's time from:

1. RED redundant blocks (RFC 2198) of the packets that followed: each is an Opus packet of an earlier frame,
   written as is (no decode);
2. Opus in-band FEC: the packet right after the hole carries a low-bitrate copy (LBRR) of the frame before
   it. That frame is decoded with libopus (``decode_fec``, the decoder warmed on the last few packets) and
   encoded again as one Opus packet, so the file stays plain Opus that every player, the mixer and the
   transcriber read unchanged. The encoder is warmed on the same audio and fed the decoded signal ahead by
   its lookahead, so the new packet decodes to the recovered frame at its place in the stream.

What nothing recovers stays as the writer fills it today (encoded silence on the RTP clock) and is reported
through ``on_loss`` (start and end RTP timestamps), so the manifest lists the truly unrecovered gaps.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from recordings.opuscodec import Decoder, Encoder, OpusCodecError
from recordings.opuspacket import has_lbrr, opus_mode, packet_channels, packet_duration_samples
from recordings.red import RedBlock, parse_red

logger = logging.getLogger(__name__)

DEFAULT_REORDER_DEPTH_PACKETS = 4  # 80 ms of 20 ms frames
DEFAULT_MAX_SEQUENCE_JUMP = 1500  # 30 s of 20 ms packets: a bigger jump is a restarted sender, not a loss
HISTORY_PACKETS = 3  # packets decoded before a FEC frame to warm the decoder (and the encoder)
MIN_REENCODE_BITRATE_BPS = 12_000
# libopus' complexity for the re-encoded frames: 3 costs 1.0 ms per recovered frame (history decode, FEC
# decode, 4 encodes) instead of 2.4 ms at the default 10, with the same fidelity (median correlation of the
# recovered frames 0.93-0.94 either way): the work runs on the media event loop
REENCODE_COMPLEXITY = 3
MAX_REENCODE_BITRATE_BPS = 128_000
_SEQ_MODULUS = 1 << 16
_TS_MODULUS = 1 << 32


@dataclass(frozen=True)
class AudioPacket:
    """One received Opus packet: extended sequence number, RTP timestamp, and RED blocks it carried."""

    seq: int
    timestamp: int
    payload: bytes
    redundant: tuple[RedBlock, ...] = ()


@dataclass(frozen=True)
class Hole:
    """A sequence number that had not arrived when the buffer moved past it."""

    seq: int


Release = AudioPacket | Hole


class ReorderBuffer:
    """Puts one track's packets back in sequence order, holding at most ``depth`` packets past a gap.

    ``push`` returns what leaves the buffer, in order: packets, and a :class:`Hole` for each sequence number
    given up on. A packet older than what already left is counted (``late``) and dropped: its slot was
    written. ``flush`` releases everything (end of the track).
    """

    def __init__(
        self, depth: int = DEFAULT_REORDER_DEPTH_PACKETS, max_jump: int = DEFAULT_MAX_SEQUENCE_JUMP
    ) -> None:
        if depth < 1:
            raise ValueError("depth must be at least 1")
        self.depth = depth
        self.max_jump = max_jump
        self._buffer: dict[int, AudioPacket] = {}
        self._next: int | None = None  # extended sequence number expected next
        self._highest = 0
        self.late = 0
        self.duplicates = 0
        self.reordered = 0  # arrived after a higher sequence number, still in time
        self.resyncs = 0

    def extend(self, seq: int) -> int:
        """The extended (unwrapped) sequence number of a 16-bit one, relative to the highest seen."""
        if self._next is None:
            return seq + _SEQ_MODULUS  # room below for packets that precede the first one
        delta = (seq - self._highest) % _SEQ_MODULUS
        if delta >= _SEQ_MODULUS // 2:
            delta -= _SEQ_MODULUS
        return self._highest + delta

    @property
    def buffered(self) -> list[AudioPacket]:
        """The packets held, in sequence order."""
        return [self._buffer[k] for k in sorted(self._buffer)]

    def push(
        self, seq: int, timestamp: int, payload: bytes, redundant: tuple[RedBlock, ...] = ()
    ) -> list[Release]:
        ext = self.extend(seq)
        out: list[Release] = []
        if self._next is None:
            self._next = self._highest = ext
        elif abs(ext - self._next) > self.max_jump:
            self.resyncs += 1
            out += self.flush()
            self._next = self._highest = ext
        if ext < self._next:
            self.late += 1
            return out
        if ext in self._buffer:
            self.duplicates += 1
            return out
        if ext < self._highest:
            self.reordered += 1
        self._highest = max(self._highest, ext)
        self._buffer[ext] = AudioPacket(ext, timestamp, payload, redundant)
        self._drain(out, force=False)
        return out

    def flush(self) -> list[Release]:
        out: list[Release] = []
        self._drain(out, force=True)
        return out

    def restart(self) -> list[Release]:
        """Release everything and forget the sequence: the next packet starts afresh (counters kept)."""
        out = self.flush()
        self._next = None
        self._highest = 0
        return out

    def _drain(self, out: list[Release], *, force: bool) -> None:
        if self._next is None:
            return
        while self._buffer:
            packet = self._buffer.pop(self._next, None)
            if packet is not None:
                out.append(packet)
            elif force or self._highest - self._next >= self.depth:
                out.append(Hole(self._next))
            else:
                break
            self._next += 1


@dataclass
class RepairStats:
    """Per track, in packets (frames): what arrived, what was missing and how each hole was filled."""

    packets: int = 0
    reordered: int = 0
    late: int = 0
    duplicates: int = 0
    malformed: int = 0
    holes: int = 0
    recovered_red: int = 0
    recovered_fec: int = 0
    concealed: int = 0  # holes nothing recovered: the writer's silence fill
    lost_samples: int = 0  # 48 kHz samples of the unrecovered spans

    @property
    def recovered(self) -> int:
        return self.recovered_red + self.recovered_fec


WriteCallback = Callable[[bytes, int], None]
LossCallback = Callable[[int, int], None]
"""Called with (start, end) RTP timestamps of an unrecovered span, right after the packet that follows it
was written."""


@dataclass
class _Span:
    start: int  # offset from the gap's start, 48 kHz samples
    end: int
    packet: bytes = field(default=b"")


class TrackRepairer:
    """One track's packets in, the writer's packets out: in order, holes filled where redundancy allows."""

    def __init__(
        self,
        write: WriteCallback,
        *,
        on_loss: LossCallback | None = None,
        depth: int = DEFAULT_REORDER_DEPTH_PACKETS,
        fec: bool = True,
    ) -> None:
        self._write = write
        self._on_loss = on_loss
        self._fec = fec
        self.buffer = ReorderBuffer(depth)
        self.stats = RepairStats()
        self._history: deque[bytes] = deque(maxlen=HISTORY_PACKETS)
        self._expected: int | None = None  # RTP timestamp right after the last packet written
        self._holes = 0  # holes seen since the last packet written

    def push(self, seq: int, timestamp: int, payload: bytes, *, red: bool = False) -> None:
        """One RTP payload (Opus, or RED around Opus when ``red``) with its sequence number and timestamp."""
        redundant: tuple[RedBlock, ...] = ()
        if red:
            parsed = parse_red(payload, timestamp)
            if parsed is None or packet_duration_samples(parsed.primary.data) == 0:
                self.stats.malformed += 1
                return
            payload = parsed.primary.data
            redundant = tuple(b for b in parsed.redundant if b.payload_type == parsed.primary.payload_type)
        self.stats.packets += 1
        self._process(self.buffer.push(seq, timestamp, payload, redundant))

    def flush(self) -> None:
        """Write what the buffer holds (the track ends)."""
        self._process(self.buffer.flush())

    def restart(self) -> None:
        """Write what the buffer holds and expect a new sequence (the sender was muted: packets stopped)."""
        self._process(self.buffer.restart())
        self._holes = 0

    def _process(self, released: list[Release]) -> None:
        self.stats.reordered = self.buffer.reordered
        self.stats.late = self.buffer.late
        self.stats.duplicates = self.buffer.duplicates
        for index, item in enumerate(released):
            if isinstance(item, Hole):
                self._holes += 1
                continue
            spans: list[_Span] = []
            if self._holes and self._expected is not None:
                later = [r for r in released[index + 1 :] if isinstance(r, AudioPacket)]
                spans = self._fill(item, [item, *later, *self.buffer.buffered])
            if self._holes:
                self.stats.holes += self._holes
            self._write_packet(item.payload, item.timestamp)
            if spans:
                self._report_losses(spans, item)
            self._holes = 0

    def _write_packet(self, payload: bytes, timestamp: int) -> None:
        self._write(payload, timestamp)
        self._history.append(payload)
        duration = packet_duration_samples(payload)
        self._expected = (timestamp + duration) % _TS_MODULUS

    def _fill(self, after: AudioPacket, later: list[AudioPacket]) -> list[_Span]:
        """Write what redundancy recovers of [expected, after.timestamp); return the unrecovered spans."""
        assert self._expected is not None
        start = self._expected
        length = (after.timestamp - start) % _TS_MODULUS
        if length == 0 or length >= _TS_MODULUS // 2:
            return []
        recovered: dict[int, bytes] = {}
        for packet in later:
            for block in packet.redundant:
                offset = (block.timestamp - start) % _TS_MODULUS
                duration = packet_duration_samples(block.data)
                if duration and offset + duration <= length:
                    recovered.setdefault(offset, block.data)
        red_spans: list[_Span] = []
        cursor = 0
        for offset in sorted(recovered):
            if offset >= cursor:
                data = recovered[offset]
                red_spans.append(_Span(offset, offset + packet_duration_samples(data), data))
                cursor = red_spans[-1].end
        frame = packet_duration_samples(after.payload)
        # Each packet that fills or ends the gap (a RED block, then the packet after the gap) may carry FEC
        # for the frame just before it: recovered where that frame is still missing. Written in time order.
        chosen: list[_Span] = []
        cursor = 0
        for source in [*red_spans, _Span(length, length + frame, after.payload)]:
            duration = packet_duration_samples(source.packet)
            if self._fec and duration and source.start - duration >= cursor and has_lbrr(source.packet):
                rebuilt = self._recover_fec(source.packet, duration)
                if rebuilt is not None:
                    self._write_packet(rebuilt, (start + source.start - duration) % _TS_MODULUS)
                    self.stats.recovered_fec += 1
                    chosen.append(_Span(source.start - duration, source.start))
            if source.start < length:
                self._write_packet(source.packet, (start + source.start) % _TS_MODULUS)
                self.stats.recovered_red += 1
                chosen.append(source)
            cursor = source.end
        recovered_frames = len(chosen)
        concealed = max(0, self._holes - recovered_frames)
        self.stats.concealed += concealed
        if not concealed:
            return []
        gaps: list[_Span] = []
        cursor = 0
        for span in chosen:
            if span.start > cursor:
                gaps.append(_Span(cursor, span.start))
            cursor = span.end
        if cursor < length:
            gaps.append(_Span(cursor, length))
        # A gap longer than the missing packets also holds a pause of the sender (DTX): keep the lost part,
        # taken as the end of the gap (the packets just before the one that arrived).
        budget = concealed * (frame or 960)
        kept: list[_Span] = []
        for gap in reversed(gaps):
            if budget <= 0:
                break
            size = min(budget, gap.end - gap.start)
            kept.append(_Span(gap.end - size, gap.end))
            budget -= size
        return [_Span((start + g.start) % _TS_MODULUS, (start + g.end) % _TS_MODULUS) for g in reversed(kept)]

    def _report_losses(self, spans: list[_Span], after: AudioPacket) -> None:
        for span in spans:
            self.stats.lost_samples += (span.end - span.start) % _TS_MODULUS
            if self._on_loss is not None:
                self._on_loss(span.start, span.end)

    def _recover_fec(self, next_packet: bytes, frame: int) -> bytes | None:
        """The frame before ``next_packet`` from its LBRR data, as a new Opus packet (None on failure)."""
        try:
            return reencode_fec_frame(list(self._history), next_packet, frame)
        except (OpusCodecError, ValueError) as exc:
            logger.warning("FEC recovery failed: %s", exc)
            return None


def reencode_fec_frame(history: list[bytes], next_packet: bytes, frame: int) -> bytes:
    """Decode the frame before ``next_packet`` from its in-band FEC, warmed on ``history`` (the packets
    before the hole, oldest first), and encode it as one Opus packet that decodes at the frame's place."""
    channels = packet_channels(next_packet)
    decoder = Decoder(channels)
    try:
        decoded = [decoder.decode(p) for p in history if packet_duration_samples(p)]
        lost = decoder.decode_fec(next_packet, frame)
        following = decoder.decode(next_packet)
    finally:
        decoder.close()
    bitrate = len(next_packet) * 8 * 48000 // max(1, packet_duration_samples(next_packet))
    bitrate = min(MAX_REENCODE_BITRATE_BPS, max(MIN_REENCODE_BITRATE_BPS, bitrate))
    encoder = Encoder(channels, bitrate_bps=bitrate, complexity=REENCODE_COMPLEXITY)
    # the stream's mode (SILK or hybrid: it carried LBRR): a fresh encoder may pick another (CELT at aiortc's
    # 96 kb/s stereo), and the decoder's switch there and back costs the frame (median correlation of the
    # recovered frames 0.74 -> 0.93). Turning the encoder's own FEC on instead also keeps the mode, but its
    # LBRR then eats the bits of a 24 kb/s frame (0.48).
    encoder.force_mode(opus_mode(next_packet))
    try:
        lookahead = encoder.lookahead_samples
        signal = np.concatenate([*decoded, lost, following[:lookahead]])
        start = len(signal) - lookahead - frame  # where the lost frame begins in the decoded signal
        warm = (start + lookahead) // frame  # whole frames of warm-up that fit before it
        first = start - warm * frame + lookahead  # the encoder's input is the signal ahead by its lookahead
        packet = b""
        for k in range(warm + 1):
            packet = encoder.encode(signal[first + k * frame : first + (k + 1) * frame])
        return packet
    finally:
        encoder.close()
