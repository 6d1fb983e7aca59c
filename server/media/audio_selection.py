"""Which publishers' audio the SFU forwards: pure policy, functions of state and measurements (no sockets).

A province meeting has one hall and up to ~135 communes on open microphones. Forwarding every microphone to
every viewer costs N x (N-1) packets every 20 ms, almost all of them room noise or silence. Like Jitsi's
last-N and LiveKit's speaker observer, the decision is made from the RFC 6464 audio level each publisher
packet carries, but per publisher against its own noise floor rather than one absolute threshold:

- `NoiseFloor`: the quietest level of a publisher over the last few seconds (minimum statistics, in blocks).
  A steady room noise (a fan, a hall's hum) *is* that floor, so it never counts as speech however loud it
  is; speech has pauses, so the floor of a speaking room stays at its noise. Digital silence (a muted or
  silent sender) does not feed the floor.
- `VoiceActivity`: a packet is loud when it is above an absolute gate AND above the floor by a margin (with
  no floor yet — a publisher that just joined, or sent only digital silence for the floor's window — above a
  higher absolute level that room noise does not reach, so that speech out of silence is caught at once); a
  publisher starts speaking after `onset_packets` loud packets among the last `window_packets` (one click
  is not speech) and goes on speaking for `hold_s` after the last such run (pauses between sentences).
- `AudioSelector.select`: the audible set is the pinned participants (the chair's hall, the floor holder:
  always), plus the `speakers` most recent speakers by onset (a newcomer displaces the one that started
  earliest; an incumbent is not displaced by a level that flickers). `speakers == 0` selects everyone (the
  old all-hear-all behaviour).
- `PreRoll`: the last ~240 ms of packets of a publisher that is not forwarded, sent first when it becomes
  audible, so the first syllable that made it audible is not clipped.

Loudness here is RFC 6464's level turned around: 0 = -127 dBov (silence) .. 127 = 0 dBov (loudest), i.e.
dB above -127 dBov (`server.media.speakers.loudness_from_extension`).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from server.media.speakers import MAX_LEVEL as MAX_LOUDNESS

PACKET_S = 0.020  # Opus frame duration the browsers and aiortc send

T = TypeVar("T")


@dataclass(frozen=True)
class AudioSelectionConfig:
    """speakers: recent speakers forwarded besides the pinned participants (0 = forward everyone).
    hold_s: a speaker stays audible this long after its last loud run (short pauses do not cut it).
    preroll_s: audio kept per unforwarded publisher and sent first when it becomes audible.
    margin_db: speech is at least this much louder than the publisher's noise floor.
    gate_dbov: ... and louder than this absolute level (-dBov: 70 means -70 dBov).
    cold_dbov: with no floor known yet, speech is louder than this (-dBov).
    silence_dbov: packets at or below this level (-dBov) are digital silence and do not feed the floor.
    floor_window_s / floor_block_s: the floor is the minimum over this window, kept in blocks.
    onset_packets / window_packets: loud packets among the last window_packets that start speech.
    """

    speakers: int = 3
    hold_s: float = 2.0
    preroll_s: float = 0.24
    margin_db: float = 15.0
    gate_dbov: int = 70
    cold_dbov: int = 40
    silence_dbov: int = 100
    floor_window_s: float = 3.0
    floor_block_s: float = 0.5
    onset_packets: int = 3
    window_packets: int = 8

    @property
    def preroll_packets(self) -> int:
        return max(1, round(self.preroll_s / PACKET_S))


class NoiseFloor:
    """The minimum loudness over the last `window_s` of completed `block_s` blocks (digital silence
    excluded): O(1) per packet, a few comparisons when a block starts. The block in progress does not count
    yet, so a publisher that starts speaking out of silence is not judged against its own first syllable; nor
    does a block with fewer than `min_packets` sounding packets (a click in silence is not a room's noise).
    """

    __slots__ = ("_blocks", "_block_s", "_count", "_index", "_current", "_packets", "_min_packets", "value")

    def __init__(self, window_s: float, block_s: float, min_packets: int = 3) -> None:
        self._block_s = block_s
        self._count = max(1, round(window_s / block_s))
        self._blocks: deque[tuple[int, float]] = deque()
        self._index: int | None = None
        self._current: float | None = None  # minimum of the block in progress (None: silence only)
        self._packets = 0  # sounding packets in the block in progress
        self._min_packets = min_packets
        self.value: float | None = None  # None: nothing but silence in the window

    def add(self, loudness: float | None, now_s: float) -> None:
        """One packet's loudness (None: digital silence, which only moves the window on)."""
        index = int(now_s / self._block_s)
        if index != self._index:
            blocks = self._blocks
            if self._current is not None and self._packets >= self._min_packets:
                blocks.append((self._index or 0, self._current))
            self._index = index
            self._current = None
            self._packets = 0
            while blocks and blocks[0][0] < index - self._count:
                blocks.popleft()
            self.value = min((m for _, m in blocks), default=None)
        if loudness is not None:
            self._packets += 1
            if self._current is None or loudness < self._current:
                self._current = loudness


@dataclass
class VoiceActivity:
    """One publisher's speech state (see the module docstring)."""

    floor: NoiseFloor
    loud_mask: int = 0  # bit i: the packet i packets ago was loud
    last_speech_s: float = -1e9
    onset_s: float = -1e9  # when the current run of speech started
    speaking: bool = False  # as last evaluated (observe / select)

    def loud(self, loudness: float, config: AudioSelectionConfig) -> bool:
        floor = self.floor.value
        if floor is None:
            return loudness >= MAX_LOUDNESS - config.cold_dbov
        return loudness >= MAX_LOUDNESS - config.gate_dbov and loudness >= floor + config.margin_db


@dataclass
class AudioSelector:
    """Speech state of every publisher and the audible set (pure: callers pass the time)."""

    config: AudioSelectionConfig = field(default_factory=AudioSelectionConfig)
    _voices: dict[str, VoiceActivity] = field(default_factory=dict)

    def observe(self, participant_id: str, loudness: float, now_s: float) -> bool:
        """One packet's loudness. True when this publisher started or stopped speaking (reselect then)."""
        config = self.config
        voice = self._voices.get(participant_id)
        if voice is None:
            voice = self._voices[participant_id] = VoiceActivity(
                NoiseFloor(config.floor_window_s, config.floor_block_s)
            )
        voice.floor.add(loudness if loudness > MAX_LOUDNESS - config.silence_dbov else None, now_s)
        loud = voice.loud(loudness, config)  # against the completed blocks: this packet is not in them
        voice.loud_mask = ((voice.loud_mask << 1) | loud) & ((1 << config.window_packets) - 1)
        if loud and voice.loud_mask.bit_count() >= config.onset_packets:
            if now_s - voice.last_speech_s > config.hold_s:
                voice.onset_s = now_s
            voice.last_speech_s = now_s
        speaking = now_s - voice.last_speech_s <= config.hold_s
        changed = speaking != voice.speaking
        voice.speaking = speaking
        return changed

    def speaking(self, participant_id: str, now_s: float) -> bool:
        voice = self._voices.get(participant_id)
        return voice is not None and now_s - voice.last_speech_s <= self.config.hold_s

    def floor(self, participant_id: str) -> float | None:
        """The publisher's noise floor (loudness), None when only silence was heard lately."""
        voice = self._voices.get(participant_id)
        return voice.floor.value if voice is not None else None

    def remove(self, participant_id: str) -> None:
        self._voices.pop(participant_id, None)

    def select(self, publishers: Iterable[str], pinned: Sequence[str], now_s: float) -> frozenset[str]:
        """The publishers whose audio is forwarded: every pinned one, then the `speakers` whose speech started
        most recently among those speaking now; all of them when `speakers` is 0."""
        candidates = list(publishers)
        if self.config.speakers <= 0:
            return frozenset(candidates)
        pinned_set = set(pinned)
        audible = {pid for pid in candidates if pid in pinned_set}
        speaking: list[tuple[float, str]] = []
        hold_s = self.config.hold_s
        for pid in candidates:
            voice = self._voices.get(pid)
            if voice is None:
                continue
            voice.speaking = now_s - voice.last_speech_s <= hold_s
            if voice.speaking and pid not in pinned_set:
                speaking.append((voice.onset_s, pid))
        speaking.sort(reverse=True)
        audible.update(pid for _, pid in speaking[: self.config.speakers])
        return frozenset(audible)


class PreRoll(Generic[T]):
    """The last `packets` packets of a publisher nobody receives, with their arrival times."""

    __slots__ = ("_packets", "_max_age_s")

    def __init__(self, packets: int, max_age_s: float) -> None:
        self._packets: deque[tuple[float, T]] = deque(maxlen=packets)
        self._max_age_s = max_age_s

    def push(self, packet: T, now_s: float) -> None:
        self._packets.append((now_s, packet))

    def drain(self, now_s: float) -> list[T]:
        """The kept packets no older than the pre-roll, oldest first; empties it."""
        out = [p for t, p in self._packets if now_s - t <= self._max_age_s]
        self._packets.clear()
        return out

    def clear(self) -> None:
        self._packets.clear()

    def __len__(self) -> int:
        return len(self._packets)
