"""Vietnamese speech to text: Whisper engines, offline model discovery, the per-track pipeline.

Modules: ``segment`` (Segment, Word), ``models`` (discover_model, list_models, ModelInfo), ``export``
(CTranslate2 → openai-whisper checkpoint), ``ctranslate2_file`` (model.bin reader), ``engines``
(Transcriber, create_engine, FasterWhisperEngine, OpenAIWhisperEngine), ``audio`` (decode_audio,
cut_intervals), ``pipeline`` (TrackInput, TranscribedSegment, transcribe_tracks), ``wer`` (WER/CER),
``errors`` (the error tree). Imports nothing of the server.
"""

from transcription.engines import Transcriber, create_engine
from transcription.errors import AudioDecodeError, ModelNotFoundError, TranscriptionError
from transcription.models import ModelInfo, discover_model, list_models
from transcription.pipeline import TrackInput, TranscribedSegment, transcribe_tracks
from transcription.segment import Segment, Word

__all__ = [
    "AudioDecodeError",
    "ModelInfo",
    "ModelNotFoundError",
    "Segment",
    "TrackInput",
    "TranscribedSegment",
    "Transcriber",
    "TranscriptionError",
    "Word",
    "create_engine",
    "discover_model",
    "list_models",
    "transcribe_tracks",
]
