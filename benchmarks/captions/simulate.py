"""Compare caption-process settings on a simulated clock: the same speech, decoders and policy, no waiting.

The caption process's own code (``transcription.captions_worker``'s argument parser, decoder and streaming
options, Silero VAD, libopus at 16 kHz) runs in this process, fed the 20 ms Opus packets of the dev-set speech
(VIVOS clips joined with 0.8 s pauses, as ``benchmarks.captions.run``) on a virtual clock: a packet arrives
at its time in the stream, every step the worker would take (decoding a packet, a decode of the buffer,
a finalisation) moves the clock on by the wall time it took here, and the worker's loop is kept (it takes
every packet that has arrived, then decodes if due). A caption is "received" at the clock's time when it was
produced. So the delays are what the real-time process would see on this machine at this load, without
waiting for the audio: a variant costs its CPU, not the audio's duration.

Each ``--variant LABEL=FLAGS`` (caption-process flags, as ``python -m transcription.captions_worker``
takes them) runs after the baseline (the process's defaults) on the same audio; the offline pass (the default
engine on the whole audio, 30 s windows) runs last. Printed per variant: caption WER against the references
and against the offline transcript, its difference with the offline pass and with the baseline, final-caption
delay per word p50 / p95 on the simulated clock, and the CPU seconds its decodes took.

    python -m benchmarks.captions.simulate --clips 30 --variant "final ctx 10=--final-context-s 10"
"""

from __future__ import annotations

import argparse
import os
import shlex
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from benchmarks.captions.common import PAUSE_S, add_clips_argument, asr_model, load_speech, offline_pass  # noqa: E402
from transcription import captions_worker  # noqa: E402
from transcription.captions_client import OPUS_FRAME_S, opus_packets  # noqa: E402
from transcription.streaming import Caption, SileroVoiceDetector, StreamingTranscriber  # noqa: E402
from transcription.wer import error_rates  # noqa: E402

MEETING_START_S = 10.0
NICENESS = 10


@dataclass
class Result:
    label: str
    flags: list[str]
    finals: list[tuple[float, Caption]] = field(default_factory=list)  # (clock when produced, caption)
    partials: int = 0
    end_words: int = 0  # words finalised by an utterance's last decode (the rest: agreed on before)
    cpu_s: float = 0.0
    decodes: int = 0
    load: float = 0.0

    @property
    def text(self) -> str:
        return " ".join(c.text for _, c in self.finals if c.text)

    @property
    def word_delays(self) -> list[float]:
        return [at - (w.end_s - MEETING_START_S) for at, c in self.finals for w in c.words]


def simulate(result: Result, base_flags: list[str], packets: list[bytes]) -> None:
    args = captions_worker.parse_args([*base_flags, *result.flags])
    decoder = captions_worker.build_decoder(args)
    decoder.warm_up()
    transcriber = StreamingTranscriber(
        decoder, None if args.no_vad else SileroVoiceDetector(), captions_worker.streaming_options(args)
    )
    opus = captions_worker.OpusDecoder16k()
    clock = 0.0
    cpu0 = time.process_time()

    def take(captions: list[Caption], at_end: bool = False) -> None:
        for caption in captions:
            if caption.final:
                result.finals.append((clock, caption))
                result.end_words += len(caption.words) if at_end else 0
            else:
                result.partials += 1

    index = 0
    while index < len(packets) or transcriber.due():
        started = time.perf_counter()
        if index < len(packets) and index * OPUS_FRAME_S <= clock + 1e-9:
            samples = opus.decode(packets[index])
            captions = transcriber.insert_audio(samples, MEETING_START_S + index * OPUS_FRAME_S)
            index += 1
            at_end = True  # a final caption out of inserting audio: the voice detector ended the utterance
        elif transcriber.due():
            captions = transcriber.process()
            at_end = False
        else:
            clock = index * OPUS_FRAME_S  # idle until the next packet
            continue
        clock += time.perf_counter() - started
        take(captions, at_end)
    started = time.perf_counter()
    closing = transcriber.finish()
    clock += time.perf_counter() - started
    take(closing, at_end=True)
    result.cpu_s = time.process_time() - cpu0
    result.decodes = transcriber.decodes
    result.load = os.getloadavg()[0]
    opus.close()


