"""The caption process: live captions of the speakers' audio, in a process of its own, niced.

    python -m transcription.captions_worker [--model PATH] [--threads 2] [--hotword "Ia Tul" ...]
                                            [--window-s 10] [--context-s 0] [--final-context-s 0]
                                            [--no-final-fallback] [--no-warm-up] (--help: every flag)

Its parent (the media process) writes frames to its stdin and reads caption events, one JSON object per line,
from its stdout. A frame (all integers big-endian)::

    kind      1 byte   b"O" one Opus packet (decoded here, at 16 kHz), b"P" PCM (16 kHz mono s16le),
                       b"E" end of speech of that unit, b"C" close (finalise everything, then exit)
    unit_len  1 byte   length of the unit id
    time_s    float64  meeting-clock time of the packet's / PCM's first sample (ignored by E and C)
    size      uint32   payload length (at most MAX_PAYLOAD_BYTES)
    unit      unit_len bytes, UTF-8
    payload   size bytes

The media process only forwards the Opus packets it already records: it never decodes. End of input is a
close. Events written::

    {"type": "ready", "pid": ..., "model": ...}
    {"type": "caption", "unit": ..., "text": ..., "start": s, "end": s, "final": bool,
     "words": [[start_s, end_s, word], ...]}
    {"type": "closed", "cpu_s": ..., "max_rss_mb": ..., "decodes": ..., "decoded_audio_s": ...}

A reader thread drains stdin into a queue while Whisper decodes (CTranslate2 releases the GIL), so the
parent's writes never wait on a decode. One StreamingTranscriber per unit; units are decoded in turn.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import queue
import resource
import struct
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, TextIO

import numpy as np

from recordings.opuscodec import Decoder, OpusCodecError
from transcription.audio import SAMPLE_RATE_HZ, Audio
from transcription.engines import fasterwhisper_window
from transcription.engines.base import DEFAULT_BEAM_SIZE
from transcription.engines.fasterwhisper import FasterWhisperOptions
from transcription.engines.fasterwhisper_window import EncoderWindow, WindowHookError
from transcription.models import DEFAULT_CACHE_DIR, discover_model
from transcription.streaming import (
    Caption,
    FinalDecode,
    SileroVoiceDetector,
    StreamingOptions,
    StreamingTranscriber,
    WhisperStreamingDecoder,
)

logger = logging.getLogger(__name__)

HEADER = struct.Struct("!cBdI")
KIND_OPUS = b"O"
KIND_PCM = b"P"
KIND_END_OF_SPEECH = b"E"
KIND_CLOSE = b"C"
KINDS = (KIND_OPUS, KIND_PCM, KIND_END_OF_SPEECH, KIND_CLOSE)
MAX_PAYLOAD_BYTES = 1 << 20
NICENESS = 10
IDLE_WAIT_S = 0.05
# The encoder's window (fasterwhisper_window.EncoderWindow): at least DEFAULT_WINDOW_S, the buffer rounded
# up to DEFAULT_WINDOW_STEP_S; 30 is Whisper's own window (the offline pass always uses it). Measured by
# benchmarks/captions (15 VIVOS clips, un-niced, load average 5-13): 10 s cut the final-caption delay
# p50/p95 from 4.7/9.2 and 6.3/14.4 s to 1.9/3.2 and 2.4/7.3 s (2.1/3.7 without warm-up), CPU 0.4-0.7x,
# caption WER +0.8 to +2.2 points; decoded whole, 3.8 s clips lose 2.5 points at 10 s and 11 s pieces none
# (-0.4); a 5 s window breaks the model (WER 0.83).
DEFAULT_WINDOW_S = 10.0
DEFAULT_WINDOW_STEP_S = 5.0


class ProtocolError(ValueError):
    """A frame that does not follow the protocol (the parent is broken): the process stops."""


@dataclass(frozen=True)
class Frame:
    kind: bytes
    unit: str
    time_s: float
    payload: bytes = b""


def encode_frame(kind: bytes, unit: str, time_s: float = 0.0, payload: bytes = b"") -> bytes:
    """One frame as the parent writes it."""
    if kind not in KINDS:
        raise ValueError(f"unknown frame kind {kind!r}")
    unit_bytes = unit.encode("utf-8")
    if len(unit_bytes) > 255 or len(payload) > MAX_PAYLOAD_BYTES:
        raise ValueError("unit id over 255 bytes or payload over MAX_PAYLOAD_BYTES")
    return HEADER.pack(kind, len(unit_bytes), float(time_s), len(payload)) + unit_bytes + payload


def pcm_frame(unit: str, time_s: float, samples: Audio) -> bytes:
    """A PCM frame of float32 samples in [-1, 1] (16 kHz mono)."""
    pcm = (np.clip(samples, -1.0, 1.0) * 32767.0).astype("<i2")
    return encode_frame(KIND_PCM, unit, time_s, pcm.tobytes())


def _read_exactly(stream: BinaryIO, size: int) -> bytes | None:
    data = b""
    while len(data) < size:
        part = stream.read(size - len(data))
        if not part:
            return None
        data += part
    return data


def read_frame(stream: BinaryIO) -> Frame | None:
    """The next frame, or None at the end of input (a frame cut short counts as the end)."""
    header = _read_exactly(stream, HEADER.size)
    if header is None:
        return None
    kind, unit_len, time_s, size = HEADER.unpack(header)
    if kind not in KINDS or size > MAX_PAYLOAD_BYTES or not np.isfinite(time_s):
        raise ProtocolError(f"bad frame header {header!r}")
    body = _read_exactly(stream, unit_len + size)
    if body is None:
        return None
    try:
        unit = body[:unit_len].decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ProtocolError("unit id is not UTF-8") from exc
    return Frame(kind, unit, time_s, body[unit_len:])


class OpusDecoder16k:
    """libopus (``recordings.opuscodec.Decoder``) decoding straight to 16 kHz mono: no resampling."""

    def __init__(self) -> None:
        self._decoder = Decoder(1, sample_rate_hz=SAMPLE_RATE_HZ)

    def decode(self, packet: bytes) -> Audio:
        try:
            pcm = self._decoder.decode(packet)
        except OpusCodecError:  # a corrupt packet: the transcriber fills the hole with silence
            return np.zeros(0, dtype=np.float32)
        out: Audio = pcm[:, 0].astype(np.float32) / 32768.0
        return out

    def close(self) -> None:
        self._decoder.close()


def caption_event(unit: str, caption: Caption) -> dict[str, object]:
    return {
        "type": "caption",
        "unit": unit,
        "text": caption.text,
        "start": round(caption.start_s, 3),
        "end": round(caption.end_s, 3),
        "final": caption.final,
        "words": [[round(w.start_s, 3), round(w.end_s, 3), w.text] for w in caption.words],
    }


def max_rss_mb() -> float:
    """This process's peak resident memory. Read from /proc (VmHWM, per address space, new at exec):
    getrusage's ru_maxrss keeps the parent's peak across fork + exec, so a caption process started by a
    2.7 GB parent reported 2.7 GB."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


