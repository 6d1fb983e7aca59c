"""StreamForwarder: one publisher stream rewritten for one viewer (SSRC, payload type, sequence number,
timestamp, mid), with keyframe hold, a history of what was sent for answering NACKs, and the numbers for the
viewer's RTCP Sender Reports.

The hot path: the room parses each publisher packet once (`IncomingPacket`); each forwarder writes the RTP
header from its negotiated template (`RtpWriter`) and hands the bytes to the viewer transport's SRTP session
and ICE socket (`aiortc_hooks.rtp_output`), synchronously — or, where the C extension is built, its
`RtpSender` (server/media/_rtpsend.c) does the three steps in one call once `aiortc_hooks.arm_rtp_sender` has
armed it; a sender that is not armed (or whose guards fail) returns -1 and the Python path sends and re-arms.
The retransmission history keeps references to the shared incoming packets plus the offsets they were sent
with, not per-viewer copies.

Layers (server/media/downlink.py): a camera's forwarder may be fed its publisher's thumbnail too (layer 1,
LOW) and told which to send (`set_layer`). It goes on sending the layer it sends until the first key frame of
the other arrives, then continues its own sequence numbers and timestamps from that packet on (`_resync`, as
for any change of source SSRC): the viewer's decoder sees one stream whose resolution changes at a key frame.
"""

from __future__ import annotations

import logging
import random
from typing import TYPE_CHECKING

from aiortc import RTCRtpTransceiver
from aiortc.rtp import RtcpSenderInfo

from server.media import aiortc_hooks as hooks
from server.media.incoming import IncomingPacket
from server.media.rtp_writer import RtpWriter

if TYPE_CHECKING:
    from server.media._rtpsend import RtpSender

logger = logging.getLogger(__name__)

SEQ_MODULO = 1 << 16
SEQ_MASK = SEQ_MODULO - 1
TS_MODULO = 1 << 32
TS_MASK = TS_MODULO - 1
MIN_GAP_S = 0.020
NTP_EPOCH_OFFSET_S = 2_208_988_800  # 1900-01-01 to 1970-01-01
NTP_FRACTION = 1 << 32
COUNTER_MASK = 0xFFFFFFFF
ARM_RETRY_PACKETS = 50  # the Python path tries to arm the C sender again after this many packets
MID_URI = "urn:ietf:params:rtp-hdrext:sdes:mid"
ABS_SEND_TIME_URI = "http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time"
AUDIO_LEVEL_URI = "urn:ietf:params:rtp-hdrext:ssrc-audio-level"

Offsets = tuple[int, int]  # (sequence-number offset, timestamp offset) of one source mapping


def ntp_timestamp(wallclock_s: float) -> int:
    """64-bit NTP timestamp (RFC 3550 §4) of a time.time() value."""
    return int((wallclock_s + NTP_EPOCH_OFFSET_S) * NTP_FRACTION)


def _send_nothing(data: bytes) -> bool:
    return False


