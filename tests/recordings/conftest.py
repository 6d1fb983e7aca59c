"""Fixtures for the recordings tests: speech and its real Opus packets, computed once per session."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from rec_speech import Speech, clip_paths, encode_opus, load_speech  # noqa: E402


@pytest.fixture(scope="session")
def speech() -> Speech:
    """About 10.5 s of Vietnamese speech (three synthesised sentences) and its 20 ms Opus packets."""
    pcm = load_speech(clip_paths(3))
    return Speech(pcm=pcm, packets=encode_opus(pcm))


@pytest.fixture(scope="session")
def other_speech() -> Speech:
    """A different 2-clip stretch of speech, for a second participant."""
    pcm = load_speech(clip_paths(2, first=10))
    return Speech(pcm=pcm, packets=encode_opus(pcm))
