"""IncomingPacket: what the forwarders need from one publisher RTP packet, read once per packet.

A meeting of N forwards each packet N-1 times, so the fields the forwarders read are copied once into a
slotted object, and the header extension values are packed once (per negotiated id layout, normally one for
the whole room). The packet comes either from aiortc's parsed `RtpPacket` (`from_rtp`) or, on the fast receive
path, straight from the plaintext bytes (`parse`: the RTP header and only the abs-send-time and audio-level
header extensions, as aiortc's `RtpPacket.parse` reads them).
"""

from __future__ import annotations

import struct

from aiortc.rtp import RtpPacket

ABS_SEND_TIME_BYTES = 3
AUDIO_LEVEL_BYTES = 1
ONE_BYTE_PROFILE = 0xBEDE
TWO_BYTE_PROFILE = 0x1000
ONE_BYTE_MAX_ID = 14
ONE_BYTE_MAX_LENGTH = 16
RTP_HEADER_BYTES = 12
CSRC_BYTES = 4
EXTENSION_HEADER_BYTES = 4
WORD_BYTES = 4
RTP_VERSION = 2
RTX_OSN_BYTES = 2  # the original sequence number in front of an RTX payload (RFC 4588)

_U32 = struct.Struct("!L")
_FIXED_HEADER = struct.Struct("!BBHLL")
_EXTENSION_HEADER = struct.Struct("!HH")


class IncomingPacket:
    """One publisher RTP packet (media SSRC, RTX already unwrapped), shared by every viewer's forwarder.

    wallclock_s: arrival time (time.time(), seconds) — the forwarders' Sender Reports pair it with the RTP
    timestamp they sent. The object is kept in each viewer's retransmission history by reference.
    """

    __slots__ = (
        "ssrc",
        "seq",
        "ts",
        "marker",
        "payload",
        "abs_send_time",
        "audio_level",
        "keyframe",
        "wallclock_s",
        "tail_key",
        "tail",
        "payload_type",
        "red",
        "_primary",
    )

    def __init__(
        self,
        ssrc: int,
        seq: int,
        ts: int,
        marker: int,
        payload: bytes,
        abs_send_time: bytes | None,
        audio_level: bytes | None,
        keyframe: bool,
        wallclock_s: float,
        payload_type: int = 0,
    ) -> None:
        self.ssrc = ssrc
        self.seq = seq
        self.ts = ts
        self.marker = marker
        self.payload = payload
        self.abs_send_time = abs_send_time
        self.audio_level = audio_level
        self.keyframe = keyframe
        self.wallclock_s = wallclock_s
        # the last extension_tail() result and its id layout (tail_key), read directly by RtpWriter
        self.tail_key = -1
        self.tail = b""
        self.payload_type = payload_type
        self.red = False  # the payload is RED (RFC 2198): set by the room from the publisher's negotiated PT
        self._primary: bytes | None = None

    def primary(self) -> bytes | None:
        """The primary block of a RED payload (the packet's own Opus frame), computed once per incoming
        packet for every viewer that did not negotiate RED; None when the payload is malformed."""
        if self._primary is None:
            self._primary = red_primary(self.payload) or b""
        return self._primary or None

    @classmethod
    def from_rtp(cls, packet: RtpPacket, keyframe: bool, wallclock_s: float) -> IncomingPacket:
        ext = packet.extensions
        abs_send_time = _U32.pack(ext.abs_send_time & 0xFFFFFF)[1:] if ext.abs_send_time is not None else None
        level = ext.audio_level
        audio_level = bytes(((0x80 if level[0] else 0) | (level[1] & 0x7F),)) if level is not None else None
        return cls(
            packet.ssrc,
            packet.sequence_number,
            packet.timestamp,
            1 if packet.marker else 0,
            packet.payload,
            abs_send_time,
            audio_level,
            keyframe,
            wallclock_s,
            packet.payload_type,
        )

    @classmethod
    def parse(
        cls, data: bytes, abs_send_time_id: int, audio_level_id: int, wallclock_s: float
    ) -> IncomingPacket:
        """Read a plaintext RTP packet as aiortc's `RtpPacket.parse` does (ValueError where it would raise):
        CSRCs skipped, padding stripped, the abs-send-time and audio-level elements (RFC 8285, one-byte or
        two-byte form; ids as negotiated, 0 = not negotiated) kept as the bytes they are on the wire."""
        size = len(data)
        if size < RTP_HEADER_BYTES:
            raise ValueError("RTP packet is shorter than its fixed header")
        first, second, seq, ts, ssrc = _FIXED_HEADER.unpack_from(data)
        if first >> 6 != RTP_VERSION:
            raise ValueError("RTP packet has invalid version")
        pos = RTP_HEADER_BYTES + CSRC_BYTES * (first & 0x0F)
        if size < pos:
            raise ValueError("RTP packet has truncated CSRC")
        abs_send_time = audio_level = None
        if first & 0x10:
            if size < pos + EXTENSION_HEADER_BYTES:
                raise ValueError("RTP packet has truncated extension profile / length")
            profile, words = _EXTENSION_HEADER.unpack_from(data, pos)
            pos += EXTENSION_HEADER_BYTES
            end = pos + words * WORD_BYTES
            if size < end:
                raise ValueError("RTP packet has truncated extension value")
            if profile == ONE_BYTE_PROFILE or profile == TWO_BYTE_PROFILE:
                abs_send_time, audio_level = _read_extensions(
                    data, pos, end, profile == TWO_BYTE_PROFILE, abs_send_time_id, audio_level_id
                )
            pos = end
        if first & 0x20:
            padding = data[-1]
            if not padding or padding > size - pos:
                raise ValueError("RTP packet padding length is invalid")
            payload = data[pos : size - padding]
        else:
            payload = data[pos:]
        return cls(
            ssrc, seq, ts, second >> 7, payload, abs_send_time, audio_level, False, wallclock_s, second & 0x7F
        )

    def unwrap_rtx(self, media_ssrc: int, media_payload_type: int) -> None:
        """Turn this RTX packet (RFC 4588, payload at least RTX_OSN_BYTES long) into the packet it repairs,
        in place, as aiortc's `unwrap_rtx` does."""
        payload = self.payload
        self.seq = (payload[0] << 8) | payload[1]
        self.payload = payload[RTX_OSN_BYTES:]
        self.ssrc = media_ssrc
        self.payload_type = media_payload_type

    def extension_tail(self, abs_send_time_id: int, audio_level_id: int, two_byte: bool) -> bytes:
        """The abs-send-time and audio-level elements (RFC 8285) for these negotiated ids (0: not negotiated).

        Cached for the last id layout asked for: every viewer of a room normally negotiates the same ids.
        """
        key = tail_key(abs_send_time_id, audio_level_id, two_byte)
        if key == self.tail_key:
            return self.tail
        tail = b""
        if abs_send_time_id and self.abs_send_time is not None:
            tail += extension_element(abs_send_time_id, self.abs_send_time, two_byte)
        if audio_level_id and self.audio_level is not None:
            tail += extension_element(audio_level_id, self.audio_level, two_byte)
        self.tail_key = key
        self.tail = tail
        return tail


