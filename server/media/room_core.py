"""The state every layer of a `MediaRoom` shares, and the helpers they all use.

`MediaRoom` (room.py) is built in layers, each a class that uses only the layers below it (an import-linter
contract in pyproject.toml checks the modules' imports):

- `MediaRoom` (room.py): the public API (join, answer, leave, screen share, server mute, pinning, the wall,
  stats), the SDP offers, and the periodic tick (levels, last-N, downlinks, REMB);
- `RoomIngress` (room_ingress.py): the receive path, both ways in (aiortc's and the fast path), RTX, NACKs,
  the recording tap, audio selection, forwarding to the viewers;
- `RoomSlots` (room_slots.py): which streams each viewer receives: its send m-lines, last-N cameras, wall
  thumbnails, bounded negotiation, its downlink's budget;
- `RoomFeedback` (room_feedback.py): RTCP: key frame requests and REMB to publishers, viewers' NACK, PLI,
  REMB and receiver reports, each viewer's downlink adaptation;
- `RoomCore` (here): the state: participants, published streams, speakers, audio selection, link policies.

Every layer logs as "server.media.room".
"""

from __future__ import annotations

import asyncio
import logging

from server.media.audio_selection import AudioSelector
from server.media.config import MediaConfig
from server.media.downlink import DownlinkPolicy
from server.media.errors import RoomClosedError, UnknownParticipantError
from server.media.events import MediaEvent, MediaListener
from server.media.participants import Participant, PublishedStream, StreamKey
from server.media.speakers import SpeakerTracker
from server.media.uplink import UplinkEstimator

logger = logging.getLogger("server.media.room")

AUDIO_CLOCK_RATE_HZ = 48000
VIDEO_CLOCK_RATE_HZ = 90000


class RoomCore:
    """The state of one meeting's SFU; the layers above add behaviour, `MediaRoom` is the one to use."""

    def __init__(self, room_id: str, config: MediaConfig, listener: MediaListener | None = None) -> None:
        self.room_id = room_id
        self.config = config
        self.listener = listener or MediaListener()
        self._participants: dict[str, Participant] = {}
        self._streams: dict[StreamKey, PublishedStream] = {}
        self._speakers = SpeakerTracker(config.speaker_level_dbov, config.speaker_hold_s)
        self._pinned: tuple[str, ...] = ()  # set_pinned
        # audio selection: whose microphone every viewer receives now (_select_audio)
        self._audio_selection = config.audio_selection()
        self._audio = AudioSelector(self._audio_selection)
        self._audible: frozenset[str] = frozenset()
        self._closed = False
        self._packets_in = 0
        self._packets_out = 0
        self._feedback: set[asyncio.Task[None]] = set()  # RTCP sent from the synchronous media path
        self._downlink = DownlinkPolicy(config.downlink)  # each viewer's videos follow its link
        self._uplink = UplinkEstimator(config.video_bitrate_cap_bps)  # each publisher's video, its uplink's

    def _emit(self, event: MediaEvent) -> None:
        try:
            self.listener.on_event(event)
        except Exception:
            logger.exception("room %s: listener failed on %s", self.room_id, type(event).__name__)

    def _get(self, participant_id: str) -> Participant:
        self._assert_open()
        participant = self._participants.get(participant_id)
        if participant is None:
            raise UnknownParticipantError(f"{participant_id} is not in room {self.room_id}")
        return participant

    def _assert_open(self) -> None:
        if self._closed:
            raise RoomClosedError(f"room {self.room_id} is closed")
