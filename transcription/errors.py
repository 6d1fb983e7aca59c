"""The transcription package's error tree.

TranscriptionError
├── ModelNotFoundError    no usable Whisper model (explicit setting, packaged model or cache)
├── ModelIntegrityError   a model file's content is not what it must be (checksum, format)
├── AudioDecodeError      an audio file cannot be decoded (missing, empty, truncated, not audio)
└── EngineUnavailableError the engine's Python package is not installed
"""

from __future__ import annotations

from pathlib import Path


class TranscriptionError(Exception):
    """Base of every error raised by the transcription package."""


class ModelNotFoundError(TranscriptionError):
    """No Whisper model could be found; the message names the ways to provide one."""


class ModelIntegrityError(TranscriptionError):
    """A model file exists but its content is wrong (bad checksum, unreadable format)."""


class AudioDecodeError(TranscriptionError):
    """An audio file cannot be decoded; ``path`` names it and ``reason`` says why."""

    def __init__(self, path: Path | None, reason: str) -> None:
        self.path = path
        self.reason = reason
        where = str(path) if path is not None else "<audio>"
        super().__init__(f"{where}: {reason}")


class EngineUnavailableError(TranscriptionError):
    """The requested engine's package (faster-whisper, openai-whisper + torch) is not installed."""
