"""The order check the browser tests use to tell the played file from speech that only sounds alike
(tests/audio.py): its verdict on signals whose answer is known."""

from __future__ import annotations

import numpy as np

from tests.audio import aligned_share, loud_windows

RATE = 16000


def _speechlike(seed: int, seconds: float) -> np.ndarray:
    """Noise shaped into 200 ms syllables with quiet gaps: loud windows and silent ones, like speech."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(int(seconds * RATE)).astype(np.float32) * 0.2
    envelope = (np.arange(len(x)) // (RATE // 5)) % 3 != 2  # two syllables, one gap
    return x * envelope


def test_a_recording_of_the_file_is_in_order_and_other_speech_is_not() -> None:
    source = _speechlike(1, 6.0)
    heard = source[RATE : 4 * RATE] * 0.5 + np.random.default_rng(2).standard_normal(3 * RATE) * 0.01
    assert loud_windows(heard) >= 6
    assert aligned_share(heard, source) > 0.9
    assert aligned_share(heard, _speechlike(3, 6.0)) < 0.3


def test_the_looped_file_is_one_offset_across_its_end() -> None:
    source = _speechlike(4, 4.0)
    looped = np.concatenate([source, source])
    heard = looped[3 * RATE : 6 * RATE]  # spans the loop's end
    assert aligned_share(heard, looped, period=len(source)) > 0.9


def test_two_windows_at_different_offsets_agree_at_half_not_nothing() -> None:
    # the median of two offsets lies between them: the old verdict was 0.0 for a recording that was half the
    # file; the offset most windows agree on gives each cluster its share
    source = _speechlike(5, 6.0)
    w = RATE // 4
    heard = np.concatenate([source[RATE : RATE + w], source[4 * RATE : 4 * RATE + w]])
    assert aligned_share(heard, source) == 0.5


def test_silence_has_no_loud_window_and_no_order() -> None:
    silence = np.zeros(3 * RATE, np.float32)
    assert loud_windows(silence) == 0
    assert aligned_share(silence, _speechlike(6, 4.0)) == 0.0
