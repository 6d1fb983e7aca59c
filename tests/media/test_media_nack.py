"""NackTracker answers as aiortc's NackGenerator on the same sequence numbers (loss, reorder, wrap, jump)."""

from __future__ import annotations

import random

import pytest
from aiortc.rtcrtpreceiver import NackGenerator
from aiortc.rtp import RtpPacket

from server.media.nack import NackTracker


def test_a_gap_is_missing_until_filled() -> None:
    tracker = NackTracker()
    assert not tracker.add(65534)
    assert not tracker.add(65535)
    assert tracker.add(2)  # 0 and 1 lost across the wrap
    assert tracker.missing == {0, 1}
    assert not tracker.add(0)
    assert tracker.missing == {1}
    assert not tracker.add(3)


@pytest.mark.parametrize("seed", range(40))
def test_same_answers_as_aiortc(seed: int) -> None:
    rng = random.Random(seed)
    ours, theirs = NackTracker(), NackGenerator()
    seq = rng.randrange(1 << 16)
    for _ in range(3000):
        draw = rng.random()
        if draw < 0.8:
            seq = (seq + 1) & 0xFFFF
            arrived = seq
        elif draw < 0.9:
            seq = (seq + rng.randrange(2, 40)) & 0xFFFF  # a burst lost
            arrived = seq
        elif draw < 0.97:
            arrived = (seq - rng.randrange(0, 200)) & 0xFFFF  # late or duplicate
        elif draw < 0.99:
            seq = (seq + rng.randrange(100, 40000)) & 0xFFFF  # a jump
            arrived = seq
        else:
            arrived = rng.randrange(1 << 16)
        assert ours.add(arrived) == theirs.add(RtpPacket(sequence_number=arrived))
        assert ours.missing == theirs.missing and ours.max_seq == theirs.max_seq
