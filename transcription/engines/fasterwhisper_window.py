"""A shorter encoder window for the live captions: the one faster-whisper internal the project relies on, in
one place (faster-whisper==1.2.1 and ctranslate2 4.x, pinned in pyproject.toml).

faster-whisper always encodes a full 30 s window: ``WhisperModel.generate_segments`` pads each window's mel
features to 3000 frames with ``pad_or_trim(segment)`` whatever the audio's length (``transcribe``'s
``chunk_length`` does not change that, and it rewrites the shared feature extractor for good). The caption
process decodes a buffer of at most 15 s about once a second, so most of the encoder's work (~0.9 s of CPU
per decode on the 2-core machine) is spent on padding. CTranslate2 accepts encoder inputs shorter than
3000 frames since OpenNMT/CTranslate2 PR #1446, and cuts its positional embeddings to the input; very short
unpadded inputs hurt accuracy (CTranslate2 issue #2100), so the window keeps some padding: see
:class:`EncoderWindow`.

What this relies on (checked by :func:`self_check`, which the caption process runs before it says "ready"):

- ``faster_whisper.transcribe.pad_or_trim`` is a module-level name (imported from ``faster_whisper.audio``)
  that ``generate_segments`` looks up at each call, with the signature ``(array, length=3000, *, axis=-1)``;
- ``generate_segments`` calls it as ``segment = pad_or_trim(segment)`` on the window's features, encodes
  the result (``self.encode(segment)``) and aligns words over the content frames only
  (``add_word_timestamps(..., encoder_output, segment_size, ...)``), so word times do not depend on the
  padding;
- the model's feature extractor has 3000 frames per window (``nb_max_frames``) at 100 frames per second;
- the CTranslate2 model encodes fewer than 3000 frames into half as many encoder frames (checked on the
  loaded model by :func:`check_short_encode`).

:func:`install` replaces the module-level name with a wrapper that pads to the window only inside
:func:`encoder_window` (a context variable set by the streaming decoder around its decode); everywhere else
(the offline pass, the batched pipeline, language detection) it calls the original with its arguments, so
those keep the 30 s window even in the same process.
"""

from __future__ import annotations

import contextlib
import contextvars
import inspect
import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

FULL_WINDOW_FRAMES = 3000  # Whisper's 30 s window at 100 mel frames per second
FRAMES_PER_SECOND = 100
FULL_WINDOW_S = FULL_WINDOW_FRAMES / FRAMES_PER_SECOND
EXPECTED_SIGNATURE = "(array, length: int = 3000, *, axis: int = -1)"
_POSITIONAL, _KEYWORD = inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY
EXPECTED_PARAMETERS = [
    ("array", _POSITIONAL, inspect.Parameter.empty),
    ("length", _POSITIONAL, FULL_WINDOW_FRAMES),
    ("axis", _KEYWORD, -1),
]
GENERATE_SEGMENTS_CALLS = (
    "segment = pad_or_trim(segment)",
    "encoder_output = self.encode(segment)",
    "self.add_word_timestamps( [current_segments], tokenizer, encoder_output, segment_size,",
)


class WindowHookError(RuntimeError):
    """faster-whisper or CTranslate2 no longer has the shape the shorter encoder window relies on."""


@dataclass(frozen=True)
class EncoderWindow:
    """How long a window the encoder sees for ``n`` frames of speech: ``n`` plus ``margin_s``, rounded up to
    ``step_s``, at least ``floor_s``, at most 30 s. ``floor_s`` >= 30 is Whisper's own window."""

    floor_s: float = 30.0
    step_s: float = 5.0
    margin_s: float = 0.0

    @property
    def full(self) -> bool:
        return self.floor_s >= FULL_WINDOW_S

    def frames(self, content_frames: int) -> int:
        if self.full:
            return FULL_WINDOW_FRAMES
        wanted_s = content_frames / FRAMES_PER_SECOND + self.margin_s
        if self.step_s > 0:
            wanted_s = math.ceil(wanted_s / self.step_s - 1e-9) * self.step_s
        frames = max(round(self.floor_s * FRAMES_PER_SECOND), round(wanted_s * FRAMES_PER_SECOND))
        frames += frames % 2  # the encoder halves the frames (stride-2 convolution)
        return max(content_frames, min(FULL_WINDOW_FRAMES, frames))

    def describe(self) -> str:
        if self.full:
            return "30 s (Whisper's window)"
        return f"speech + {self.margin_s:g} s rounded up to {self.step_s:g} s, {self.floor_s:g}-30 s"


