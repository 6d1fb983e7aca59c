"""The state of one live meeting room: who is in it, who may speak, hands, chat, lock.

Pure and synchronous: every change returns the messages to broadcast; the caller (``server.live``) sends them
and drives the media layer. A participant's id is stable across reconnects (one per account), so roll-call
keeps one presence with a gap.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections import deque
from dataclasses import dataclass, field

from server.rooms import messages as m

log = logging.getLogger(__name__)

CHAT_HISTORY = 200


class RoomError(Exception):
    """A request the room refuses; ``code`` goes to the client in an ``error`` message."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@dataclass
class Participant:
    id: str
    user_id: int
    username: str
    display_name: str
    unit_code: str
    unit_name: str
    role: str
    is_chair_unit: bool
    can_moderate: bool
    can_publish: bool
    audio_muted: bool = True
    video_muted: bool = False
    server_muted: bool = False
    hand_raised: bool = False
    screen_sharing: bool = False
    may_share_screen: bool = False
    audio_only: bool = False
    connected: bool = True
    joined_at: dt.datetime = field(default_factory=_now)

    @property
    def audio_forwarded(self) -> bool:
        """Whether the server forwards (and records) this participant's microphone."""
        return self.connected and self.can_publish and not self.server_muted and not self.audio_muted

    def info(self) -> m.ParticipantInfo:
        return m.ParticipantInfo(
            id=self.id,
            username=self.username,
            display_name=self.display_name,
            unit=self.unit_code,
            unit_name=self.unit_name,
            role=self.role,
            is_chair_unit=self.is_chair_unit,
            audio_muted=self.audio_muted,
            video_muted=self.video_muted,
            server_muted=self.server_muted,
            hand_raised=self.hand_raised,
            screen_sharing=self.screen_sharing,
            may_share_screen=self.may_share_screen,
            audio_only=self.audio_only,
            connected=self.connected,
            joined_at=self.joined_at,
        )


