"""IncomingPacket: what the forwarders need from one publisher RTP packet, read once per packet.

aiortc parses every packet into an `RtpPacket` with a `HeaderExtensions` object; a meeting of N forwards each
packet N-1 times, so the fields the forwarders read are copied once into a slotted object, and the header
extension values are packed once (per negotiated id layout, normally one for the whole room).
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

_U32 = struct.Struct("!L")


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

    @classmethod
    def from_rtp(cls, packet: RtpPacket, keyframe: bool, wallclock_s: float) -> IncomingPacket:
        ext = packet.extensions
        abs_send_time = (
            _U32.pack(ext.abs_send_time & 0xFFFFFF)[1:] if ext.abs_send_time is not None else None
        )
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
        )

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


def tail_key(abs_send_time_id: int, audio_level_id: int, two_byte: bool) -> int:
    """One int for an extension id layout (ids are 1..255)."""
    return (abs_send_time_id << 9) | (audio_level_id << 1) | two_byte


def extension_element(ext_id: int, value: bytes, two_byte: bool) -> bytes:
    """One header-extension element in the one-byte (RFC 8285 §4.2) or two-byte (§4.3) form."""
    if two_byte:
        return bytes((ext_id, len(value))) + value
    return bytes(((ext_id << 4) | (len(value) - 1),)) + value
