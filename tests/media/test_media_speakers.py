"""SpeakerTracker: audio levels to loudness, the active speaker, and the last-N order of cameras."""

from __future__ import annotations

from server.media.speakers import (
    MAX_LEVEL,
    SpeakerTracker,
    last_n_of,
    loudness_from_extension,
    loudness_from_opus_size,
)

SPEECH_DBOV = 50  # the room's threshold: louder than -50 dBov is speech
HOLD_S = 3.0


def speak(tracker: SpeakerTracker, pid: str, dbov: int, at_s: float, packets: int = 25) -> None:
    """Half a second of 20 ms audio packets at this RFC 6464 level (0 loudest, 127 silent)."""
    for i in range(packets):
        tracker.update(pid, loudness_from_extension(dbov), at_s + i * 0.02)


def test_levels_map_to_loudness() -> None:
    assert loudness_from_extension(0) == MAX_LEVEL
    assert loudness_from_extension(127) == 0
    assert loudness_from_extension(200) == 0 and loudness_from_extension(-5) == MAX_LEVEL
    # without the extension: DTX / comfort-noise Opus packets are tiny, speech packets are not
    assert loudness_from_opus_size(3) == 0 and loudness_from_opus_size(80) == 80
    assert loudness_from_opus_size(400) == MAX_LEVEL


def test_the_loudest_speaker_becomes_active_and_stays_through_silence() -> None:
    tracker = SpeakerTracker(SPEECH_DBOV, HOLD_S)
    speak(tracker, "chumo", 30, 0.0)
    speak(tracker, "poto", 45, 0.0)
    speak(tracker, "iatul", 110, 0.0)  # background noise: never a speaker
    assert tracker.refresh_active() and tracker.active == "chumo"
    assert not tracker.refresh_active()  # unchanged: no event
    speak(tracker, "chumo", 127, 0.5)  # chumo stops; poto goes on
    speak(tracker, "poto", 45, 0.5)
    assert tracker.refresh_active() and tracker.active == "poto"
    speak(tracker, "poto", 127, 1.0)  # everybody silent: the last speaker stays active
    assert not tracker.refresh_active() and tracker.active == "poto"
    tracker.remove("poto")
    assert tracker.active is None
    assert set(tracker.levels()) == {"chumo", "iatul"}


def test_last_n_puts_pinned_first_then_recent_speakers_then_join_order() -> None:
    tracker = SpeakerTracker(SPEECH_DBOV, HOLD_S)
    cameras = ["hall", "chumo", "poto", "iatul", "kimtan"]  # join order
    assert tracker.last_n(cameras, [], 0, 0.0) == set(cameras)  # 0: no limit
    assert tracker.last_n(cameras, [], 2, 0.0) == {"hall", "chumo"}  # nobody spoke: join order
    speak(tracker, "iatul", 30, 10.0)
    speak(tracker, "kimtan", 30, 11.0)
    # kimtan spoke last, then iatul; the pinned hall comes first whatever was said
    assert tracker.last_n(cameras, ["hall"], 2, 11.6) == {"hall", "kimtan"}
    assert tracker.last_n(cameras, ["hall"], 3, 11.6) == {"hall", "kimtan", "iatul"}
    assert tracker.last_n(cameras, [], 2, 11.6) == {"kimtan", "iatul"}
    # HOLD_S after they stopped, speaking no longer counts: back to join order
    assert tracker.last_n(cameras, ["hall"], 2, 11.5 + HOLD_S + 0.1) == {"hall", "chumo"}
    # more pinned than n: their listed order (the hall, then the floor holder), whoever spoke
    speak(tracker, "poto", 30, 20.0)
    assert tracker.last_n(cameras, ["hall", "poto"], 1, 20.6) == {"hall"}
    assert tracker.last_n(cameras, ["kimtan", "iatul", "hall"], 2, 20.6) == {"kimtan", "iatul"}


def test_each_viewers_last_n_from_one_ranking_is_its_own_last_n() -> None:
    """The room ranks the cameras once and takes each viewer's last-N from that ranking (without its own):
    the same set as ranking the other cameras for that viewer, for every viewer and every n."""
    tracker = SpeakerTracker(SPEECH_DBOV, HOLD_S)
    cameras = ["hall", "chumo", "poto", "iatul", "kimtan", "iakha"]
    speak(tracker, "iatul", 30, 10.0)
    speak(tracker, "kimtan", 30, 11.0)
    for pinned in ([], ["hall"], ["hall", "poto"]):
        ranking = tracker.ranking(cameras, pinned, 11.6)
        for n in range(0, len(cameras) + 1):
            for viewer in cameras:
                others = [pid for pid in cameras if pid != viewer]
                assert last_n_of(ranking, viewer, n) == tracker.last_n(others, pinned, n, 11.6)
    assert tracker.ranking(cameras, ["hall"], 11.6)[:3] == ["hall", "kimtan", "iatul"]
