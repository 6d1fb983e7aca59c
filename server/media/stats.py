"""Typed statistics of the SFU (RoomStats) and of a test/bot participant (ClientStats)."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class ForwardedStreamStats:
    """One publisher stream as forwarded to one viewer."""

    viewer_id: str
    publisher_id: str
    kind: str
    source: str
    mid: str
    packets_sent: int
    bytes_sent: int
    retransmitted: int
    forwarding: bool
    packets_native: int = 0  # of packets_sent, those written + protected + sent in C (media/_rtpsend.c)
    low_layer: bool = False  # a camera sent as its publisher's thumbnail now (a thin downlink, downlink.py)


@dataclass(frozen=True)
class ParticipantStats:
    participant_id: str
    connection_state: str
    audio_packets_received: int
    video_packets_received: int
    packets_lost_upstream: int
    keyframes_requested: int
    audio_forwarding: bool
    audio_only: bool
    packets_fast_path: int = 0  # RTP packets taken by the synchronous receive path (aiortc_hooks.RtpFastPath)
    packets_refused: int = 0  # dropped by that path: SRTP refused them (replay, authentication)
    packets_foreign: int = 0  # dropped: RTP of an m-line whose answer is not applied yet (other SSRC)


@dataclass(frozen=True)
class RoomStats:
    room_id: str
    participants: tuple[ParticipantStats, ...]
    forwarded: tuple[ForwardedStreamStats, ...]
    packets_in: int
    packets_out: int
    packets_fast_path: int = 0
    packets_native: int = 0  # of packets_out, those sent by the C sender


@dataclass(frozen=True)
class RemoteParticipantStats:
    """What a client received from one other participant (the contract of `giaoban bot --stats-json`)."""

    username: str
    unit: str
    audio_frames: int
    video_frames: int
    first_audio_ms: int | None
    first_video_ms: int | None
    packets_lost: int
    decode_errors: int = 0
    video_streams: int = 0


@dataclass(frozen=True)
class ClientStats:
    participants: tuple[RemoteParticipantStats, ...]

    def by_username(self, username: str) -> RemoteParticipantStats | None:
        return next((p for p in self.participants if p.username == username), None)

    def to_dict(self) -> dict[str, list[dict[str, object]]]:
        keys = (
            "username",
            "unit",
            "audio_frames",
            "video_frames",
            "first_audio_ms",
            "first_video_ms",
            "packets_lost",
        )
        return {"participants": [{k: asdict(p)[k] for k in keys} for p in self.participants]}

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), ensure_ascii=False)
