"""Media: aiortc peer connections and RTP forwarding without transcoding (a selective forwarding unit).

Imports aiortc/aioice/av only; nothing of HTTP or the database. Every use of aiortc private internals lives
in `server.media.aiortc_hooks` (checked at import by `self_check()`: a changed internal that the SFU requires
raises HookError; one that only accelerates — `ACCELERATIONS`: the synchronous send `direct_send`, the C
sender `c_sender`, the receive `fast_path`, libwebrtc's RTCP `report_interval`, and two tolerances, the ICE
`consent_window` and the ICE sockets' `udp_drain` — is switched off with a warning and aiortc's plain path
does that work; `/api/health` lists what is off under `media`).

Forwarding path (room_ingress.py -> forwarding.py): each publisher packet is read once into an
`IncomingPacket` (incoming.py); per viewer m-line a `StreamForwarder` rewrites SSRC / payload type / sequence
number / timestamp with a precomputed header template (`RtpWriter`, rtp_writer.py) and writes the packet
through the viewer transport's SRTP session straight to its ICE socket (`aiortc_hooks.rtp_output`). Where the
optional C extension is built (server/media/_rtpsend.c, at install), the header write, SRTP protect and
`sendto` of each copy happen in one C call (`RtpSender`, armed by `aiortc_hooks.arm_rtp_sender` with guards on
the aiortc state it depends on; when a guard fails the Python path takes the packet and re-arms).
`MediaConfig.rtp_native_send` (GIAOBAN_RTP_NATIVE_SEND=0) keeps the Python path. NACKs are answered (RTX) from
a history of references to the shared incoming packets; the viewers' RTCP Sender Reports carry the forwarders'
packet/octet counts and RTP/NTP timestamps (`aiortc_hooks.intercept_sender_reports`).

Receive path: the first packets of a publisher SSRC come aiortc's way (ICE queue, DTLS transport coroutines,
`RtpPacket.parse`, the receiver hook `intercept_rtp` -> `MediaRoom._on_rtp`); the room then routes the SSRC
(and the stream's RTX SSRCs) to the participant's `aiortc_hooks.RtpFastPath`, which unprotects the following
packets synchronously as they come off the ICE socket and hands the plaintext to `MediaRoom._on_rtp_bytes`
(`IncomingPacket.parse`). Both ways meet in `MediaRoom._on_packet` (RTX unwrap, NACKs from `NackTracker`
(nack.py), keyframe detection, the audio tap, forwarding); RTCP feedback goes out from tasks.
`MediaConfig.rtp_fast_path` (GIAOBAN_RTP_FAST_PATH=0 turns it off) keeps everything on aiortc's way.

Public API
----------
- `MediaConfig` (config.py): ice_addresses, ice_servers (empty by default: no public STUN),
  video_bitrate_cap_bps (REMB to publishers), last_n (camera videos per viewer, 0 = all), udp_rcvbuf_bytes,
  pli_min_interval_s, turn (a `TurnIssuer`, turn.py: a fresh time-limited TURN credential per peer
  connection), ...
- `MediaRoom(room_id, config, listener)` (room.py; built in layers, each module one concern, listed in
  room_core.py: room_core, room_feedback (RTCP), room_slots (each viewer's m-lines, last-N, the wall),
  room_ingress (the receive path), room (this API, the offers)), the server is always the SDP offerer:
    `await join(pid, *, publishes_video=True, audio_only=False, username=None, unit=None) -> Offer`
    (the same pid again = reconnect with a fresh RTCPeerConnection), `await answer(pid, sdp)`,
    `await add_ice_candidate(pid, candidate, sdp_mid, sdp_mline_index)`, `await renegotiate(pid) -> Offer`
    (raises OfferPendingError while an offer is unanswered; RenegotiationNeeded follows the answer),
    `await start_screen_share(pid) -> Offer`, `await stop_screen_share(pid) -> Offer`,
    `withdraw_screen_share(pid)` (the chair withdrew the permission: forwarding stops now, offers follow),
    `set_audio_forwarding(pid, enabled)` (server-side mute), `set_audio_only(pid, on)` (an audio-only
    participant's offers have no video m-lines; switching emits RenegotiationNeeded for it),
    `set_pinned(pids)` (cameras kept in every viewer's last-N, in priority order: the chair's hall, the
    floor holder),
    `await leave(pid)`, `await close()`, `stats() -> RoomStats`, `participant_ids()`.
- `Offer(participant_id, sdp, streams)` with `StreamLabel(mid, participant_id, username, unit, kind, source)`
  for every m-line: the participant's own (recv-only at the server: it publishes there; source
  microphone / camera / screen) and everyone else's (send-only). A browser answering sets, for its own labels,
  `transceiver.direction = "sendonly"` and `sender.replaceTrack(track)` before createAnswer.
- `MediaListener` (events.py): `on_audio_packet(pid, payload, rtp_timestamp, sequence_number, red,
  arrival_monotonic_s)` for every received audio packet (the recording tap, also while server-muted; by
  default it calls `on_audio_payload(pid, payload, rtp_timestamp, arrival_monotonic_s)` for Opus), and
  `on_video_packet(pid, source, payload, rtp_timestamp, sequence_number, marker, ssrc)` for every received
  camera / screen packet (the video recording tap), and
  `on_event(event)` with `AudioLevels`, `ActiveSpeakerChanged`, `ConnectionStateChanged`,
  `RenegotiationNeeded`, `StreamEnded` (a camera or screen stream is gone). Exceptions in callbacks are
  logged, never raised into the media path. `request_keyframe(pid, source)` sends a publisher a PLI
  (rate-limited), for the recorder.
- Errors (errors.py): `MediaError` > `MalformedSdpError` (that peer is closed, others undisturbed),
  `UnknownParticipantError`, `OfferPendingError`, `RoomClosedError`.
- `MediaClient(participant_id, ClientConfig)` (client.py): a real aiortc participant for `giaoban bot`, tests
  and benchmarks: `await accept_offer(offer) -> answer_sdp`, `stats() -> ClientStats`
  (`to_json()` in the shape of the `--stats-json` contract), `await wait_connected()`, `await close()`.
- `ClientProcess(pids, ClientConfig, extension=None)` (client_process.py): MediaClients in a child process
  over a pipe; a key not among `pids` gets its client on its first offer; an extension (made in the child)
  answers the messages of its own (the Janus benchmark's publishers).
"""

from server.media.client import ClientConfig, MediaClient
from server.media.config import IceServer, MediaConfig
from server.media.errors import (
    MalformedSdpError,
    MediaError,
    OfferPendingError,
    RoomClosedError,
    UnknownParticipantError,
)
from server.media.events import (
    ActiveSpeakerChanged,
    AudioLevels,
    ConnectionStateChanged,
    MediaEvent,
    MediaListener,
    Offer,
    RenegotiationNeeded,
    StreamEnded,
    StreamLabel,
)
from server.media.room import MediaRoom
from server.media.stats import ClientStats, RemoteParticipantStats, RoomStats

__all__ = [
    "ActiveSpeakerChanged",
    "AudioLevels",
    "ClientConfig",
    "ClientStats",
    "ConnectionStateChanged",
    "IceServer",
    "MalformedSdpError",
    "MediaClient",
    "MediaConfig",
    "MediaError",
    "MediaEvent",
    "MediaListener",
    "MediaRoom",
    "Offer",
    "OfferPendingError",
    "RemoteParticipantStats",
    "RenegotiationNeeded",
    "RoomClosedError",
    "RoomStats",
    "StreamEnded",
    "StreamLabel",
    "UnknownParticipantError",
]
