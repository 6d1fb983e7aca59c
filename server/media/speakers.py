"""SpeakerTracker: audio levels per participant, the active speaker, and the last-N order for video."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

MAX_LEVEL = 127
SMOOTHING = 0.2
OPUS_SILENCE_BYTES = 20


def loudness_from_extension(level_dbov: int) -> int:
    """RFC 6464 level (0 = loudest, 127 = silence, in -dBov) to loudness (0 = silent .. 127 = loudest)."""
    return MAX_LEVEL - max(0, min(MAX_LEVEL, level_dbov))


def loudness_from_opus_size(payload_bytes: int) -> int:
    """A rough loudness when no audio-level extension is sent: DTX/silent Opus packets are tiny."""
    if payload_bytes <= OPUS_SILENCE_BYTES:
        return 0
    return min(MAX_LEVEL, payload_bytes)


@dataclass
class _Level:
    smoothed: float = 0.0
    last_spoke_s: float = -1e9


class SpeakerTracker:
    def __init__(self, speech_level_dbov: int, hold_s: float) -> None:
        self.threshold = loudness_from_extension(speech_level_dbov)
        self.hold_s = hold_s
        self._levels: dict[str, _Level] = {}
        self.active: str | None = None

    def update(self, participant_id: str, loudness: int, now_s: float) -> None:
        level = self._levels.setdefault(participant_id, _Level())
        level.smoothed += SMOOTHING * (loudness - level.smoothed)
        if level.smoothed >= self.threshold:
            level.last_spoke_s = now_s

    def remove(self, participant_id: str) -> None:
        self._levels.pop(participant_id, None)
        if self.active == participant_id:
            self.active = None

    def levels(self) -> dict[str, int]:
        return {pid: int(level.smoothed) for pid, level in self._levels.items()}

    def refresh_active(self) -> bool:
        """Recompute the active speaker; True when it changed."""
        loud = [(lv.smoothed, pid) for pid, lv in self._levels.items() if lv.smoothed >= self.threshold]
        active = max(loud)[1] if loud else self.active
        changed = active != self.active
        self.active = active
        return changed

    def last_n(self, candidates: Sequence[str], pinned: Sequence[str], n: int, now_s: float) -> set[str]:
        """Whose camera a viewer gets: pinned (in their order), then recent speakers (most recent first), then
        join order."""
        if n <= 0:
            return set(candidates)
        return set(self.ranking(candidates, pinned, now_s)[:n])

    def ranking(self, candidates: Sequence[str], pinned: Sequence[str], now_s: float) -> list[str]:
        """Every candidate in last-N order: pinned (in their order), then recent speakers (most recent first),
        then join order. Ranked once for a whole room; each viewer's last-N is `last_n_of` this list."""
        order = {pid: i for i, pid in enumerate(candidates)}
        rank: dict[str, int] = {}
        for i, pid in enumerate(pinned):
            rank.setdefault(pid, i)
        unpinned = len(pinned)
        hold_s = self.hold_s
        levels = self._levels

        def key(pid: str) -> tuple[int, float, int]:
            level = levels.get(pid)
            recent = level.last_spoke_s if level and now_s - level.last_spoke_s <= hold_s else -1e9
            return (rank.get(pid, unpinned), -recent, order[pid])

        return sorted(candidates, key=key)


def last_n_of(ranking: Sequence[str], viewer: str, n: int) -> set[str]:
    """A viewer's last-N cameras from the room's `SpeakerTracker.ranking`: the first `n` that are not its own
    (the same set as `last_n` of the candidates without the viewer: removing one keeps the others' order).
    n <= 0: every camera but its own."""
    if n <= 0:
        return {pid for pid in ranking if pid != viewer}
    head = ranking[: n + 1]
    return {pid for pid in head if pid != viewer} if viewer in head else set(head[:n])
