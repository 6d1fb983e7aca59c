"""Fixtures for the transcription tests: the packaged model joined once per session into a temporary cache,
the loaded engines, and Opus file makers."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from asr_support import AudioMaker, encode_opus  # noqa: E402

from transcription.engines import FasterWhisperEngine, OpenAIWhisperEngine, create_engine  # noqa: E402
from transcription.models import PACKAGED_MODEL_NAME, ModelInfo, discover_model  # noqa: E402


@pytest.fixture(scope="session")
def model_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("models") / PACKAGED_MODEL_NAME


@pytest.fixture(scope="session")
def packaged_model(model_cache: Path) -> ModelInfo:
    return discover_model(None, cache_dir=model_cache)


@pytest.fixture(scope="session")
def faster_engine(packaged_model: ModelInfo) -> FasterWhisperEngine:
    engine = create_engine("faster-whisper", packaged_model, threads=2)
    assert isinstance(engine, FasterWhisperEngine)
    return engine


@pytest.fixture(scope="session")
def checkpoint_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("checkpoints")


@pytest.fixture(scope="session")
def openai_engine(packaged_model: ModelInfo, checkpoint_dir: Path) -> Iterator[OpenAIWhisperEngine]:
    engine = create_engine("openai-whisper", packaged_model, threads=2, checkpoint_dir=checkpoint_dir)
    assert isinstance(engine, OpenAIWhisperEngine)
    yield engine


@pytest.fixture
def make_ogg() -> AudioMaker:
    return lambda audio, out: encode_opus(audio, out, container_format="ogg")


@pytest.fixture
def make_webm() -> AudioMaker:
    return lambda audio, out: encode_opus(audio, out, container_format="webm")
