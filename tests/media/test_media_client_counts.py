"""What the media client (giaoban bot, the benchmark) counts per received stream: each packet once, so a
retransmission repairs a loss instead of hiding another, and sequence numbers may wrap."""

from __future__ import annotations

from server.media.client import _count_packet, _lost, _MidCounters
from server.media.events import StreamLabel


def counters(kind: str = "video") -> _MidCounters:
    return _MidCounters(StreamLabel("1", "p", "user-p", "UNIT", kind, "camera"), 0.0)  # type: ignore[arg-type]


def test_a_gap_is_lost_until_repaired_and_a_repair_counts_once() -> None:
    c = counters()
    for seq in (100, 101, 104, 105):
        _count_packet(c, seq, False, True)
    assert _lost(c) == 2 and c.missing == {102, 103}
    _count_packet(c, 102, False, True)  # retransmitted (RTX, counted under the number it repairs)
    assert _lost(c) == 1
    _count_packet(c, 102, False, True)  # a second retransmission of it
    _count_packet(c, 105, False, True)  # a duplicate of a packet that arrived
    assert _lost(c) == 1 and c.packets == 5


def test_frames_at_the_rtp_level_are_not_counted_twice() -> None:
    c = counters()
    _count_packet(c, 7, True, False)
    _count_packet(c, 7, True, False)  # the same frame's last packet retransmitted
    _count_packet(c, 8, True, False)
    assert c.frames == 2


def test_sequence_numbers_wrap() -> None:
    c = counters()
    for seq in (65533, 65534, 1, 2):  # 65535 and 0 lost
        _count_packet(c, seq, False, True)
    assert _lost(c) == 2
    _count_packet(c, 0, False, True)
    _count_packet(c, 65535, False, True)
    assert _lost(c) == 0 and c.highest_seq == 65536 + 2


def test_a_long_outage_is_remembered_only_so_far() -> None:
    c = counters()
    _count_packet(c, 0, False, True)
    _count_packet(c, 10_000, False, True)
    assert _lost(c) == 9_999 and len(c.missing) < 10_000
