"""Where a speaker's packets fall on the meeting clock for the caption process (server/live/captions.py
StreamClock): at the quickest arrival, so jitter and a busy event loop do not move them, wrapping RTP
timestamps, and placed again when the stream falls behind or jumps."""

from __future__ import annotations

import pytest

from server.live.captions import RESYNC_S, RTP_CLOCK_HZ, StreamClock

TICKS_20_MS = RTP_CLOCK_HZ // 50


def test_jitter_and_late_packets_keep_their_place() -> None:
    clock = StreamClock(1000, 0.0, 10.0)  # the first packet arrived at 10.0 s
    # the next ones arrive 0-80 ms late, in bursts: each keeps its 20 ms slot
    arrivals = [10.02, 10.1, 10.1, 10.1, 10.1, 10.12]
    placed = [clock.place(1000 + (i + 1) * TICKS_20_MS, now) for i, now in enumerate(arrivals)]
    assert placed == pytest.approx([10.02, 10.04, 10.06, 10.08, 10.10, 10.12])


def test_an_early_first_packet_does_not_hold_the_stream_late() -> None:
    clock = StreamClock(0, 0.0, 5.3)  # the first packet came 300 ms late (a burst after a stall)
    at = clock.place(TICKS_20_MS, 5.02 + 0.0)  # the next came the quick way: the offset moves back once
    assert at == pytest.approx(5.02)
    assert clock.place(2 * TICKS_20_MS, 5.2) == pytest.approx(5.04)


def test_timestamps_wrap_around() -> None:
    start = (1 << 32) - TICKS_20_MS
    clock = StreamClock(start, 0.0, 1.0)
    assert clock.place(0, 1.02) == pytest.approx(1.02)
    assert clock.place(TICKS_20_MS, 1.04) == pytest.approx(1.04)


def test_a_stream_falling_behind_or_jumping_is_placed_again() -> None:
    clock = StreamClock(0, 0.0, 1.0)
    # the sender paused 3 s without advancing its timestamp: its next packet starts at its arrival
    assert clock.place(TICKS_20_MS, 1.02 + 3.0) == pytest.approx(4.02)
    assert clock.place(2 * TICKS_20_MS, 4.04) == pytest.approx(4.04)
    # a timestamp jump past 10 s (a new stream of the same participant)
    assert clock.place(2 * TICKS_20_MS + 60 * RTP_CLOCK_HZ, 4.06) == pytest.approx(4.06)
    # behind by less than RESYNC_S: it keeps its RTP time
    late = clock.place(2 * TICKS_20_MS + 60 * RTP_CLOCK_HZ + TICKS_20_MS, 4.08 + RESYNC_S / 2)
    assert late == pytest.approx(4.08)
