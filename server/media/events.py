"""What the media layer tells the rest of the server: typed events, the audio tap, and the listener."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Literal

logger = logging.getLogger(__name__)

Kind = Literal["audio", "video"]
# "thumbnail": a second, low-resolution copy of a camera (the browser encodes it: aiortc cannot receive
# simulcast), forwarded only to the walls that show its publisher (MediaRoom.set_wall)
Source = Literal["microphone", "camera", "screen", "thumbnail"]


@dataclass(frozen=True)
class StreamLabel:
    """Whose stream an m-line carries: clients label their tiles with it."""

    mid: str
    participant_id: str
    username: str
    unit: str
    kind: Kind
    source: Source


@dataclass(frozen=True)
class Offer:
    """An SDP offer from the server to one participant, with the labels of its send-only m-lines."""

    participant_id: str
    sdp: str
    streams: tuple[StreamLabel, ...]

    def label(self, mid: str) -> StreamLabel | None:
        return next((s for s in self.streams if s.mid == mid), None)


@dataclass(frozen=True)
class AudioLevels:
    """Smoothed audio levels (0 = silent .. 127 = loudest) and who is speaking now (None = nobody)."""

    room_id: str
    levels: dict[str, int]
    active_speaker: str | None


@dataclass(frozen=True)
class ActiveSpeakerChanged:
    room_id: str
    participant_id: str | None


@dataclass(frozen=True)
class ConnectionStateChanged:
    room_id: str
    participant_id: str
    state: str


@dataclass(frozen=True)
class RenegotiationNeeded:
    """The streams forwarded to this participant changed: call MediaRoom.renegotiate(participant_id)."""

    room_id: str
    participant_id: str


@dataclass(frozen=True)
class StreamEnded:
    """A published stream is gone (screen share stopped, camera dropped, participant left): its recording
    ends here."""

    room_id: str
    participant_id: str
    source: Source


MediaEvent = AudioLevels | ActiveSpeakerChanged | ConnectionStateChanged | RenegotiationNeeded | StreamEnded


class MediaListener:
    """Callbacks from a MediaRoom. Subclass and override; the defaults do nothing.

    Both are called on the event loop, in the media path: keep them cheap. Exceptions are logged and
    swallowed, never raised into packet forwarding.
    """

    def on_audio_payload(
        self, participant_id: str, payload: bytes, rtp_timestamp: int, arrival_monotonic_s: float
    ) -> None:
        """Every received Opus payload of each participant (the recording tap)."""

    def on_audio_packet(
        self,
        participant_id: str,
        payload: bytes,
        rtp_timestamp: int,
        sequence_number: int,
        red: bool,
        arrival_monotonic_s: float,
    ) -> None:
        """Every received audio RTP payload with its sequence number (what the recording tap calls), so the
        recorder can reorder and repair; ``red``: RED (RFC 2198) around Opus. By default an Opus payload goes
        to :meth:`on_audio_payload` and a RED one is dropped."""
        if not red:
            self.on_audio_payload(participant_id, payload, rtp_timestamp, arrival_monotonic_s)

    def on_video_packet(
        self,
        participant_id: str,
        source: Source,
        payload: bytes,
        rtp_timestamp: int,
        sequence_number: int,
        marker: bool,
        ssrc: int,
    ) -> None:
        """Every received video RTP payload (camera or screen; VP8) of the media SSRC, retransmissions
        unwrapped, in arrival order: the video recording tap. Does nothing by default."""

    def on_event(self, event: MediaEvent) -> None:
        """Audio levels, active speaker and connection state changes, renegotiation needed, stream ended."""
