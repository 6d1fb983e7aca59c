"""The reference engine: openai-whisper (PyTorch) on an openai-whisper checkpoint, on CPU.

A CTranslate2 model is exported once to a checkpoint (transcription.export) in a cache folder. openai-whisper
has no ``hotwords``: the hotwords become the ``initial_prompt``, and segments that merely repeat it are
dropped by the hallucination filter.
"""

from __future__ import annotations

import importlib
import logging
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from transcription.audio import SAMPLE_RATE_HZ, load_audio
from transcription.engines.base import (
    COMPRESSION_RATIO_THRESHOLD,
    LOG_PROB_THRESHOLD,
    NO_SPEECH_THRESHOLD,
    AudioInput,
    EngineOptions,
    ProgressCallback,
    clean_segments,
    limit_hotwords,
)
from transcription.errors import EngineUnavailableError
from transcription.export import export_openai_checkpoint
from transcription.models import ModelInfo
from transcription.segment import Segment, Word

logger = logging.getLogger(__name__)

DEFAULT_CHECKPOINT_DIR = Path("~/.cache/giaoban/models")
# openai-whisper reports its progress through a tqdm bar; swapping the bar is process-wide, hence one lock.
_TQDM_LOCK = threading.Lock()
_TQDM_ATTR = "tqdm"


@dataclass(frozen=True)
class OpenAIWhisperOptions(EngineOptions):
    checkpoint_dir: Path = DEFAULT_CHECKPOINT_DIR


def checkpoint_for(model: ModelInfo, checkpoint_dir: Path = DEFAULT_CHECKPOINT_DIR) -> Path:
    """The .pt checkpoint for ``model``: the model itself, or its export (made once) in ``checkpoint_dir``."""
    if model.format == "openai-whisper":
        return model.path
    target = Path(checkpoint_dir).expanduser() / f"{model.name}-openai-whisper.pt"
    source = model.path / "model.bin"
    if not target.is_file() or target.stat().st_mtime < source.stat().st_mtime:
        export_openai_checkpoint(model.path, target)
    return target


class _ProgressBar:
    """Stands in for tqdm.tqdm inside whisper.transcribe and forwards the frame count as 0..1."""

    def __init__(self, callback: ProgressCallback, total: int | None = None, **_: Any) -> None:
        self.callback = callback
        self.total = max(1, int(total or 1))
        self.done = 0

    def __enter__(self) -> _ProgressBar:
        return self

    def __exit__(self, *_: object) -> None:
        return None

    def update(self, count: int) -> None:
        self.done += int(count)
        self.callback(min(1.0, self.done / self.total))


class OpenAIWhisperEngine:
    """openai-whisper with beam search, temperature fallback, word timestamps, fp32 on CPU."""

    name = "openai-whisper"

    def __init__(self, model: ModelInfo, options: OpenAIWhisperOptions | None = None) -> None:
        try:
            import torch
            import whisper
            from whisper.model import ModelDimensions, Whisper
        except ImportError as exc:
            raise EngineUnavailableError(
                "openai-whisper is not installed: pip install torch==2.13.0 && pip install openai-whisper"
            ) from exc
        self.model_info = model
        self.options = options or OpenAIWhisperOptions()
        torch.set_num_threads(self.options.threads)
        path = checkpoint_for(model, self.options.checkpoint_dir)
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
        dims = ModelDimensions(**checkpoint["dims"])
        net = Whisper(dims)
        net.load_state_dict(checkpoint["model_state_dict"], strict=True)
        heads = checkpoint.get("alignment_heads") or []
        if heads:
            mask = torch.zeros(dims.n_text_layer, dims.n_text_head, dtype=torch.bool)
            for layer, head in heads:
                mask[int(layer), int(head)] = True
            net.register_buffer("alignment_heads", mask.to_sparse(), persistent=False)
        self._model = net.float().eval()
        # whisper/__init__ re-exports the function under the module's name: fetch the module itself.
        self._transcribe_module = importlib.import_module("whisper.transcribe")
        del whisper
        self._lock = threading.Lock()
        logger.info("loaded %s (%d threads)", path, self.options.threads)

    def transcribe(
        self,
        audio: AudioInput,
        *,
        hotwords: Sequence[str] = (),
        progress: ProgressCallback | None = None,
    ) -> list[Segment]:
        import torch

        samples = load_audio(audio)
        words = limit_hotwords(hotwords)
        prompt = ", ".join(words) or None
        o = self.options
        kwargs: dict[str, Any] = {
            "language": o.language,
            "task": "transcribe",
            "temperature": o.temperatures,
            "compression_ratio_threshold": COMPRESSION_RATIO_THRESHOLD,
            "logprob_threshold": LOG_PROB_THRESHOLD,
            "no_speech_threshold": NO_SPEECH_THRESHOLD,
            "condition_on_previous_text": False,
            "initial_prompt": prompt,
            "word_timestamps": o.word_timestamps,
            "beam_size": o.beam_size,
            "best_of": o.beam_size,
            "fp16": False,
        }
        transcribe_module = self._transcribe_module
        with self._lock, torch.inference_mode():
            if progress is None:
                result = transcribe_module.transcribe(self._model, samples, verbose=None, **kwargs)
            else:
                progress(0.0)
                shim = SimpleNamespace(tqdm=lambda **kw: _ProgressBar(progress, **kw))
                with _TQDM_LOCK:
                    original = getattr(transcribe_module, _TQDM_ATTR)
                    setattr(transcribe_module, _TQDM_ATTR, shim)
                    try:
                        # verbose=False turns the (now forwarded) progress bar on and the text printing off.
                        result = transcribe_module.transcribe(self._model, samples, verbose=False, **kwargs)
                    finally:
                        setattr(transcribe_module, _TQDM_ATTR, original)
                progress(1.0)
        duration_s = samples.size / SAMPLE_RATE_HZ
        segments = [
            Segment(
                start_s=float(raw["start"]),
                end_s=min(float(raw["end"]), duration_s),
                text=str(raw["text"]).strip(),
                words=tuple(
                    Word(float(w["start"]), float(w["end"]), str(w["word"]).strip(), float(w["probability"]))
                    for w in raw.get("words") or ()
                ),
                avg_logprob=float(raw["avg_logprob"]),
                no_speech_prob=float(raw["no_speech_prob"]),
            )
            for raw in result["segments"]
        ]
        return clean_segments(segments, words, keep_doubtful=True)