class CaptionWorker:
    """Frames in, caption events out; one StreamingTranscriber (and Opus decoder) per unit."""

    def __init__(
        self,
        decoder: WhisperStreamingDecoder,
        out: TextIO,
        options: StreamingOptions | None = None,
        *,
        use_vad: bool = True,
    ) -> None:
        self.decoder = decoder
        self.out = out
        self.options = options or StreamingOptions()
        self.use_vad = use_vad
        self.transcribers: dict[str, StreamingTranscriber] = {}
        self.opus: dict[str, OpusDecoder16k] = {}

    def emit(self, event: dict[str, object]) -> None:
        self.out.write(json.dumps(event, ensure_ascii=False) + "\n")
        self.out.flush()

    def _emit_captions(self, unit: str, captions: Sequence[Caption]) -> None:
        for caption in captions:
            self.emit(caption_event(unit, caption))

    def transcriber(self, unit: str) -> StreamingTranscriber:
        if unit not in self.transcribers:
            vad = SileroVoiceDetector() if self.use_vad else None
            self.transcribers[unit] = StreamingTranscriber(self.decoder, vad, self.options)
        return self.transcribers[unit]

    def handle(self, frame: Frame) -> bool:
        """Apply one frame; False once it is a close."""
        if frame.kind == KIND_CLOSE:
            return False
        if frame.kind == KIND_END_OF_SPEECH:
            if frame.unit in self.transcribers:
                self._emit_captions(frame.unit, self.transcribers[frame.unit].finish())
            return True
        if frame.kind == KIND_OPUS:
            if frame.unit not in self.opus:
                self.opus[frame.unit] = OpusDecoder16k()
            samples = self.opus[frame.unit].decode(frame.payload)
        else:
            samples = np.frombuffer(frame.payload, dtype="<i2").astype(np.float32) / 32768.0
        self._emit_captions(frame.unit, self.transcriber(frame.unit).insert_audio(samples, frame.time_s))
        return True

    def step(self) -> bool:
        """Decode every unit that is due; whether any was."""
        any_due = False
        for unit, transcriber in list(self.transcribers.items()):
            if transcriber.due():
                any_due = True
                self._emit_captions(unit, transcriber.process())
        return any_due

    def close(self) -> None:
        for unit, transcriber in self.transcribers.items():
            self._emit_captions(unit, transcriber.finish())
        usage = resource.getrusage(resource.RUSAGE_SELF)
        transcribers = list(self.transcribers.values())
        self.emit(
            {
                "type": "closed",
                "cpu_s": round(usage.ru_utime + usage.ru_stime, 3),
                "max_rss_mb": round(max_rss_mb(), 1),
                "decodes": sum(t.decodes for t in transcribers),
                "decoded_audio_s": round(sum(t.decoded_audio_s for t in transcribers), 3),
                "max_buffer_s": round(max((t.max_buffer_seen_s for t in transcribers), default=0.0), 3),
            }
        )
        for decoder in self.opus.values():
            decoder.close()

    def run(self, stream: BinaryIO) -> None:
        """Read frames from ``stream`` (in a thread) until a close or the end of input."""
        frames: queue.Queue[Frame | None | ProtocolError] = queue.Queue()

        def reader() -> None:
            try:
                while (frame := read_frame(stream)) is not None:
                    frames.put(frame)
                frames.put(None)
            except ProtocolError as exc:
                frames.put(exc)

        threading.Thread(target=reader, name="caption-reader", daemon=True).start()
        open_ = True
        while open_:
            wait = not any(t.due() for t in self.transcribers.values())
            batch: list[Frame | None | ProtocolError] = []
            try:
                batch.append(frames.get(timeout=IDLE_WAIT_S) if wait else frames.get_nowait())
            except queue.Empty:
                pass
            while True:
                try:
                    batch.append(frames.get_nowait())
                except queue.Empty:
                    break
            for item in batch:
                if isinstance(item, ProtocolError):
                    raise item
                if item is None or not self.handle(item):
                    open_ = False
                    break
            if open_:
                self.step()
        self.close()


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m transcription.captions_worker", description="Live captions: frames in, JSON out."
    )
    parser.add_argument(
        "--model", help="CTranslate2 model folder (default: GIAOBAN_ASR_MODEL, else the packaged base)"
    )
    parser.add_argument("--cache-dir", type=Path, default=None, help="where the packaged model is joined")
    parser.add_argument("--threads", type=int, default=2, help="CPU threads of the decoder")
    parser.add_argument("--beam-size", type=int, default=DEFAULT_BEAM_SIZE)
    parser.add_argument("--hotword", action="append", default=[], help="a name of the meeting (repeatable)")
    parser.add_argument("--min-chunk-s", type=float, default=StreamingOptions.min_chunk_s)
    parser.add_argument(
        "--chunk-growth",
        type=float,
        default=StreamingOptions.chunk_growth,
        help="decode again after this share of the buffer if more than --min-chunk-s (0: every min chunk)",
    )
    parser.add_argument("--max-buffer-s", type=float, default=StreamingOptions.max_buffer_s)
    parser.add_argument(
        "--silence-flush-s",
        type=float,
        default=StreamingOptions.silence_flush_s,
        help="silence after speech that ends the utterance (its last decode finalises it)",
    )
    parser.add_argument(
        "--window-s",
        type=float,
        default=DEFAULT_WINDOW_S,
        help="shortest encoder window in seconds (30: Whisper's full window, no faster-whisper hook)",
    )
    parser.add_argument(
        "--window-step-s", type=float, default=DEFAULT_WINDOW_STEP_S, help="the window is rounded up to this"
    )
    parser.add_argument(
        "--context-s",
        type=float,
        default=StreamingOptions.context_s,
        help="audio of the unit's earlier speech decoded before each buffer (0: none, a text prompt instead)",
    )
    parser.add_argument(
        "--final-context-s",
        type=float,
        default=StreamingOptions.final_context_s,
        help="the same for an utterance's last decode only (0: as --context-s)",
    )
    parser.add_argument(
        "--final-beam-size",
        type=int,
        default=None,
        help="beam of an utterance's last decode (default: --beam-size)",
    )
    parser.add_argument(
        "--final-fallback",
        action=argparse.BooleanOptionalAction,
        default=FinalDecode.fallback,
        help="Whisper's temperature fallback on an utterance's last decode (interim decodes: temperature 0)",
    )
    parser.add_argument(
        "--keep-doubtful",
        action=argparse.BooleanOptionalAction,
        default=False,
        help="caption the segments the filter doubts (decoded from silence, words barely believed), as the "
        "transcript keeps them",
    )
    parser.add_argument("--window-margin-s", type=float, default=0.0, help="padding added before rounding")
    parser.add_argument("--no-warm-up", action="store_true", help="no warm-up decode before 'ready'")
    parser.add_argument("--no-vad", action="store_true", help="no voice detector: only E frames end speech")
    parser.add_argument("--no-nice", action="store_true", help="do not lower the process priority")
    return parser.parse_args(argv)