def report(r: Result, base: Result, reference: str, duration_s: float) -> None:
    rates = error_rates([reference], [r.text])
    base_wer = error_rates([reference], [base.text]).wer
    p50, p95 = np.percentile(r.word_delays, [50, 95]) if r.word_delays else (np.nan, np.nan)
    print(
        f"== {r.label} [{' '.join(r.flags)}] (load average {r.load:.2f} at its end)\n"
        f"  WER {rates.wer:.3f} ({100 * (rates.wer - base_wer):+.1f} points vs the baseline), CER "
        f"{rates.cer:.3f}; {len(r.text.split())} words (references {rates.reference_words}); "
        f"{len(r.finals)} finals, {r.partials} partials, {r.decodes} decodes; "
        f"{r.end_words} of the words finalised at an utterance's end\n"
        f"  delay per word on the simulated clock p50 {p50:.2f} s, p95 {p95:.2f} s; CPU {r.cpu_s:.1f} s "
        f"({100 * r.cpu_s / duration_s:.0f} % of a core over the audio, "
        f"{r.cpu_s / base.cpu_s:.2f}x the baseline)",
        flush=True,
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    add_clips_argument(parser, 30)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument(
        "--pause-s",
        type=float,
        default=PAUSE_S,
        help=f"silence between clips (default {PAUSE_S}; under 0.5 s the clips run on as one long utterance)",
    )
    parser.add_argument(
        "--variant",
        action="append",
        default=[],
        help="LABEL=FLAGS: caption-process flags compared with the defaults (repeatable)",
    )
    parser.add_argument("--baseline", default="", help="flags of the baseline (default: none, the defaults)")
    parser.add_argument("--no-nice", action="store_true", help="do not lower this process's priority")
    parser.add_argument("--no-offline", action="store_true", help="skip the offline pass")
    parser.add_argument("--texts", type=Path, help="write the references and every variant's text here")
    args = parser.parse_args()
    if not args.no_nice:
        os.nice(NICENESS)
    spoken = load_speech(args.clips, args.pause_s)
    audio, duration_s, reference = spoken.audio, spoken.duration_s, spoken.reference
    model = asr_model()
    print(
        f"speech: {spoken.corpus}, {len(spoken.utterances)} clips, {args.pause_s:g} s pauses, "
        f"{duration_s:.1f} s; model {model.path}"
    )
    print(
        f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; load average before "
        f"{os.getloadavg()[0]:.2f} (2-core machine shared with other engineers); "
        f"{'not niced' if args.no_nice else f'niced +{NICENESS}'}, {args.threads} threads",
        flush=True,
    )
    packets = opus_packets(audio)
    base_flags = ["--model", str(model.path), "--threads", str(args.threads), "--no-nice"]
    results = [
        Result(
            "baseline (defaults)" + (f" {args.baseline}" if args.baseline else ""), shlex.split(args.baseline)
        )
    ]
    for spec in args.variant:
        label, _, flags = spec.partition("=")
        results.append(Result(label, shlex.split(flags)))
    for result in results:
        simulate(result, base_flags, packets)
        report(result, results[0], reference, duration_s)
    if not args.no_offline:
        offline = offline_pass(model, audio, reference, args.threads)
        offline_text, offline_wer = offline.text, offline.wer
        print(f"offline pass (30 s windows): WER {offline_wer:.3f}")
        for r in results:
            wer = error_rates([reference], [r.text]).wer
            print(
                f"  {r.label}: WER {wer:.3f}, {100 * (wer - offline_wer):+.1f} points vs the offline pass; "
                f"vs the offline text {error_rates([offline_text], [r.text]).wer:.3f}"
            )
    if args.texts:
        lines = [f"reference: {reference}", *([f"offline: {offline_text}"] if not args.no_offline else [])]
        lines += [f"{r.label}: {r.text}" for r in results]
        args.texts.write_text("\n\n".join(lines) + "\n", encoding="utf-8")
    print(f"load average after: {os.getloadavg()[0]:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