@dataclass
class Room:
    meeting_id: int
    title: str
    floor_control: bool = True
    locked: bool = False
    floor: str | None = None
    participants: dict[str, Participant] = field(default_factory=dict)
    chat: deque[m.ChatInfo] = field(default_factory=lambda: deque(maxlen=CHAT_HISTORY))
    active_speaker: str | None = None
    # kept from the node that held the meeting before (``server.live.roomstate``), for participants not back
    # yet: their raised hands, and whether the floor holder's microphone was open
    returning_hands: list[str] = field(default_factory=list)
    returning_floor_mic_open: bool = False

    # ---- presence ---------------------------------------------------------------------------------------
    def admit(self, p: Participant) -> tuple[Participant, bool]:
        """Add a participant, or reconnect the one with the same id. Returns (participant, was_reconnect)."""
        existing = self.participants.get(p.id)
        if existing is not None:
            existing.connected = True
            return existing, True
        if self.locked and not p.can_moderate:
            raise RoomError("locked", "Cuộc họp đã khóa, không thể tham gia thêm.")
        p.server_muted = self.floor_control and not p.is_chair_unit and p.id != self.floor
        p.may_share_screen = p.can_moderate
        if p.id in self.returning_hands:
            self.returning_hands.remove(p.id)
            p.hand_raised = True
        if p.id == self.floor and self.returning_floor_mic_open:
            self.returning_floor_mic_open = False
            p.audio_muted = False
        if not p.can_publish:
            p.audio_muted, p.video_muted = True, True
        self.participants[p.id] = p
        return p, False

    def disconnect(self, pid: str) -> Participant | None:
        p = self.participants.get(pid)
        if p is not None:
            p.connected = False
            p.screen_sharing = False
        return p

    def remove(self, pid: str) -> Participant | None:
        if pid in self.returning_hands:
            self.returning_hands.remove(pid)
        p = self.participants.pop(pid, None)
        if self.floor == pid:
            self._floor_to(None)
        return p

    def get(self, pid: str) -> Participant:
        p = self.participants.get(pid)
        if p is None:
            raise RoomError("unknown_participant", "Không có người tham gia này trong phòng.")
        return p

    def connected(self) -> list[Participant]:
        return [p for p in self.participants.values() if p.connected]

    # ---- own controls -----------------------------------------------------------------------------------
    def set_mute(self, pid: str, audio: bool | None, video: bool | None) -> Participant:
        p = self.get(pid)
        if audio is False:
            if not p.can_publish:
                raise RoomError("forbidden", "Tài khoản theo dõi không phát âm thanh.")
            if p.server_muted:
                raise RoomError(
                    "floor_required", "Chủ trì chưa cho phép phát biểu. Hãy giơ tay xin phát biểu."
                )
        if audio is not None:
            p.audio_muted = audio
        if video is not None:
            p.video_muted = video if p.can_publish else True
        return p

    def raise_hand(self, pid: str, raised: bool) -> Participant:
        p = self.get(pid)
        p.hand_raised = raised
        return p

    def add_chat(self, pid: str, text: str) -> m.ChatInfo:
        p = self.get(pid)
        msg = m.ChatInfo(
            participant_id=p.id, username=p.username, unit=p.unit_code, text=text.strip(), at=_now()
        )
        self.chat.append(msg)
        return msg

    def set_audio_only(self, pid: str, enabled: bool) -> Participant:
        p = self.get(pid)
        p.audio_only = enabled
        return p

    def check_screen_share(self, pid: str, on: bool) -> Participant:
        """Raise RoomError unless ``pid`` may start (or stop) sharing its screen now."""
        p = self.get(pid)
        if on and not (p.may_share_screen and p.can_publish):
            raise RoomError("forbidden", "Cần chủ trì cho phép trình chiếu màn hình.")
        if on and any(o.screen_sharing for o in self.participants.values() if o.id != pid):
            raise RoomError("busy", "Đang có điểm cầu khác trình chiếu.")
        return p

    def set_screen_share(self, pid: str, on: bool) -> Participant:
        p = self.check_screen_share(pid, on)
        p.screen_sharing = on
        return p

    # ---- chair controls ---------------------------------------------------------------------------------
    def _moderator(self, pid: str) -> Participant:
        p = self.get(pid)
        if not p.can_moderate:
            raise RoomError("forbidden", "Chỉ chủ trì hoặc thư ký được điều hành cuộc họp.")
        return p

    def mute_participant(self, by: str, target: str) -> Participant:
        self._moderator(by)
        p = self.get(target)
        p.server_muted = True
        p.audio_muted = True
        if self.floor == target:
            self._floor_to(None)
        return p

    def mute_all(self, by: str) -> list[Participant]:
        self._moderator(by)
        changed = []
        for p in self.participants.values():
            if p.id != by and not (p.server_muted and p.audio_muted):
                p.server_muted, p.audio_muted = True, True
                changed.append(p)
        self._floor_to(None)
        return changed

    def give_floor(self, by: str, target: str | None) -> list[Participant]:
        """Open ``target``'s microphone (it unmutes itself) and close the previous speaker's."""
        self._moderator(by)
        if target is not None and not self.get(target).can_publish:  # refused before anything changes
            raise RoomError("forbidden", "Tài khoản theo dõi không phát biểu được.")
        changed: list[Participant] = []
        if self.floor is not None and self.floor != target and self.floor in self.participants:
            prev = self.participants[self.floor]
            if not prev.is_chair_unit or self.floor_control:
                prev.server_muted = self.floor_control and not prev.is_chair_unit
                if prev.server_muted:
                    prev.audio_muted = True
                changed.append(prev)
        self._floor_to(target)
        if target is not None:
            p = self.get(target)
            p.server_muted = False
            p.hand_raised = False
            changed.append(p)
        return changed

    def _floor_to(self, target: str | None) -> None:
        if target != self.floor:
            self.returning_floor_mic_open = False
        self.floor = target

    def set_floor_control(self, by: str, enabled: bool) -> list[Participant]:
        self._moderator(by)
        self.floor_control = enabled
        changed = []
        for p in self.participants.values():
            want = enabled and not p.is_chair_unit and p.id != self.floor
            if p.server_muted != want:
                p.server_muted = want
                if want:
                    p.audio_muted = True
                changed.append(p)
        return changed

    def allow_screen_share(self, by: str, target: str, allowed: bool) -> Participant:
        self._moderator(by)
        p = self.get(target)
        p.may_share_screen = allowed
        if not allowed:
            p.screen_sharing = False
        return p

    def lock(self, by: str, locked: bool) -> None:
        self._moderator(by)
        self.locked = locked

    def require_moderator(self, by: str) -> Participant:
        return self._moderator(by)

    # ---- views ------------------------------------------------------------------------------------------
    def participant_infos(self) -> list[m.ParticipantInfo]:
        return [p.info() for p in self.participants.values() if p.connected]
