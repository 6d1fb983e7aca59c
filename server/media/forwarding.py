"""StreamForwarder: one publisher stream rewritten for one viewer (SSRC, payload type, sequence number,
timestamp, mid), with keyframe hold and a history of the rewritten packets for answering NACKs."""

from __future__ import annotations

import logging
import random
import time

from aiortc import RTCRtpTransceiver
from aiortc.rtp import HeaderExtensionsMap, RtpPacket, wrap_rtx

from server.media import aiortc_hooks as hooks

logger = logging.getLogger(__name__)

SEQ_MODULO = 1 << 16
TS_MODULO = 1 << 32
MIN_GAP_S = 0.020


class StreamForwarder:
    """Forwards one publisher stream on one viewer transceiver (an m-line the server offered send-only)."""

    def __init__(self, transceiver: RTCRtpTransceiver, kind: str, clock_rate_hz: int, history_packets: int):
        self.transceiver = transceiver
        self.kind = kind
        self.clock_rate_hz = clock_rate_hz
        self.history_packets = history_packets
        self.enabled = True
        self.waiting_keyframe = kind == "video"
        self.packets_sent = 0
        self.bytes_sent = 0
        self.retransmitted = 0
        self._ready = False
        self._payload_type = 0
        self._rtx_payload_type: int | None = None
        self._ssrc = hooks.sender_ssrc(transceiver.sender)
        self._rtx_ssrc = hooks.sender_rtx_ssrc(transceiver.sender)
        self._rtx_seq = random.randrange(SEQ_MODULO)
        self._ext_map = HeaderExtensionsMap()
        self._mid = ""
        self._source_ssrc: int | None = None
        self._seq_offset = 0
        self._ts_offset = 0
        self._last_seq: int | None = None
        self._last_ts = random.randrange(TS_MODULO)
        self._last_sent_s = 0.0
        self._last_marker = True
        self._history: dict[int, RtpPacket] = {}

    def configure(self) -> None:
        """Read the negotiated payload types, header extensions and mid (after each answer)."""
        if self.transceiver.currentDirection not in ("sendonly", "sendrecv"):
            self._ready = False
            return
        codecs = hooks.negotiated_codecs(self.transceiver)
        if not codecs:
            self._ready = False
            return
        self._payload_type = codecs[0].payloadType or 0
        self._rtx_payload_type = next(
            (
                c.payloadType
                for c in codecs
                if c.mimeType.lower().endswith("/rtx") and c.parameters.get("apt") == self._payload_type
            ),
            None,
        )
        self._ext_map = hooks.header_extensions_map(self.transceiver)
        self._mid = self.transceiver.mid or ""
        self._ready = True

    @property
    def ready(self) -> bool:
        return self._ready

    @property
    def mid(self) -> str:
        return self._mid

    def continue_from(self, previous: StreamForwarder) -> None:
        """Keep the viewer's sequence numbers and timestamps continuous when an m-line is reused."""
        self._last_seq = previous._last_seq
        self._last_ts = previous._last_ts
        self._last_sent_s = previous._last_sent_s
        self._last_marker = previous._last_marker
        self._rtx_seq = previous._rtx_seq

    def restart(self) -> None:
        """Start over on the next packet: new source mapping, and for video wait for a keyframe."""
        self._source_ssrc = None
        if self.kind == "video":
            self.waiting_keyframe = True

    async def forward(self, packet: RtpPacket, keyframe_start: bool) -> bool:
        """Rewrite and send one packet; False when it was held back (video waiting for a keyframe)."""
        if not self._ready:
            return False
        if not self.enabled and not self._finishing_frame(packet):
            return False
        if packet.ssrc != self._source_ssrc:
            if self.kind == "video" and not keyframe_start:
                self.waiting_keyframe = True
                return False
            self._resync(packet)
        elif self.waiting_keyframe:
            if not keyframe_start:
                return False
            self._resync(packet)
        out = RtpPacket(
            payload_type=self._payload_type,
            marker=packet.marker,
            sequence_number=(packet.sequence_number + self._seq_offset) % SEQ_MODULO,
            timestamp=(packet.timestamp + self._ts_offset) % TS_MODULO,
            ssrc=self._ssrc,
            payload=packet.payload,
        )
        out.extensions.mid = self._mid
        out.extensions.abs_send_time = packet.extensions.abs_send_time
        out.extensions.audio_level = packet.extensions.audio_level
        data = out.serialize(self._ext_map)
        if not await hooks.send_rtp(self.transceiver.sender.transport, data):
            if self.kind == "video":
                # The viewer missed part of a frame (e.g. its transport was not connected yet): a decoder fed
                # the rest would fail, so start again at the next keyframe (the room asks the publisher).
                self.waiting_keyframe = True
            return False
        if self.kind == "video":
            self._history[out.sequence_number % self.history_packets] = out
        self._last_seq = out.sequence_number
        self._last_ts = out.timestamp
        self._last_marker = bool(out.marker)
        self._last_sent_s = time.monotonic()
        self.packets_sent += 1
        self.bytes_sent += len(data)
        return True

    def _finishing_frame(self, packet: RtpPacket) -> bool:
        """A disabled video forwarder still sends the rest of the frame it started.

        aiortc's jitter buffer hands a frame to the decoder as soon as the next timestamp arrives, marker or
        not: a frame cut short here would reach the viewer's decoder incomplete when forwarding resumes.
        """
        return (
            self.kind == "video"
            and not self._last_marker
            and packet.ssrc == self._source_ssrc
            and (packet.timestamp + self._ts_offset) % TS_MODULO == self._last_ts
        )

    def _resync(self, packet: RtpPacket) -> None:
        now = time.monotonic()
        if self._last_seq is None:
            out_seq = random.randrange(SEQ_MODULO)
            out_ts = self._last_ts
        else:
            out_seq = (self._last_seq + 1) % SEQ_MODULO
            gap_s = max(MIN_GAP_S, now - self._last_sent_s)
            out_ts = (self._last_ts + int(gap_s * self.clock_rate_hz)) % TS_MODULO
        self._seq_offset = (out_seq - packet.sequence_number) % SEQ_MODULO
        self._ts_offset = (out_ts - packet.timestamp) % TS_MODULO
        self._source_ssrc = packet.ssrc
        self.waiting_keyframe = False

    async def retransmit(self, sequence_numbers: list[int]) -> None:
        """Answer a viewer's NACK from the history of rewritten packets (RTX when negotiated)."""
        for seq in sequence_numbers:
            original = self._history.get(seq % self.history_packets)
            if original is None or original.sequence_number != seq:
                continue
            packet = original
            if self._rtx_payload_type is not None:
                packet = wrap_rtx(
                    original,
                    payload_type=self._rtx_payload_type,
                    sequence_number=self._rtx_seq,
                    ssrc=self._rtx_ssrc,
                )
                packet.extensions.mid = self._mid
                self._rtx_seq = (self._rtx_seq + 1) % SEQ_MODULO
            if await hooks.send_rtp(self.transceiver.sender.transport, packet.serialize(self._ext_map)):
                self.retransmitted += 1