def build_decoder(args: argparse.Namespace) -> WhisperStreamingDecoder:
    """The streaming decoder ``args`` describe; raises WindowHookError when the short window cannot work."""
    window = EncoderWindow(args.window_s, args.window_step_s, args.window_margin_s)
    if not window.full:
        fasterwhisper_window.install()  # checks what it relies on in faster-whisper
    model_path = args.model or os.environ.get("GIAOBAN_ASR_MODEL") or None
    model = discover_model(model_path, cache_dir=args.cache_dir or DEFAULT_CACHE_DIR.expanduser())
    return WhisperStreamingDecoder(
        model,
        FasterWhisperOptions(threads=args.threads, beam_size=args.beam_size, batched=False, vad_filter=False),
        hotwords=args.hotword,
        window=window,  # its constructor checks that CTranslate2 encodes the short input
        final=FinalDecode(fallback=args.final_fallback, beam_size=args.final_beam_size),
        keep_doubtful=args.keep_doubtful,
    )


def streaming_options(args: argparse.Namespace) -> StreamingOptions:
    return StreamingOptions(
        min_chunk_s=args.min_chunk_s,
        chunk_growth=max(0.0, args.chunk_growth),
        max_buffer_s=args.max_buffer_s,
        trim_s=min(StreamingOptions.trim_s, args.max_buffer_s),
        silence_flush_s=args.silence_flush_s,
        context_s=max(0.0, args.context_s),
        final_context_s=max(0.0, args.final_context_s),
    )


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=os.environ.get("GIAOBAN_LOG_LEVEL", "WARNING"), stream=sys.stderr)
    if not args.no_nice:
        os.nice(NICENESS)
    try:
        decoder = build_decoder(args)
    except WindowHookError as exc:
        logger.error("caption process cannot start: %s (run with --window-s 30 to avoid the hook)", exc)
        print(f"caption process cannot start: {exc}", file=sys.stderr)
        return 3
    warm_up_s = 0.0
    if not args.no_warm_up:
        from faster_whisper.vad import get_vad_model  # not at import: the media process imports this module

        get_vad_model()  # Silero's ONNX session, shared by every unit's detector
        warm_up_s = decoder.warm_up()
    worker = CaptionWorker(decoder, sys.stdout, streaming_options(args), use_vad=not args.no_vad)
    worker.emit(
        {
            "type": "ready",
            "pid": os.getpid(),
            "model": str(decoder.model_info.path),
            "time": time.time(),
            "window": (decoder.window or EncoderWindow()).describe(),
            "warm_up_s": round(warm_up_s, 3),
        }
    )
    try:
        worker.run(sys.stdin.buffer)
    except ProtocolError as exc:
        logger.error("caption process stopped: %s", exc)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
