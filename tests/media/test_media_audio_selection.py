"""The audio selection policy (server/media/audio_selection.py), without sockets: levels in, audible set out.

Levels are RFC 6464 (-dBov: 0 loudest, 127 silence) as the SFU reads them from each packet, one per 20 ms.
"""

from __future__ import annotations

import random

from server.media.audio_selection import (
    AudioSelectionConfig,
    AudioSelector,
    NoiseFloor,
    PreRoll,
)
from server.media.speakers import loudness_from_extension

PACKET_S = 0.02
SPEECH_DBOV = 22  # a talker close to the microphone
ROOM_NOISE_DBOV = 48  # quiet room noise, louder than the old absolute threshold of the room (-50 dBov)
SILENCE_DBOV = 127
START_S = 100.0


class Clock:
    def __init__(self) -> None:
        self.now_s = START_S


def send(selector: AudioSelector, clock: Clock, levels: dict[str, list[int] | int], seconds: float) -> None:
    """Every publisher sends one packet per 20 ms for `seconds`; a list of levels repeats cyclically (indexed
    by the clock, so that consecutive calls go on through the list)."""
    for _ in range(round(seconds / PACKET_S)):
        i = round((clock.now_s - START_S) / PACKET_S)
        for pid, level in levels.items():
            dbov = level[i % len(level)] if isinstance(level, list) else level
            selector.observe(pid, loudness_from_extension(dbov), clock.now_s)
        clock.now_s += PACKET_S


def noise(mean_dbov: int, spread_db: int = 2, n: int = 200, seed: int = 1) -> list[int]:
    rng = random.Random(seed)
    return [mean_dbov + rng.randint(-spread_db, spread_db) for _ in range(n)]


def speech(seed: int = 2) -> list[int]:
    """Syllables (~200 ms loud) separated by short dips to the room's noise, as speech has."""
    rng = random.Random(seed)
    out: list[int] = []
    for _ in range(20):
        out += [SPEECH_DBOV + rng.randint(-6, 6) for _ in range(rng.randint(6, 12))]
        out += [ROOM_NOISE_DBOV + rng.randint(-2, 2) for _ in range(rng.randint(2, 5))]
    return out


def test_steady_room_noise_is_the_floor_and_never_speech_even_above_an_absolute_threshold() -> None:
    selector, clock = AudioSelector(AudioSelectionConfig(speakers=3)), Clock()
    send(selector, clock, {"noisy": noise(ROOM_NOISE_DBOV), "loud_fan": noise(35)}, 10.0)
    assert selector.select(["noisy", "loud_fan"], [], clock.now_s) == frozenset()
    floor = selector.floor("noisy")
    assert floor is not None and abs(floor - loudness_from_extension(ROOM_NOISE_DBOV + 2)) <= 1
    # speech over that noise is heard: it exceeds the floor by more than the margin
    send(selector, clock, {"noisy": speech()}, 0.5)
    assert selector.select(["noisy", "loud_fan"], [], clock.now_s) == {"noisy"}


def test_a_quiet_point_and_a_silent_one_are_never_selected() -> None:
    selector, clock = AudioSelector(AudioSelectionConfig(speakers=3)), Clock()
    publishers = ["quiet1", "quiet2", "quiet3", "silent1", "silent2", "talker"]
    levels: dict[str, list[int] | int] = {f"quiet{i}": noise(ROOM_NOISE_DBOV, seed=i) for i in (1, 2, 3)}
    levels |= {"silent1": SILENCE_DBOV, "silent2": SILENCE_DBOV, "talker": speech()}
    for _ in range(40):
        send(selector, clock, levels, 0.25)
        assert selector.select(publishers, [], clock.now_s) <= {"talker"}
    assert selector.select(publishers, [], clock.now_s) == {"talker"}


def test_speech_out_of_silence_is_detected_within_a_few_packets_but_one_click_is_not() -> None:
    selector, clock = AudioSelector(AudioSelectionConfig(speakers=3)), Clock()
    send(selector, clock, {"a": SILENCE_DBOV}, 2.0)
    assert selector.floor("a") is None  # digital silence does not feed the floor
    # one click: not speech
    changed = selector.observe("a", loudness_from_extension(10), clock.now_s)
    send(selector, clock, {"a": SILENCE_DBOV}, 1.0)
    assert not changed and selector.select(["a"], [], clock.now_s) == frozenset()
    # a talker starting out of silence: selected on its third loud packet (60 ms), before any floor exists
    talk = loudness_from_extension(SPEECH_DBOV)
    onset = [selector.observe("a", talk, clock.now_s + i * PACKET_S) for i in range(3)]
    assert onset == [False, False, True]
    assert selector.select(["a"], [], clock.now_s + 2 * PACKET_S) == {"a"}


