"""RtpWriter: serialises forwarded RTP for one viewer m-line from precomputed header parts.

What aiortc's `RtpPacket(...)` + `extensions` + `serialize(ext_map)` produce per packet, with everything fixed
for an m-line computed once at negotiation: the first byte, payload type, SSRC, the header-extension layout
and the mid element. Per packet only sequence number, timestamp, marker and the publisher's abs-send-time /
audio-level elements (packed once per incoming packet, `IncomingPacket.extension_tail`) change.
"""

from __future__ import annotations

import struct
from typing import TYPE_CHECKING

from server.media.incoming import (
    ABS_SEND_TIME_BYTES,
    AUDIO_LEVEL_BYTES,
    ONE_BYTE_MAX_ID,
    ONE_BYTE_MAX_LENGTH,
    ONE_BYTE_PROFILE,
    TWO_BYTE_PROFILE,
    IncomingPacket,
    extension_element,
    tail_key,
)

RTP_VERSION_BITS = 2 << 6
EXTENSION_BIT = 0x10
MARKER_BIT = 0x80
WORD_BYTES = 4

if TYPE_CHECKING:
    from server.media._rtpsend import RtpSender

try:
    from server.media import _rtpsend
except ImportError:  # not built (no C compiler at install): the Python path does all the work
    _rtpsend = None  # type: ignore[assignment]

NATIVE_SEND_AVAILABLE = _rtpsend is not None

_HEADER = struct.Struct("!BBHLL")
_EXTENDED_HEADER = struct.Struct("!BBHLLHH")
_SEQ = struct.Struct("!H")


class RtpWriter:
    """Header template of one send-only m-line (RFC 3550 header + RFC 8285 extensions).

    mid_id / abs_send_time_id / audio_level_id: negotiated extension ids, 0 when not negotiated.
    rtx_payload_type: None when RTX was not negotiated.
    """

    def __init__(
        self,
        payload_type: int,
        ssrc: int,
        mid: str,
        mid_id: int,
        abs_send_time_id: int,
        audio_level_id: int,
        rtx_payload_type: int | None = None,
        rtx_ssrc: int = 0,
    ) -> None:
        self.payload_type = payload_type
        self.ssrc = ssrc
        self.rtx_payload_type = rtx_payload_type
        self.rtx_ssrc = rtx_ssrc
        mid_bytes = mid.encode("utf8") if mid_id else b""
        ids = [i for i in (mid_id, abs_send_time_id, audio_level_id) if i]
        self.two_byte = any(i > ONE_BYTE_MAX_ID for i in ids) or len(mid_bytes) > ONE_BYTE_MAX_LENGTH
        self.abs_send_time_id = abs_send_time_id
        self.audio_level_id = audio_level_id
        self._profile = TWO_BYTE_PROFILE if self.two_byte else ONE_BYTE_PROFILE
        self._mid_element = extension_element(mid_id, mid_bytes, self.two_byte) if mid_bytes else b""
        # second header byte without / with the marker bit
        self._second = (payload_type, payload_type | MARKER_BIT)
        # indexed by the length of the per-packet extension elements (abs-send-time and/or audio level, or
        # none): (header extension words, mid element + zero padding)
        element_overhead = 2 if self.two_byte else 1
        self._layouts: list[tuple[int, bytes]] = []
        for tail_bytes in range(2 * element_overhead + ABS_SEND_TIME_BYTES + AUDIO_LEVEL_BYTES + 1):
            used = tail_bytes + len(self._mid_element)
            padding = -used % WORD_BYTES
            self._layouts.append(((used + padding) // WORD_BYTES, self._mid_element + b"\x00" * padding))
        self._tail_key = tail_key(abs_send_time_id, audio_level_id, self.two_byte)

    def set_payload_type(self, payload_type: int) -> None:
        """Write this payload type from now on (an audio m-line switches between RED and Opus)."""
        self.payload_type = payload_type
        self._second = (payload_type, payload_type | MARKER_BIT)

    def native_sender(self) -> RtpSender | None:
        """A C `RtpSender` with this template (write + SRTP-protect + sendto in one call), or None when the
        extension is not built. Its `packet()` gives the same bytes as `packet()` here."""
        if _rtpsend is None:
            return None
        return _rtpsend.RtpSender(self.payload_type, self.ssrc, self._profile, self._layouts)

    @property
    def tail_key(self) -> int:
        """Which per-packet extension elements (and ids) this m-line writes: `IncomingPacket.tail` is used
        as is when its `tail_key` is this one."""
        return self._tail_key

    def tail(self, source: IncomingPacket) -> bytes:
        """The per-packet extension elements of `source` as this m-line writes them."""
        if source.tail_key == self._tail_key:
            return source.tail
        return source.extension_tail(self.abs_send_time_id, self.audio_level_id, self.two_byte)

    def packet(self, seq: int, ts: int, source: IncomingPacket, payload: bytes | None = None) -> bytes:
        """`source` as this m-line's RTP packet with these sequence number and timestamp (the hot path: the
        same steps as `_serialize`, written out to save a call per forwarded packet); `payload` in place of
        the source's (a RED packet's primary block)."""
        if payload is None:
            payload = source.payload
        if source.tail_key == self._tail_key:
            tail = source.tail
        else:
            tail = source.extension_tail(self.abs_send_time_id, self.audio_level_id, self.two_byte)
        words, trailer = self._layouts[len(tail)]
        second = self._second[source.marker]
        if not words:
            return _HEADER.pack(RTP_VERSION_BITS, second, seq, ts, self.ssrc) + payload
        header = _EXTENDED_HEADER.pack(
            RTP_VERSION_BITS | EXTENSION_BIT, second, seq, ts, self.ssrc, self._profile, words
        )
        return b"".join((header, tail, trailer, payload))

    def rtx_packet(self, rtx_seq: int, original_seq: int, ts: int, source: IncomingPacket) -> bytes:
        """An RTX packet (RFC 4588) carrying `source` as first sent with `original_seq` and `ts`."""
        if self.rtx_payload_type is None:
            raise ValueError("RTX was not negotiated on this m-line")
        second = self.rtx_payload_type | MARKER_BIT if source.marker else self.rtx_payload_type
        payload = _SEQ.pack(original_seq) + source.payload
        return self._serialize(second, rtx_seq, ts, self.rtx_ssrc, source, payload)

    def _serialize(
        self, second: int, seq: int, ts: int, ssrc: int, source: IncomingPacket, payload: bytes
    ) -> bytes:
        tail = self.tail(source)
        words, trailer = self._layouts[len(tail)]
        if not words:
            return _HEADER.pack(RTP_VERSION_BITS, second, seq, ts, ssrc) + payload
        header = _EXTENDED_HEADER.pack(
            RTP_VERSION_BITS | EXTENSION_BIT, second, seq, ts, ssrc, self._profile, words
        )
        return b"".join((header, tail, trailer, payload))
