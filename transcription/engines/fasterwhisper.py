"""The default engine: faster-whisper (CTranslate2), int8 on CPU, Silero VAD, word timestamps."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from transcription.audio import SAMPLE_RATE_HZ, Audio, load_audio
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
from transcription.errors import EngineUnavailableError, ModelNotFoundError
from transcription.models import ModelInfo
from transcription.segment import Segment, Word

logger = logging.getLogger(__name__)

DEFAULT_COMPUTE_TYPE = "int8"
# Memory grows with the batch: on the joined eval file (base model, beam 5, word timestamps, 2 threads)
# batch 2 peaked at 530–560 MB with RTF 0.096–0.111 and batch 4 at ~740 MB with RTF 0.074–0.093 (beam 3:
# 519 / 744 MB, barely less). Batch 2 keeps the worker under 600 MB; GIAOBAN_ASR_BATCH_SIZE trades memory
# for speed.
DEFAULT_BATCH_SIZE = 2
# Batching pays off once the VAD finds more than one 30 s window to decode together (measured in
# benchmarks/asr: on a single short clip both paths cost the same, on long audio batching is ~2× faster).
BATCHED_MIN_DURATION_S = 30.0


@dataclass(frozen=True)
class FasterWhisperOptions(EngineOptions):
    compute_type: str = DEFAULT_COMPUTE_TYPE
    batch_size: int = DEFAULT_BATCH_SIZE
    # None: batched inference for audio longer than BATCHED_MIN_DURATION_S; True/False forces it.
    batched: bool | None = None
    vad_filter: bool = True


def _to_segment(raw: Any, shift_s: float = 0.0) -> Segment:
    words = tuple(
        Word(
            start_s=float(w.start) + shift_s,
            end_s=float(w.end) + shift_s,
            text=str(w.word).strip(),
            probability=float(w.probability),
        )
        for w in (raw.words or ())
    )
    return Segment(
        start_s=float(raw.start) + shift_s,
        end_s=float(raw.end) + shift_s,
        text=str(raw.text).strip(),
        words=words,
        avg_logprob=float(raw.avg_logprob),
        no_speech_prob=float(raw.no_speech_prob),
    )


class FasterWhisperEngine:
    """faster-whisper on a CTranslate2 model folder.

    Long audio goes through ``BatchedInferencePipeline`` (temperature 0 only); a batched segment that fails
    Whisper's fallback tests (compression ratio above 2.4 or average log-probability below -1 while it is
    speech) is decoded again by the sequential path, which keeps the temperature fallback.
    """

    name = "faster-whisper"

    def __init__(self, model: ModelInfo, options: FasterWhisperOptions | None = None) -> None:
        if model.format != "ctranslate2":
            raise ModelNotFoundError(
                f"{model.path}: faster-whisper cần mô hình CTranslate2 / faster-whisper needs a CTranslate2 "
                "model folder (model.bin + config.json), not an openai-whisper checkpoint"
            )
        try:
            from faster_whisper import BatchedInferencePipeline, WhisperModel
        except ImportError as exc:
            raise EngineUnavailableError(
                "faster-whisper is not installed: pip install faster-whisper"
            ) from exc
        self.model_info = model
        self.options = options or FasterWhisperOptions()
        self._model = WhisperModel(
            str(model.path),
            device="cpu",
            compute_type=self.options.compute_type,
            cpu_threads=self.options.threads,
            num_workers=1,
            local_files_only=True,
        )
        self._batched = BatchedInferencePipeline(model=self._model)
        self._lock = threading.Lock()
        logger.info("loaded %s (%s, %d threads)", model.path, self.options.compute_type, self.options.threads)

    def _sequential(
        self,
        audio: Audio,
        hotwords: str | None,
        *,
        vad_filter: bool,
        temperatures: Sequence[float] | None = None,
        word_timestamps: bool | None = None,
        initial_prompt: str | None = None,
        beam_size: int | None = None,
    ) -> tuple[Iterable[Any], float]:
        """One sequential decode with the engine's settings (``temperatures``, ``word_timestamps`` and
        ``beam_size``: the options' unless given; the live captions' streaming decoder passes its own and a
        prompt)."""
        o = self.options
        beam = o.beam_size if beam_size is None else beam_size
        raw, info = self._model.transcribe(
            audio,
            language=o.language,
            task="transcribe",
            beam_size=beam,
            best_of=beam,
            temperature=list(o.temperatures if temperatures is None else temperatures),
            compression_ratio_threshold=COMPRESSION_RATIO_THRESHOLD,
            log_prob_threshold=LOG_PROB_THRESHOLD,
            no_speech_threshold=NO_SPEECH_THRESHOLD,
            condition_on_previous_text=False,
            word_timestamps=o.word_timestamps if word_timestamps is None else word_timestamps,
            vad_filter=vad_filter,
            hotwords=hotwords,
            initial_prompt=initial_prompt,
        )
        return raw, float(info.duration)

    def _batched_run(self, audio: Audio, hotwords: str | None) -> tuple[Iterable[Any], float]:
        o = self.options
        raw, info = self._batched.transcribe(
            audio,
            language=o.language,
            task="transcribe",
            beam_size=o.beam_size,
            best_of=o.beam_size,
            temperature=o.temperatures[0],
            compression_ratio_threshold=COMPRESSION_RATIO_THRESHOLD,
            log_prob_threshold=LOG_PROB_THRESHOLD,
            no_speech_threshold=NO_SPEECH_THRESHOLD,
            word_timestamps=o.word_timestamps,
            # Timestamp tokens split each 30 s window into sentence-sized segments (same WER, measured).
            without_timestamps=False,
            vad_filter=True,
            batch_size=o.batch_size,
            hotwords=hotwords,
        )
        return raw, float(info.duration)

    def _needs_fallback(self, raw: Any) -> bool:
        if float(raw.compression_ratio) > COMPRESSION_RATIO_THRESHOLD:
            return True
        return float(raw.avg_logprob) < LOG_PROB_THRESHOLD and float(raw.no_speech_prob) < NO_SPEECH_THRESHOLD

    def _redecode(self, audio: Audio, raw: Any, hotwords: str | None) -> list[Segment]:
        first = max(0, int(float(raw.start) * SAMPLE_RATE_HZ))
        last = min(audio.size, int(np.ceil(float(raw.end) * SAMPLE_RATE_HZ)))
        if last - first < SAMPLE_RATE_HZ // 10:
            return [_to_segment(raw)]
        again, _ = self._sequential(audio[first:last], hotwords, vad_filter=False)
        logger.info("re-decoded %.1f–%.1f s with temperature fallback", raw.start, raw.end)
        return [_to_segment(r, shift_s=first / SAMPLE_RATE_HZ) for r in again]

    def use_batched(self, duration_s: float) -> bool:
        if self.options.batched is not None:
            return self.options.batched
        return duration_s > BATCHED_MIN_DURATION_S

    def transcribe(
        self,
        audio: AudioInput,
        *,
        hotwords: Sequence[str] = (),
        progress: ProgressCallback | None = None,
    ) -> list[Segment]:
        samples = load_audio(audio)
        words = limit_hotwords(hotwords)
        joined = " ".join(words) or None
        duration_s = samples.size / SAMPLE_RATE_HZ
        batched = self.use_batched(duration_s)
        segments: list[Segment] = []
        with self._lock:
            if progress is not None:
                progress(0.0)
            raw_segments, _ = (
                self._batched_run(samples, joined)
                if batched
                else self._sequential(samples, joined, vad_filter=self.options.vad_filter)
            )
            for raw in raw_segments:
                if batched and self._needs_fallback(raw):
                    segments.extend(self._redecode(samples, raw, joined))
                else:
                    segments.append(_to_segment(raw))
                if progress is not None and duration_s > 0:
                    progress(min(1.0, float(raw.end) / duration_s))
            if progress is not None:
                progress(1.0)
        segments.sort(key=lambda s: (s.start_s, s.end_s))
        return clean_segments(segments, words, keep_doubtful=True)