def _read_extensions(
    data: bytes, pos: int, end: int, two_byte: bool, abs_send_time_id: int, audio_level_id: int
) -> tuple[bytes | None, bytes | None]:
    """The abs-send-time and audio-level values among the header-extension elements in data[pos:end]
    (aiortc's `unpack_header_extensions` rules: zero bytes are padding, a truncated element is an error)."""
    abs_send_time = audio_level = None
    while pos < end:
        head = data[pos]
        if not head:
            pos += 1
            continue
        if two_byte:
            if end < pos + 2:
                raise ValueError("RTP two-byte header extension is truncated")
            ext_id, length = head, data[pos + 1]
            pos += 2
        else:
            ext_id, length = head >> 4, (head & 0x0F) + 1
            pos += 1
        if end < pos + length:
            raise ValueError("RTP header extension value is truncated")
        if ext_id == abs_send_time_id and length == ABS_SEND_TIME_BYTES:
            abs_send_time = data[pos : pos + length]
        elif ext_id == audio_level_id and length == AUDIO_LEVEL_BYTES:
            audio_level = data[pos : pos + length]
        pos += length
    return abs_send_time, audio_level


RED_BLOCK_HEADER_BYTES = 4  # F=1, block PT (7 bits), timestamp offset (14), block length (10)
RED_BLOCK_LENGTH_MASK = 0x3FF
RED_MAX_BLOCKS = 8  # as recordings/red.py: Chromium sends at most 2 redundant blocks


def red_primary(payload: bytes) -> bytes | None:
    """The primary block of a RED payload (RFC 2198 §3): after the redundant blocks' 4-byte headers, the
    primary's 1-byte header and the redundant blocks' data. None when the headers run past the payload,
    there are more than RED_MAX_BLOCKS, or the primary is empty (nothing a non-RED viewer could decode)."""
    size = len(payload)
    pos = 0
    data_bytes = 0
    blocks = 0
    while pos < size and payload[pos] & 0x80:
        if blocks == RED_MAX_BLOCKS or pos + RED_BLOCK_HEADER_BYTES > size:
            return None
        data_bytes += ((payload[pos + 2] << 8) | payload[pos + 3]) & RED_BLOCK_LENGTH_MASK
        pos += RED_BLOCK_HEADER_BYTES
        blocks += 1
    start = pos + 1 + data_bytes  # the primary's header, then the redundant data
    if pos >= size or start >= size:
        return None
    return payload[start:]