def test_a_speaker_is_held_through_short_pauses_then_released() -> None:
    config = AudioSelectionConfig(speakers=3, hold_s=2.0)
    selector, clock = AudioSelector(config), Clock()
    send(selector, clock, {"a": noise(ROOM_NOISE_DBOV)}, 4.0)
    send(selector, clock, {"a": speech()}, 2.0)
    assert selector.select(["a"], [], clock.now_s) == {"a"}
    send(selector, clock, {"a": noise(ROOM_NOISE_DBOV)}, 1.5)  # a pause between sentences
    assert selector.select(["a"], [], clock.now_s) == {"a"}
    send(selector, clock, {"a": speech(seed=3)}, 1.0)
    send(selector, clock, {"a": noise(ROOM_NOISE_DBOV)}, 1.9)
    assert selector.select(["a"], [], clock.now_s) == {"a"}
    send(selector, clock, {"a": noise(ROOM_NOISE_DBOV)}, 0.3)  # 2.2 s of room noise: released
    assert selector.select(["a"], [], clock.now_s) == frozenset()


def test_pinned_are_always_audible_and_top_k_recent_speakers_by_onset() -> None:
    selector, clock = AudioSelector(AudioSelectionConfig(speakers=2, hold_s=5.0)), Clock()
    everyone = ["hall", "floor", "a", "b", "c", "quiet"]
    base: dict[str, list[int] | int] = {p: noise(ROOM_NOISE_DBOV, seed=i) for i, p in enumerate(everyone)}
    send(selector, clock, base, 3.0)
    # pinned (the chair's hall, the floor holder) are audible whatever they send, silence included
    assert selector.select(everyone, ["hall", "floor"], clock.now_s) == {"hall", "floor"}
    send(selector, clock, base | {"a": speech()}, 0.5)
    send(selector, clock, base | {"a": speech(), "b": speech(seed=5)}, 0.5)
    assert selector.select(everyone, ["hall", "floor"], clock.now_s) == {"hall", "floor", "a", "b"}
    # a third speaker starts: it displaces the one that started earliest (a), not b
    send(selector, clock, base | {"a": speech(), "b": speech(seed=5), "c": speech(seed=6)}, 0.5)
    assert selector.select(everyone, ["hall", "floor"], clock.now_s) == {"hall", "floor", "b", "c"}
    # a pinned speaker takes no speaker place
    send(selector, clock, base | {"hall": speech(seed=7), "b": speech(seed=5), "c": speech(seed=6)}, 0.5)
    assert selector.select(everyone, ["hall"], clock.now_s) == {"hall", "b", "c"}
    # 0 speakers: everyone is forwarded (the old all-hear-all)
    assert AudioSelector(AudioSelectionConfig(speakers=0)).select(everyone, [], 0.0) == set(everyone)


def test_noise_floor_rises_to_a_new_steady_noise_within_its_window() -> None:
    floor = NoiseFloor(window_s=3.0, block_s=0.5)
    t = 0.0
    for _ in range(150):
        floor.add(40.0, t)
        t += PACKET_S
    assert floor.value == 40.0
    for _ in range(100):  # the fan starts: 2 s later the old floor is still in the window
        floor.add(70.0, t)
        t += PACKET_S
    assert floor.value == 40.0
    for _ in range(150):
        floor.add(70.0, t)
        t += PACKET_S
    assert floor.value == 70.0


def test_preroll_keeps_the_last_packets_in_order_and_drops_stale_ones() -> None:
    config = AudioSelectionConfig(preroll_s=0.24)
    assert config.preroll_packets == 12
    preroll: PreRoll[int] = PreRoll(config.preroll_packets, 0.3)
    for i in range(30):
        preroll.push(i, 10.0 + i * PACKET_S)
    now = 10.0 + 29 * PACKET_S
    assert preroll.drain(now) == list(range(18, 30))
    assert len(preroll) == 0
    preroll.push(1, 0.0)  # comfort noise from long ago (DTX): not sent as pre-roll
    preroll.push(2, now)
    assert preroll.drain(now) == [2]
