"""The state a MediaRoom keeps per participant: the streams it publishes, the send-only m-lines that carry
other participants' streams to it, and its peer connection."""

from __future__ import annotations

from dataclasses import dataclass, field

from aiortc import RTCPeerConnection, RTCRtpTransceiver
from aiortc.rtcdtlstransport import RTCDtlsTransport
from aiortc.rtp import RtcpSenderInfo

from server.media import aiortc_hooks as hooks
from server.media.audio_selection import PreRoll
from server.media.events import Kind, Source
from server.media.forwarding import StreamForwarder
from server.media.incoming import IncomingPacket
from server.media.nack import NackTracker
from server.media.quality import ReportTimes

StreamKey = tuple[str, Source]


@dataclass
class PublishedStream:
    """A stream one participant publishes, and every viewer forwarder fed from it."""

    participant_id: str
    kind: Kind
    source: Source
    transceiver: RTCRtpTransceiver | None = None
    media_ssrc: int | None = None
    # SSRCs (media and RTX) the publisher's last answer declares for this m-line; empty when it declares none.
    # Until the answer adding an m-line is applied, that m-line's packets reach aiortc unregistered and its
    # payload-type fallback hands them to the one video receiver it knows (the camera): while an offer is
    # pending, a stream refuses SSRCs it was not declared. (After it, aiortc routes by the declared SSRCs.)
    declared_ssrcs: frozenset[int] = frozenset()
    foreign_packets: int = 0
    forwarders: dict[str, StreamForwarder] = field(default_factory=dict)
    # a thumbnail: the viewers' camera forwarders of its publisher that take it as their low layer (to switch
    # to it, or sending it now), by viewer id (server/media/downlink.py)
    layered: dict[str, StreamForwarder] = field(default_factory=dict)
    last_packet_s: float = -1e9  # time.time() of its last packet
    low_asked_s: float | None = None  # a silent thumbnail asked for as a low layer then; None once it sends
    nack: NackTracker = field(default_factory=NackTracker)
    # (fast path, SSRC) routed to this stream, unrouted when it is dropped
    fast_routes: list[tuple[hooks.RtpFastPath, int]] = field(default_factory=list)
    last_keyframe_request_s: float = -1e9
    keyframes_requested: int = 0
    packets: int = 0
    lost_upstream: int = 0
    # audio: recent packets kept while nobody receives this microphone (MediaRoom._select_audio sends them
    # first when it becomes audible); None for video
    preroll: PreRoll[IncomingPacket] | None = None

    @property
    def key(self) -> StreamKey:
        return (self.participant_id, self.source)

    def forget_viewer(self, viewer_id: str) -> None:
        """The viewer's forwarder of this stream is gone (it left, reconnects, or the slot was freed)."""
        self.forwarders.pop(viewer_id, None)
        self.layered.pop(viewer_id, None)


@dataclass
class SendSlot:
    """A send-only m-line of a viewer, carrying one publisher stream (or none: inactive, reusable)."""

    transceiver: RTCRtpTransceiver
    kind: Kind
    stream: StreamKey | None
    forwarder: StreamForwarder | None = None
    previous: StreamForwarder | None = None
    idle: StreamKey | None = None  # the stream it last carried (bounded meetings label idle audio with it)
    reports: ReportTimes = field(default_factory=ReportTimes)  # round trip and loss from the viewer's RRs

    def sender_info(self) -> RtcpSenderInfo | None:
        """What this m-line's RTCP Sender Report says (StreamForwarder.sender_info), asked as it is sent."""
        forwarder = self.forwarder or self.previous
        info = forwarder.sender_info() if forwarder is not None else None
        if info is not None:
            self.reports.sent(info.ntp_timestamp)
        return info


@dataclass
class Participant:
    participant_id: str
    username: str
    unit: str
    publishes_video: bool
    audio_only: bool
    pc: RTCPeerConnection
    audio_forwarding: bool = True
    screen_sharing: bool = False
    publishes_thumbnail: bool = False  # a second, low-resolution copy of its camera (source "thumbnail")
    wall: tuple[str, ...] = ()  # whose thumbnails it receives (MediaRoom.set_wall: the chair's wall page)
    recv: dict[Source, RTCRtpTransceiver] = field(default_factory=dict)
    slots: list[SendSlot] = field(default_factory=list)
    offer_pending: bool = False
    renegotiate_after_answer: bool = False
    ssrc_mids: dict[int, str] = field(default_factory=dict)  # SSRC -> the m-line its answer declares it on
    connection_state: str = "new"
    # one per DTLS transport of the participant's RTCPeerConnection (one with max-bundle)
    fast_paths: dict[RTCDtlsTransport, hooks.RtpFastPath] = field(default_factory=dict)