_window: contextvars.ContextVar[EncoderWindow | None] = contextvars.ContextVar("encoder_window", default=None)
_original_pad_or_trim: Any = None


def _windowed_pad_or_trim(array: Any, length: int = FULL_WINDOW_FRAMES, *, axis: int = -1) -> Any:
    window = _window.get()
    if window is not None and length == FULL_WINDOW_FRAMES and array.shape[axis] < FULL_WINDOW_FRAMES:
        length = window.frames(int(array.shape[axis]))
    return _original_pad_or_trim(array, length, axis=axis)


def self_check() -> None:
    """Raise :class:`WindowHookError` naming every assumption above that the installed packages break."""
    problems: list[str] = []
    try:
        import faster_whisper.transcribe as fw_transcribe
        from faster_whisper.feature_extractor import FeatureExtractor
    except ImportError as exc:  # pragma: no cover - faster-whisper is a dependency
        raise WindowHookError(f"faster-whisper cannot be imported: {exc}") from exc
    current = getattr(fw_transcribe, "pad_or_trim", None)
    target = _original_pad_or_trim if current is _windowed_pad_or_trim else current
    if not callable(target):
        problems.append("faster_whisper.transcribe.pad_or_trim is missing")
    else:
        signature = inspect.signature(target)
        shape = [(p.name, p.kind, p.default) for p in signature.parameters.values()]
        if shape != EXPECTED_PARAMETERS:
            problems.append(
                f"faster_whisper.transcribe.pad_or_trim{signature}, expected {EXPECTED_SIGNATURE}"
            )
    try:
        source = " ".join(inspect.getsource(fw_transcribe.WhisperModel.generate_segments).split())
    except (AttributeError, OSError, TypeError):
        source = ""
    for needle in GENERATE_SEGMENTS_CALLS:
        if needle not in source:
            problems.append(f"WhisperModel.generate_segments no longer does {needle!r}")
    extractor = FeatureExtractor()
    if extractor.nb_max_frames != FULL_WINDOW_FRAMES or extractor.sampling_rate // extractor.hop_length != (
        FRAMES_PER_SECOND
    ):
        problems.append(
            f"faster-whisper's window is {extractor.nb_max_frames} frames at "
            f"{extractor.sampling_rate // extractor.hop_length}/s, expected {FULL_WINDOW_FRAMES} at 100/s"
        )
    if problems:
        raise WindowHookError(
            "the live captions' shorter encoder window (transcription/engines/fasterwhisper_window.py) "
            "relies on faster-whisper internals that changed: " + "; ".join(problems)
        )


def install() -> None:
    """Check the assumptions, then route faster-whisper's ``pad_or_trim`` through the window (idempotent)."""
    global _original_pad_or_trim
    self_check()
    import faster_whisper.transcribe as fw_transcribe

    if fw_transcribe.pad_or_trim is not _windowed_pad_or_trim:
        _original_pad_or_trim = fw_transcribe.pad_or_trim
        fw_transcribe.pad_or_trim = _windowed_pad_or_trim


def installed() -> bool:
    import faster_whisper.transcribe as fw_transcribe

    return fw_transcribe.pad_or_trim is _windowed_pad_or_trim


def check_short_encode(whisper_model: Any) -> None:
    """Encode 10 s of silence with the loaded ``faster_whisper.WhisperModel``: CTranslate2 must accept the
    short input and return half as many encoder frames (else it pads or refuses, and the window is moot)."""
    frames = 1000
    features = np.zeros((whisper_model.feature_extractor.mel_filters.shape[0], frames), dtype=np.float32)
    try:
        output = whisper_model.encode(features)
    except Exception as exc:  # CTranslate2 raises ValueError / RuntimeError on a bad shape
        raise WindowHookError(f"CTranslate2 does not encode a {frames}-frame input: {exc}") from exc
    if tuple(output.shape)[1] != frames // 2:
        raise WindowHookError(
            f"CTranslate2 encoded {frames} frames into {tuple(output.shape)[1]} (expected {frames // 2})"
        )


@contextlib.contextmanager
def encoder_window(window: EncoderWindow | None) -> Iterator[None]:
    """Decodes inside use ``window`` (None or a full window: Whisper's 30 s). Requires :func:`install`."""
    if window is None or window.full:
        yield
        return
    if not installed():
        raise WindowHookError("encoder_window() before fasterwhisper_window.install()")
    token = _window.set(window)
    try:
        yield
    finally:
        _window.reset(token)
