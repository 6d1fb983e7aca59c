"""MediaConfig: the settings of the SFU (addresses, bitrate cap, last-N, keyframe rate limits)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from aiortc import RTCBundlePolicy, RTCConfiguration, RTCIceServer

from server.media.audio_selection import AudioSelectionConfig
from server.media.downlink import DownlinkConfig
from server.media.turn import TurnIssuer

RTP_FAST_PATH_ENV = "GIAOBAN_RTP_FAST_PATH"
RTP_NATIVE_SEND_ENV = "GIAOBAN_RTP_NATIVE_SEND"
_OFF = ("0", "false", "no", "off")


def _on_unless_off(variable: str) -> bool:
    """An on/off environment variable that is on unless set to "0" (or false/no/off)."""
    return os.environ.get(variable, "1").strip().lower() not in _OFF


def rtp_fast_path_from_env() -> bool:
    """GIAOBAN_RTP_FAST_PATH: "0" (or false/no/off) turns the synchronous receive path off; on by default."""
    return _on_unless_off(RTP_FAST_PATH_ENV)


def rtp_native_send_from_env() -> bool:
    """GIAOBAN_RTP_NATIVE_SEND: "0" (or false/no/off) keeps forwarded RTP on the Python send path; on by
    default (where the C extension is built)."""
    return _on_unless_off(RTP_NATIVE_SEND_ENV)


@dataclass(frozen=True)
class IceServer:
    """A STUN/TURN server inside the closed network (never a public one)."""

    urls: tuple[str, ...]
    username: str | None = None
    credential: str | None = None


@dataclass(frozen=True)
class MediaConfig:
    """Settings of one SFU process.

    ice_addresses: host addresses offered as ICE candidates (tests: ["127.0.0.1"]).
    ice_servers: STUN/TURN servers; empty by default (a closed network has no public STUN).
    video_bitrate_cap_bps: REMB sent to every video publisher, per video track.
    last_n: camera videos forwarded to each viewer (pinned hall first, then recent speakers); 0 = no limit.
    udp_rcvbuf_bytes: SO_RCVBUF asked for each ICE socket.
    pli_min_interval_s: at most one keyframe request per publisher track per interval.
    remb_interval_s: how often the bitrate cap is repeated to publishers.
    history_packets: per-viewer history of rewritten video packets, for answering NACKs.
    speaker_hold_s: a participant stays "recently speaking" for last-N this long after the last loud packet.
    speaker_level_dbov: audio louder than this (-dBov, 0 = loudest, 127 = silence) counts as speech.
    levels_interval_s: how often audio levels are reported to the listener.
    rtp_fast_path: take publisher RTP of known SSRCs off the ICE socket synchronously
        (`aiortc_hooks.RtpFastPath`) instead of through aiortc's receive coroutines; default from
        GIAOBAN_RTP_FAST_PATH (on unless "0").
    audio_report_interval_s / video_report_interval_s: mean interval of the RTCP Sender Reports sent to
        viewers per forwarded stream (libwebrtc's: audio 5 s, video 1 s; aiortc's own: 1 s for both).
    rtp_native_send: write, SRTP-protect and send forwarded RTP in C (server/media/_rtpsend.c) where the
        extension is built; default from GIAOBAN_RTP_NATIVE_SEND (on unless "0").
    audio_speakers: recent speakers whose audio every viewer receives besides the pinned participants (the
        chair's hall, the floor holder); quiet rooms are not forwarded (server/media/audio_selection.py).
        0 forwards every microphone to every viewer.
    audio_hold_s: a speaker stays audible this long after its last speech (pauses between sentences).
    audio_preroll_s: audio kept per unforwarded microphone and sent first when it becomes audible.
    bounded_from: from this many participants on (0: never), each viewer has m-lines only for the streams
        forwarded to it (the audible microphones, its last-N cameras, screens), reused as speakers change,
        instead of one per stream of every other participant: a join costs one offer, not one per participant.
    opus_dtx: say ``usedtx=1`` in the Opus fmtp of every offer (server/media/sdp.py `with_opus_dtx`): a
        browser then sends (almost) nothing while its microphone is silent (Opus DTX).
    turn: TURN servers with time-limited credentials (server/media/turn.py); each peer connection gets a
        fresh credential for the account turn_account, valid turn.ttl_s (longer than a meeting).
    downlink: how each viewer's videos follow its link (server/media/downlink.py): fewer videos, then audio
        only, when its Receiver Reports show loss or its REMB falls under what it is sent, and back.
    """

    ice_addresses: tuple[str, ...] = ("127.0.0.1",)
    ice_servers: tuple[IceServer, ...] = ()
    video_bitrate_cap_bps: int = 800_000
    last_n: int = 0
    udp_rcvbuf_bytes: int = 4 * 1024 * 1024
    pli_min_interval_s: float = 0.5
    remb_interval_s: float = 1.0
    history_packets: int = 512
    speaker_hold_s: float = 10.0
    speaker_level_dbov: int = 50
    levels_interval_s: float = 0.5
    rtp_fast_path: bool = field(default_factory=rtp_fast_path_from_env)
    rtp_native_send: bool = field(default_factory=rtp_native_send_from_env)
    audio_report_interval_s: float = 5.0
    video_report_interval_s: float = 1.0
    audio_speakers: int = 3
    audio_hold_s: float = 2.0
    audio_preroll_s: float = 0.24
    bounded_from: int = 0
    opus_dtx: bool = True
    turn: TurnIssuer | None = None
    turn_account: str = "giaoban-sfu"
    downlink: DownlinkConfig = field(default_factory=DownlinkConfig)

    def audio_selection(self) -> AudioSelectionConfig:
        return AudioSelectionConfig(
            speakers=self.audio_speakers, hold_s=self.audio_hold_s, preroll_s=self.audio_preroll_s
        )

    def rtc_configuration(self) -> RTCConfiguration:
        """An explicit RTCConfiguration: aiortc falls back to a public STUN server when iceServers is unset.

        max-bundle: with aiortc's default (balanced) policy a second video m-line keeps a transport that is
        discarded when the answer bundles everything, and RTP sent on it is lost.
        """
        return RTCConfiguration(
            bundlePolicy=RTCBundlePolicy.MAX_BUNDLE,
            iceServers=[
                RTCIceServer(urls=list(s.urls), username=s.username, credential=s.credential)
                for s in self.ice_servers
            ]
            + self._turn_servers(),
        )

    def _turn_servers(self) -> list[RTCIceServer]:
        if self.turn is None:
            return []
        c = self.turn.issue(self.turn_account)
        return [RTCIceServer(urls=list(c.urls), username=c.username, credential=c.credential)]
