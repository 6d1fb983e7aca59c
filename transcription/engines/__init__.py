"""Speech-to-text engines behind one protocol, and the factory that picks one by name."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from transcription.engines.base import DEFAULT_BEAM_SIZE, DEFAULT_THREADS, EngineOptions, Transcriber
from transcription.engines.fasterwhisper import (
    DEFAULT_BATCH_SIZE,
    DEFAULT_COMPUTE_TYPE,
    FasterWhisperEngine,
    FasterWhisperOptions,
)
from transcription.engines.openaiwhisper import (
    DEFAULT_CHECKPOINT_DIR,
    OpenAIWhisperEngine,
    OpenAIWhisperOptions,
)
from transcription.models import ModelInfo

EngineName = Literal["faster-whisper", "openai-whisper"]
ENGINE_NAMES: tuple[EngineName, ...] = ("faster-whisper", "openai-whisper")

__all__ = [
    "ENGINE_NAMES",
    "EngineName",
    "EngineOptions",
    "FasterWhisperEngine",
    "FasterWhisperOptions",
    "OpenAIWhisperEngine",
    "OpenAIWhisperOptions",
    "Transcriber",
    "create_engine",
]


def create_engine(
    name: EngineName,
    model: ModelInfo,
    *,
    threads: int = DEFAULT_THREADS,
    beam_size: int = DEFAULT_BEAM_SIZE,
    compute_type: str = DEFAULT_COMPUTE_TYPE,
    batch_size: int = DEFAULT_BATCH_SIZE,
    batched: bool | None = None,
    checkpoint_dir: Path = DEFAULT_CHECKPOINT_DIR,
) -> Transcriber:
    """Load the engine ``name`` on ``model``.

    ``compute_type``/``batch_size``/``batched`` apply to faster-whisper; ``checkpoint_dir`` is where
    openai-whisper keeps the checkpoint exported from a CTranslate2 model.
    """
    if name == "faster-whisper":
        return FasterWhisperEngine(
            model,
            FasterWhisperOptions(
                threads=threads,
                beam_size=beam_size,
                compute_type=compute_type,
                batch_size=batch_size,
                batched=batched,
            ),
        )
    if name == "openai-whisper":
        return OpenAIWhisperEngine(
            model, OpenAIWhisperOptions(threads=threads, beam_size=beam_size, checkpoint_dir=checkpoint_dir)
        )
    raise ValueError(f"unknown engine {name!r}; choose one of {', '.join(ENGINE_NAMES)}")
