"""Signaling messages (WebSocket ``/ws/meetings/{id}``): one pydantic model per message type.

Every message is a JSON object with a ``type``. The full list, with examples, is in ``docs/signaling.md``;
``tests/server/test_signaling_docs.py`` fails when a type here is not documented there.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

MAX_CHAT_CHARS = 2000
MAX_SDP_CHARS = 60_000


class _Msg(BaseModel):
    model_config = ConfigDict(extra="forbid")


# ---- client → server -----------------------------------------------------------------------------------
class Join(_Msg):
    """Start media: the server answers with an ``offer``. ``publish_thumbnail``: also publish a low-resolution
    copy of the camera (the chair's wall of connection points shows it)."""

    type: Literal["join"]
    audio_only: bool = False
    publish_video: bool = True
    publish_thumbnail: bool = False


class Answer(_Msg):
    type: Literal["answer"]
    sdp: str = Field(min_length=10, max_length=MAX_SDP_CHARS)


class IceCandidate(_Msg):
    type: Literal["ice"]
    candidate: str = Field(max_length=1000)
    sdp_mid: str | None = None
    sdp_mline_index: int | None = None


class SetMute(_Msg):
    """Own microphone/camera state. Unmuting the microphone needs the floor when the chair controls it."""

    type: Literal["mute"]
    audio: bool | None = None
    video: bool | None = None


class RaiseHand(_Msg):
    type: Literal["raise_hand"]
    raised: bool = True


class SendChat(_Msg):
    type: Literal["chat"]
    text: str = Field(min_length=1, max_length=MAX_CHAT_CHARS)


class SetAudioOnly(_Msg):
    type: Literal["audio_only"]
    enabled: bool


class ScreenShare(_Msg):
    """Start or stop publishing a screen (needs the chair's permission, except for the chair)."""

    type: Literal["screen_share"]
    on: bool


class Ping(_Msg):
    type: Literal["ping"]


class Leave(_Msg):
    type: Literal["leave"]


# chair controls (chair or clerk of the chairing unit, or admin)
class MuteParticipant(_Msg):
    type: Literal["mute_participant"]
    participant_id: str


class MuteAll(_Msg):
    type: Literal["mute_all"]


class GiveFloor(_Msg):
    type: Literal["give_floor"]
    participant_id: str | None  # None takes the floor back


class AllowScreenShare(_Msg):
    type: Literal["allow_screen_share"]
    participant_id: str
    allowed: bool = True


class RemoveParticipant(_Msg):
    type: Literal["remove_participant"]
    participant_id: str


class ReadmitParticipant(_Msg):
    """Let a removed participant join again (``participant_id`` as in ``removed``)."""

    type: Literal["readmit_participant"]
    participant_id: str


class LockMeeting(_Msg):
    type: Literal["lock"]
    locked: bool


class RollCall(_Msg):
    type: Literal["roll_call"]
    unit: str
    status: Literal["present_online", "present_in_person", "absent", "not_called"]
    reason: str = Field("", max_length=500)


class FloorControl(_Msg):
    """On (the default): microphones outside the chairing unit stay closed until the chair gives the floor."""

    type: Literal["floor_control"]
    enabled: bool


class EndMeeting(_Msg):
    type: Literal["end_meeting"]


class OpenAgendaItem(_Msg):
    """Move the meeting to an agenda item (``item_id`` as in ``welcome``'s ``agenda``; null: none)."""

    type: Literal["agenda_item"]
    item_id: int | None


ROLL_CALL_DELTA = "roll_call_delta"
KNOWN_FEATURES = frozenset({ROLL_CALL_DELTA})


class Hello(_Msg):
    """What the client understands. ``roll_call_delta``: roll-call changes come as ``roll_call_entry`` (one
    changed unit each) instead of the full ``roll_call``. Unknown feature names are ignored."""

    type: Literal["hello"]
    features: list[Annotated[str, Field(max_length=64)]] = Field(default_factory=list, max_length=32)


class WallPage(_Msg):
    """Show this page (1-based) of the wall of connection points' thumbnails (the chairing unit only)."""

    type: Literal["wall_page"]
    page: int


class GetRollCall(_Msg):
    """Ask for the full roll-call (the server replies ``roll_call`` to the sender only)."""

    type: Literal["get_roll_call"]


class SetCaptions(_Msg):
    """Live captions on (``caption`` messages follow) or off for this socket. ``enabled`` is checked by its
    handler, not here: a non-boolean is answered with an ``error`` (``bad_captions``) and the socket stays
    open, as the contract asks."""

    type: Literal["captions"]
    enabled: Any = None


ClientMessage = Annotated[
    Join
    | Answer
    | IceCandidate
    | SetMute
    | RaiseHand
    | SendChat
    | SetAudioOnly
    | ScreenShare
    | Ping
    | Leave
    | MuteParticipant
    | MuteAll
    | GiveFloor
    | AllowScreenShare
    | RemoveParticipant
    | ReadmitParticipant
    | LockMeeting
    | RollCall
    | FloorControl
    | EndMeeting
    | OpenAgendaItem
    | Hello
    | GetRollCall
    | WallPage
    | SetCaptions,
    Field(discriminator="type"),
]
client_message_adapter: TypeAdapter[ClientMessage] = TypeAdapter(ClientMessage)

CHAIR_MESSAGES = frozenset(
    {
        "mute_participant",
        "mute_all",
        "give_floor",
        "allow_screen_share",
        "remove_participant",
        "readmit_participant",
        "lock",
        "roll_call",
        "floor_control",
        "end_meeting",
        "agenda_item",
    }
)


# ---- server → client -----------------------------------------------------------------------------------
class ParticipantInfo(_Msg):
    id: str
    username: str
    display_name: str
    unit: str
    unit_name: str
    role: str
    is_chair_unit: bool
    audio_muted: bool
    video_muted: bool
    server_muted: bool  # the chair holds this microphone closed; the server forwards none of its audio
    hand_raised: bool
    screen_sharing: bool
    may_share_screen: bool
    audio_only: bool
    connected: bool
    joined_at: dt.datetime


class StreamInfo(_Msg):
    """What one m-line of an offer carries, so the client can label the tile."""

    mid: str
    participant_id: str
    username: str
    unit: str
    unit_name: str
    kind: Literal["audio", "video"]
    source: Literal["microphone", "camera", "screen", "thumbnail"]


class RollCallInfo(_Msg):
    unit: str
    unit_name: str
    status: str
    reason: str
    status_at: dt.datetime | None


class ChatInfo(_Msg):
    participant_id: str
    username: str
    unit: str
    text: str
    at: dt.datetime


class RemovedInfo(_Msg):
    """A participant the chair removed: its sockets are refused (4410, ``removed``) until readmitted."""

    participant_id: str
    display_name: str
    unit: str
    unit_name: str
    removed_at: dt.datetime


class TurnInfo(_Msg):
    """A TURN server with a time-limited credential for this socket's account (TURN REST API scheme:
    username ``"<expires>:<account>"``, credential base64 HMAC-SHA1 of it with the server's secret)."""

    urls: list[str]
    username: str
    credential: str
    expires: int  # unix seconds


class AgendaItemInfo(_Msg):
    """One agenda item; ``starts_at_s``: when the chair opened it, on the meeting clock (the recording's)."""

    id: int
    position: int
    title: str
    presenter_unit: str | None = None
    starts_at_s: float | None = None


class Welcome(_Msg):
    type: Literal["welcome"] = "welcome"
    participant_id: str
    meeting_id: int
    title: str
    you: ParticipantInfo
    participants: list[ParticipantInfo]
    roll_call: list[RollCallInfo]
    floor: str | None
    floor_control: bool
    locked: bool
    recording: bool
    chat: list[ChatInfo]
    ice_servers: list[str]
    can_moderate: bool
    removed: list[RemovedInfo] = Field(default_factory=list)  # to the chair and clerk only
    turn: list[TurnInfo] = Field(default_factory=list)  # fresh credentials for this socket
    agenda: list[AgendaItemInfo] = Field(default_factory=list)
    agenda_current: int | None = None  # the id of the item the meeting is on


class Offer(_Msg):
    type: Literal["offer"] = "offer"
    sdp: str
    streams: list[StreamInfo]


class ParticipantJoined(_Msg):
    type: Literal["participant_joined"] = "participant_joined"
    participant: ParticipantInfo


class ParticipantLeft(_Msg):
    type: Literal["participant_left"] = "participant_left"
    participant_id: str
    reason: str


class ParticipantUpdated(_Msg):
    type: Literal["participant_updated"] = "participant_updated"
    participant: ParticipantInfo


class Floor(_Msg):
    type: Literal["floor"] = "floor"
    participant_id: str | None


class ActiveSpeaker(_Msg):
    type: Literal["active_speaker"] = "active_speaker"
    participant_id: str | None


class RollCallUpdate(_Msg):
    type: Literal["roll_call"] = "roll_call"
    entries: list[RollCallInfo]


class RollCallEntryUpdate(_Msg):
    """One changed roll-call entry (a unit joined, or was called), sent instead of the full ``roll_call`` to
    the sockets that announced ``roll_call_delta``."""

    type: Literal["roll_call_entry"] = "roll_call_entry"
    entry: RollCallInfo


class ChatOut(_Msg):
    type: Literal["chat"] = "chat"
    message: ChatInfo


class RecordingState(_Msg):
    type: Literal["recording"] = "recording"
    on: bool
    error: str | None = None


class Locked(_Msg):
    type: Literal["locked"] = "locked"
    locked: bool


class FloorControlState(_Msg):
    type: Literal["floor_control"] = "floor_control"
    enabled: bool


class RemovedList(_Msg):
    """To the chair and clerk: the participants removed and not readmitted, after each change."""

    type: Literal["removed"] = "removed"
    participants: list[RemovedInfo]


class MutedByChair(_Msg):
    """Sent to a participant whose microphone the chair closed: the client mutes its track."""

    type: Literal["muted_by_chair"] = "muted_by_chair"


class Pong(_Msg):
    type: Literal["pong"] = "pong"


class Caption(_Msg):
    """A live caption of a speaking connection point, to the sockets that sent ``captions`` enabled. Times
    in seconds on the meeting clock; a partial caption (``final`` false) is replaced by the next caption of
    the same unit, a final one never changes. ``words``: each word's start, end and text on the same clock."""

    type: Literal["caption"] = "caption"
    unit: str
    username: str
    text: str
    start: float
    end: float
    final: bool
    words: list[tuple[float, float, str]] = Field(default_factory=list)


class Agenda(_Msg):
    """The meeting moved to another agenda item (``current``: its id, or null)."""

    type: Literal["agenda"] = "agenda"
    items: list[AgendaItemInfo]
    current: int | None


class MeetingEnded(_Msg):
    type: Literal["meeting_ended"] = "meeting_ended"


class Notification(_Msg):
    type: Literal["notification"] = "notification"
    kind: str
    text: str
    data: dict[str, str | int | float | None] = Field(default_factory=dict)


class ErrorOut(_Msg):
    type: Literal["error"] = "error"
    code: str
    message: str


class Redirect(_Msg):
    """The meeting is held on another node of the site: reconnect to ``url`` (the socket then closes 4307)."""

    type: Literal["redirect"] = "redirect"
    url: str


class LinkInfo(_Msg):
    """One connection point's link, measured by the server over the last interval (media/quality.py)."""

    participant_id: str
    unit: str
    rating: Literal["good", "fair", "poor", "unknown"]
    rtt_ms: int | None  # round trip server <-> participant
    loss_up_pct: float | None  # of the participant's packets, those the server did not receive
    loss_down_pct: float | None  # of what the server sent it, what the participant reported lost
    recv_kbps: int | None  # what the server sent it
    videos_paused: list[str] = []  # participants whose video it is not sent now, to spare its link
    videos_reduced: list[
        str
    ] = []  # participants whose camera it is sent as their thumbnail, to spare its link
    remb_kbps: int | None = None  # its receiver's estimate of what it can take (REMB), when it sends one


class WallUnit(_Msg):
    """A connection point on the wall (its thumbnail, when it publishes one, is labelled with this id)."""

    participant_id: str
    display_name: str
    unit: str
    unit_name: str


class Wall(_Msg):
    """The sender's page of the wall: its connection points, in unit order; ``pages`` at ``per_page`` each."""

    type: Literal["wall"] = "wall"
    page: int
    pages: int
    per_page: int
    total: int
    units: list[WallUnit]


class ThumbnailState(_Msg):
    """To a connection point publishing a thumbnail: whether any wall shows it now (false: stop encoding it,
    true: send it again), so a link carries the second layer only while someone looks at it."""

    type: Literal["thumbnail"] = "thumbnail"
    send: bool


class LinkQuality(_Msg):
    """Every 2 s: every connection point's link to the chair and clerk, its own to everyone else."""

    type: Literal["link_quality"] = "link_quality"
    links: list[LinkInfo]


ServerMessage = (
    Welcome
    | Offer
    | ParticipantJoined
    | ParticipantLeft
    | ParticipantUpdated
    | Floor
    | ActiveSpeaker
    | RollCallUpdate
    | RollCallEntryUpdate
    | ChatOut
    | RecordingState
    | Locked
    | FloorControlState
    | MutedByChair
    | RemovedList
    | Pong
    | Caption
    | MeetingEnded
    | Agenda
    | Notification
    | ErrorOut
    | Redirect
    | LinkQuality
    | Wall
    | ThumbnailState
)

# WebSocket close codes
CLOSE_BAD_MESSAGE = 4400
CLOSE_UNAUTHENTICATED = 4401
CLOSE_FORBIDDEN = 4403
CLOSE_NOT_FOUND = 4404
CLOSE_NOT_LIVE = 4409
CLOSE_REMOVED = 4410
CLOSE_TOO_MANY = 4429
CLOSE_REPLACED = 4001  # the same account connected again (reconnect): the old socket is closed
CLOSE_ENDED = 4000
CLOSE_REDIRECT = 4307  # the meeting is held on another node: follow the `redirect` message
CLOSE_TRY_AGAIN = 1013  # the site cannot place the meeting now (Redis down): retry later