class StreamForwarder:
    """Forwards one publisher stream on one viewer transceiver (an m-line the server offered send-only)."""

    def __init__(
        self,
        transceiver: RTCRtpTransceiver,
        kind: str,
        clock_rate_hz: int,
        history_packets: int,
        native_send: bool = True,
    ):
        self.transceiver = transceiver
        self.kind = kind
        self.clock_rate_hz = clock_rate_hz
        self.history_packets = history_packets
        self.enabled = True
        self.ready = False  # negotiated and configured: packets can be written
        self.waiting_keyframe = kind == "video"
        # video layers: 0 the stream this m-line carries (a camera), 1 its low layer (the thumbnail); `layer`
        # is sent now, `target_layer` once its next key frame comes
        self.layer = 0
        self.target_layer = 0
        self.layer_switches = 0
        self.packets_sent = 0
        self.bytes_sent = 0
        self.retransmitted = 0
        self.red_stripped = 0  # RED packets sent to this viewer as their primary Opus packet
        self.red_malformed = 0  # RED packets dropped: no primary could be read for this non-RED viewer
        # RTCP SR counts (RFC 3550 §6.4.1): RTP packets and payload octets sent on this m-line's SSRC, kept
        # across the forwarders that reuse the m-line (continue_from; sr_packets adds packets_sent)
        self._sr_packets_before = 0
        self.sr_octets = 0
        self._video = kind == "video"
        self._payload_type = 0
        self._rtx_payload_type: int | None = None
        # audio: the viewer's Opus and RED payload types (RED None: not negotiated, RED is stripped), and the
        # incoming payload kind (red or not) the writer's payload type is set for now
        self._opus_payload_type = 0
        self._red_payload_type: int | None = None
        self._writing_red = False
        self._ssrc = hooks.sender_ssrc(transceiver.sender)
        self._rtx_ssrc = hooks.sender_rtx_ssrc(transceiver.sender)
        self._rtx_seq = random.randrange(SEQ_MODULO)
        self._writer = RtpWriter(0, self._ssrc, "", 0, 0, 0)
        self._output: hooks.RtpOutput = _send_nothing
        self._native_send = native_send
        # the C sender (write + protect + sendto, `RtpWriter.native_sender`) and the packet count at which
        # the Python path next tries to arm it
        self._sender: RtpSender | None = None
        self._tail_key = self._writer.tail_key
        self._next_arm = 0
        self._native_before = 0  # packets sent by the C senders this forwarder replaced
        self._mid = ""
        self._source_ssrc: int | None = None
        self._seq_offset = 0
        self._ts_offset = 0
        self._offsets: Offsets = (0, 0)
        self._last_seq: int | None = None
        self._last_ts = random.randrange(TS_MODULO)
        self._last_wallclock_s: float | None = None
        self._last_marker = 1
        # video: what was sent with each outgoing sequence number (index seq % history_packets)
        self._history: list[IncomingPacket | None] = [None] * history_packets if self._video else []
        self._history_offsets: list[Offsets] = [(0, 0)] * history_packets if self._video else []

    def configure(self, output: hooks.RtpOutput | None = None) -> None:
        """Read the negotiated payload types, header extensions, mid and transport (after each answer).

        output: where serialised packets go (default: the transceiver's transport, `aiortc_hooks.rtp_output`).
        """
        if self.transceiver.currentDirection not in ("sendonly", "sendrecv"):
            self.ready = False
            return
        codecs = hooks.negotiated_codecs(self.transceiver)
        if not codecs:
            self.ready = False
            return
        self._payload_type = codecs[0].payloadType or 0
        if not self._video:
            opus = next((c.payloadType for c in codecs if c.mimeType.lower() == "audio/opus"), None)
            red = next((c.payloadType for c in codecs if c.mimeType.lower() == hooks.RED_MIME_TYPE), None)
            self._opus_payload_type = opus if opus is not None else self._payload_type
            self._red_payload_type = red if opus is not None else None
            self._payload_type = self._opus_payload_type
            self._writing_red = False
        self._rtx_payload_type = next(
            (
                c.payloadType
                for c in codecs
                if c.mimeType.lower().endswith("/rtx") and c.parameters.get("apt") == self._payload_type
            ),
            None,
        )
        ids = {ext.uri: ext.id for ext in hooks.negotiated_header_extensions(self.transceiver)}
        self._mid = self.transceiver.mid or ""
        self._writer = RtpWriter(
            self._payload_type,
            self._ssrc,
            self._mid,
            ids.get(MID_URI, 0),
            ids.get(ABS_SEND_TIME_URI, 0),
            ids.get(AUDIO_LEVEL_URI, 0),
            self._rtx_payload_type,
            self._rtx_ssrc,
        )
        self._tail_key = self._writer.tail_key
        if self._sender is not None:
            self._sender.disarm()
            self._native_before = self.packets_native
        # a custom output (tests) is always used as is
        self._sender = self._writer.native_sender() if self._native_send and output is None else None
        self._next_arm = 0
        self._output = output or hooks.rtp_output(self.transceiver.sender.transport)
        self.ready = True

    @property
    def mid(self) -> str:
        return self._mid

    def continue_from(self, previous: StreamForwarder) -> None:
        """Keep the viewer's sequence numbers, timestamps and SR counts continuous on a reused m-line."""
        self._last_seq = previous._last_seq
        self._last_ts = previous._last_ts
        self._last_wallclock_s = previous._last_wallclock_s
        self._last_marker = previous._last_marker
        self._rtx_seq = previous._rtx_seq
        self._sr_packets_before = previous.sr_packets
        self.sr_octets = previous.sr_octets

    def restart(self) -> None:
        """Start over on the next packet: new source mapping, and for video wait for a keyframe (of the
        target layer)."""
        self._source_ssrc = None
        if self._video:
            self.waiting_keyframe = True
            self._take_target()

    @property
    def low_layer(self) -> bool:
        """Sending the low layer (the publisher's thumbnail) in place of this m-line's stream now."""
        return self.layer != 0

    def set_layer(self, layer: int) -> None:
        """Send this layer (0: the m-line's own stream, 1: its low layer) from its next key frame on; until
        then the one sent goes on (when nothing is sent now, the switch is at once)."""
        self.target_layer = layer
        if self.waiting_keyframe or not self.enabled:
            self._take_target()

    @property
    def keyframe_layer(self) -> int | None:
        """The layer this forwarder waits for a key frame of (the room asks its publisher: PLI), or None."""
        if self.enabled and (self.waiting_keyframe or self.target_layer != self.layer):
            return self.target_layer
        return None

    def _take_target(self) -> None:
        if self.layer != self.target_layer:
            self.layer = self.target_layer
            self._source_ssrc = None

    def forward(self, packet: IncomingPacket, layer: int = 0) -> bool:
        """Rewrite and send one packet of `layer` (0: the m-line's stream, 1: its low layer); False when it
        was held back (video waiting for a keyframe, another layer than the one sent)."""
        if not self.ready:
            return False
        if layer != self.layer:
            if layer != self.target_layer or not packet.keyframe or not self.enabled:
                return False
            self.layer = layer  # the target layer's key frame: switch here, continuing the numbering
            self._source_ssrc = None
            self.layer_switches += 1
        if not self.enabled and not self._finishing_frame(packet):
            return False
        if packet.ssrc != self._source_ssrc:
            if self._video and not packet.keyframe:
                self.waiting_keyframe = True
                self._take_target()
                return False
            self._resync(packet)
        elif self.waiting_keyframe:
            if not packet.keyframe:
                return False
            self._resync(packet)
        payload = packet.payload
        if packet.red != self._writing_red:
            self._switch_payload_type(packet.red)
        if packet.red and self._red_payload_type is None:
            primary = packet.primary()
            if primary is None:
                self.red_malformed += 1
                return False
            payload = primary
            self.red_stripped += 1
        seq = (packet.seq + self._seq_offset) & SEQ_MASK
        ts = (packet.ts + self._ts_offset) & TS_MASK
        size = -1
        sender = self._sender
        if sender is not None:
            tail = packet.tail if packet.tail_key == self._tail_key else self._writer.tail(packet)
            size = sender.send(seq, ts, packet.marker, tail, payload)
        if size < 0:  # no C sender, or it is not armed (see _arm)
            data = self._writer.packet(seq, ts, packet, payload)
            size = len(data) if self._output(data) else 0
            if size and sender is not None and self.packets_sent >= self._next_arm:
                self._arm(sender)
        if not size:
            if self._video:
                # The viewer missed part of a frame (e.g. its transport was not connected yet): a decoder fed
                # the rest would fail, so start again at the next keyframe (the room asks the publisher).
                self.waiting_keyframe = True
                self._take_target()
            return False
        if self._video:
            index = seq % self.history_packets
            self._history[index] = packet
            self._history_offsets[index] = self._offsets
        self._last_seq = seq
        self._last_ts = ts
        self._last_marker = packet.marker
        self._last_wallclock_s = packet.wallclock_s
        self.packets_sent += 1
        self.bytes_sent += size
        self.sr_octets += len(payload)
        return True

    def _switch_payload_type(self, red: bool) -> None:
        """Write RED's payload type for RED packets when the viewer negotiated RED, Opus' otherwise (a RED
        packet for a viewer without RED is stripped to its primary, an Opus packet)."""
        self._writing_red = red
        payload_type = self._red_payload_type if red and self._red_payload_type is not None else None
        if payload_type is None:
            payload_type = self._opus_payload_type
        self._writer.set_payload_type(payload_type)
        if self._sender is not None:
            self._sender.payload_type = payload_type

    @property
    def packets_native(self) -> int:
        """Of packets_sent, those the C sender wrote, protected and sent."""
        if self._sender is None:
            return self._native_before
        sent, handed_over, _ = self._sender.counts
        return self._native_before + sent + handed_over

    def _arm(self, sender: RtpSender) -> None:
        """After a packet the Python path sent: let the C sender take the following ones. Where it cannot
        (e.g. a TURN relay, a full socket), try again ARM_RETRY_PACKETS packets later."""
        if not hooks.arm_rtp_sender(sender, self.transceiver.sender.transport):
            self._next_arm = self.packets_sent + ARM_RETRY_PACKETS

    @property
    def sr_packets(self) -> int:
        """RTP packets sent on this m-line's SSRC (for the Sender Report)."""
        return self._sr_packets_before + self.packets_sent

    def sender_info(self) -> RtcpSenderInfo | None:
        """The sender info of this m-line's next RTCP SR: the NTP time of the last packet sent (its arrival
        from the publisher) with its RTP timestamp, and the packet/octet counts. None before any packet."""
        if self._last_wallclock_s is None:
            return None
        return RtcpSenderInfo(
            ntp_timestamp=ntp_timestamp(self._last_wallclock_s),
            rtp_timestamp=self._last_ts,
            packet_count=self.sr_packets & COUNTER_MASK,
            octet_count=self.sr_octets & COUNTER_MASK,
        )

    def _finishing_frame(self, packet: IncomingPacket) -> bool:
        """A disabled video forwarder still sends the rest of the frame it started.

        aiortc's jitter buffer hands a frame to the decoder as soon as the next timestamp arrives, marker or
        not: a frame cut short here would reach the viewer's decoder incomplete when forwarding resumes.
        """
        return (
            self._video
            and not self._last_marker
            and packet.ssrc == self._source_ssrc
            and (packet.ts + self._ts_offset) & TS_MASK == self._last_ts
        )

    def _resync(self, packet: IncomingPacket) -> None:
        if self._last_seq is None or self._last_wallclock_s is None:
            out_seq = random.randrange(SEQ_MODULO)
            out_ts = self._last_ts
        else:
            out_seq = (self._last_seq + 1) % SEQ_MODULO
            # the viewer's timestamps advance by the time since the last packet it got (arrival clock)
            gap_s = max(MIN_GAP_S, packet.wallclock_s - self._last_wallclock_s)
            out_ts = (self._last_ts + int(gap_s * self.clock_rate_hz)) % TS_MODULO
        self._seq_offset = (out_seq - packet.seq) % SEQ_MODULO
        self._ts_offset = (out_ts - packet.ts) % TS_MODULO
        self._offsets = (self._seq_offset, self._ts_offset)
        self._source_ssrc = packet.ssrc
        self.waiting_keyframe = False

    def retransmit(self, sequence_numbers: list[int]) -> None:
        """Answer a viewer's NACK from the history of sent packets (RTX when negotiated)."""
        if not self.ready or not self._history:
            return
        for seq in sequence_numbers:
            index = seq % self.history_packets
            source = self._history[index]
            if source is None:
                continue
            seq_offset, ts_offset = self._history_offsets[index]
            if (source.seq + seq_offset) & SEQ_MASK != seq:
                continue
            ts = (source.ts + ts_offset) & TS_MASK
            if self._rtx_payload_type is not None:
                data = self._writer.rtx_packet(self._rtx_seq, seq, ts, source)
                self._rtx_seq = (self._rtx_seq + 1) % SEQ_MODULO
            else:
                data = self._writer.packet(seq, ts, source)
            if self._output(data):
                self.retransmitted += 1