class ReceptionStats:
    """Reception statistics of one publisher SSRC for the server's RTCP Receiver Reports (RFC 3550 A.3, A.8):
    extended highest sequence number, packets expected and received, cumulative and interval loss, jitter.

    The attributes aiortc's receiver RTCP loop reads (`aiortc_hooks.reception_statistics`): `fraction_lost`
    (reading it closes the interval, as in aiortc), `packets_lost`, `max_seq` (the extended highest sequence
    number) and `jitter` (timestamp units). Sequence numbers more than MAX_DROPOUT ahead or MAX_MISORDER
    behind restart the count when two in a row agree (A.1, without the probation of a new source).
    """

    MAX_DROPOUT = 3000
    MAX_MISORDER = 100
    SEQ_MOD = 1 << 16

    __slots__ = (
        "_clock_rate_hz",
        "base_seq",
        "_max",
        "_cycles",
        "_bad_seq",
        "received",
        "_expected_prior",
        "_received_prior",
        "_jitter_q4",
        "_transit",
    )

    def __init__(self, clock_rate_hz: int) -> None:
        self._clock_rate_hz = clock_rate_hz
        self.base_seq: int | None = None
        self._max = 0
        self._cycles = 0
        self._bad_seq = -1
        self.received = 0
        self._expected_prior = 0
        self._received_prior = 0
        self._jitter_q4 = 0
        self._transit: int | None = None

    def add(self, seq: int, ts: int, arrival_s: float) -> None:
        if self.base_seq is None:
            self.base_seq = seq
            self._max = seq
        else:
            delta = (seq - self._max) % self.SEQ_MOD
            if delta < self.MAX_DROPOUT:
                if seq < self._max:
                    self._cycles += self.SEQ_MOD
                self._max = seq
            elif delta <= self.SEQ_MOD - self.MAX_MISORDER:
                # a very large jump: restart when the next packet follows this one (the sender restarted)
                if seq != self._bad_seq:
                    self._bad_seq = (seq + 1) % self.SEQ_MOD
                    return
                self.base_seq = seq
                self._max = seq
                self._cycles = 0
                self.received = 0
                self._expected_prior = self._received_prior = 0
                self._transit = None
            # else: duplicate or reordered within MAX_MISORDER: counted as received
        self.received += 1
        # interarrival jitter (A.8), in timestamp units
        transit = int(arrival_s * self._clock_rate_hz) - ts
        if self._transit is not None:
            d = abs(transit - self._transit)
            if d < (1 << 31):
                self._jitter_q4 += d - ((self._jitter_q4 + 8) >> 4)
        self._transit = transit

    @property
    def max_seq(self) -> int:
        """Extended highest sequence number received (cycles + highest)."""
        return self._cycles + self._max

    @property
    def expected(self) -> int:
        if self.base_seq is None:
            return 0
        return self.max_seq - self.base_seq + 1

    @property
    def packets_lost(self) -> int:
        """Cumulative lost (expected - received; negative with duplicates), clamped to 24-bit signed."""
        return max(-(1 << 23), min((1 << 23) - 1, self.expected - self.received))

    @property
    def fraction_lost(self) -> int:
        """Lost in the interval since the last read, in 1/256 (0 when none or when duplicates outnumber)."""
        expected = self.expected
        expected_interval = expected - self._expected_prior
        self._expected_prior = expected
        received_interval = self.received - self._received_prior
        self._received_prior = self.received
        lost_interval = expected_interval - received_interval
        if expected_interval <= 0 or lost_interval <= 0:
            return 0
        return (lost_interval << 8) // expected_interval

    @property
    def jitter(self) -> int:
        return self._jitter_q4 >> 4


def tail_key(abs_send_time_id: int, audio_level_id: int, two_byte: bool) -> int:
    """One int for an extension id layout (ids are 1..255)."""
    return (abs_send_time_id << 9) | (audio_level_id << 1) | two_byte


def extension_element(ext_id: int, value: bytes, two_byte: bool) -> bytes:
    """One header-extension element in the one-byte (RFC 8285 §4.2) or two-byte (§4.3) form."""
    if two_byte:
        return bytes((ext_id, len(value))) + value
    return bytes(((ext_id << 4) | (len(value) - 1),)) + value
