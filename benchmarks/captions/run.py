"""Benchmark live captions: dev-set speech fed at real time to the caption process, against the offline pass.

The speech: the VIVOS dev clips (<repo>/../shared/eval/vivos-spk01-dev, CC BY-NC-SA, read at run time, never
copied) when present, else the espeak-ng giao ban sentences of tests/speech.py (speech for behaviour, not
accuracy: Whisper base reads that voice at WER ~0.9). The output says which. The clips are joined with a
0.8 s pause, encoded to 20 ms Opus packets (what the media process forwards) and written to
``python -m transcription.captions_worker`` at real time. Measured:

- final-caption delay: for every word of a final caption, the time its caption was read minus the time the
  word's end (its timestamp on the meeting clock) was sent; p50 / p95 over words, and the target 3 s;
- caption WER against the references, and that of the offline pass (the default engine on the same audio,
  in this process after the caption process has exited: the baseline), their difference, and the WER of the
  captions against the offline transcript;
- the caption process's CPU (share of one core over the audio's duration) and RSS (peak, and sampled).

Several settings of the caption process run one after the other on the same audio, in one run: the encoder
window (``--windows 30,15,10``: the first is the baseline the others are compared with; 30 is Whisper's own
window) and, with ``--cold``, the last window again without the warm-up decode (the first caption's delay
then pays the model's first-call cost). The offline pass runs once, after them.

    python -m benchmarks.captions.run              # 15 VIVOS clips (~60 s of audio), the process niced
    python -m benchmarks.captions.run --clips 30 --no-nice --windows 30,10 --cold
    python -m benchmarks.captions.run --windows 10 --no-clips --variant "final ctx 10=--final-context-s 10"
"""

from __future__ import annotations

import argparse
import os
import shlex
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from benchmarks.captions.common import add_clips_argument, asr_model, load_speech, offline_pass  # noqa: E402
from transcription.audio import SAMPLE_RATE_HZ, decode_audio  # noqa: E402
from transcription.captions_client import CaptionProcess, feed_realtime, opus_packets  # noqa: E402
from transcription.wer import error_rates  # noqa: E402

MEETING_START_S = 10.0
TARGET_DELAY_S = 3.0
TARGET_WER_POINTS = 5.0
TARGET_RSS_MB = 700.0


def rss_sampler(pid: int, samples: list[float], stop: threading.Event) -> None:
    while not stop.wait(0.25):
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    samples.append(int(line.split()[1]) / 1024.0)
        except OSError:
            return


@dataclass
class Variant:
    label: str
    flags: list[str]
    load_before: float = 0.0
    load_after: float = 0.0
    stats: dict[str, Any] = field(default_factory=dict)
    ready: dict[str, Any] = field(default_factory=dict)
    text: str = ""
    finals: int = 0
    partials: int = 0
    word_delays: list[float] = field(default_factory=list)
    caption_delays: list[float] = field(default_factory=list)
    first_delay_s: float = float("nan")  # the first caption (partial or final) after its last word's end
    first_final_delay_s: float = float("nan")
    tail_s: float = float("nan")
    rss: list[float] = field(default_factory=list)


def run_variant(variant: Variant, base_flags: list[str], audio: np.ndarray) -> None:
    """Feed ``audio`` at real time to a caption process started with ``base_flags + variant.flags``."""
    variant.load_before = os.getloadavg()[0]
    process = CaptionProcess([*base_flags, *variant.flags])
    stop = threading.Event()
    try:
        variant.ready = process.wait_ready().data
        sampler = threading.Thread(target=rss_sampler, args=(process.pid, variant.rss, stop), daemon=True)
        sampler.start()
        t0 = feed_realtime(process, "BENCH", opus_packets(audio), start_s=MEETING_START_S)
        sent_s = time.monotonic()
        closed = process.close(timeout_s=600)
    finally:
        stop.set()
        process.kill()
    variant.load_after = os.getloadavg()[0]
    finals = process.captions(final=True)
    every = process.captions()
    variant.stats = closed.data
    variant.finals, variant.partials = len(finals), len(every) - len(finals)
    variant.word_delays = [e.received_s - (t0 + w[1]) for e in finals for w in e.data["words"]]
    variant.caption_delays = [e.received_s - (t0 + e.data["end"]) for e in finals]
    if every:
        variant.first_delay_s = every[0].received_s - (t0 + every[0].data["end"])
    if finals:
        variant.first_final_delay_s = variant.caption_delays[0]
        variant.tail_s = finals[-1].received_s - sent_s
    variant.text = " ".join(e.data["text"] for e in finals)


def parse_window(spec: str) -> tuple[float, float]:
    """``10`` (at least 10 s) or ``10+5`` (at least 10 s, and 5 s more than the speech)."""
    floor, _, margin = spec.partition("+")
    return float(floor), float(margin or 0)


def variants(
    windows: list[str],
    cold: bool,
    min_chunks: Sequence[str] = (),
    contexts: Sequence[str] = (),
    flagged: Sequence[str] = (),
) -> list[Variant]:
    out = []
    for spec in windows:
        floor_s, margin_s = parse_window(spec)
        flags = ["--window-s", f"{floor_s:g}", "--window-margin-s", f"{margin_s:g}"]
        out.append(Variant(f"window {spec} s", flags))
    last = out[-1]
    for chunk in min_chunks:
        out.append(Variant(f"{last.label}, decoded every {chunk} s", [*last.flags, "--min-chunk-s", chunk]))
    for context in contexts:
        out.append(
            Variant(f"{last.label}, {context} s of audio context", [*last.flags, "--context-s", context])
        )
    for spec in flagged:
        label, _, flags = spec.partition("=")
        out.append(Variant(f"{last.label}, {label}", [*last.flags, *shlex.split(flags)]))
    if cold:
        out.append(Variant(f"{last.label}, no warm-up", [*last.flags, "--no-warm-up"]))
    return out


def report(
    v: Variant, base: Variant, reference: str, offline_text: str, offline_wer: float, duration_s: float
):
    live = error_rates([reference], [v.text])
    between = error_rates([offline_text], [v.text])
    p50, p95 = np.percentile(v.word_delays, [50, 95]) if v.word_delays else (float("nan"), float("nan"))
    b50, b95 = np.percentile(base.word_delays, [50, 95]) if base.word_delays else (float("nan"), float("nan"))
    base_wer = error_rates([reference], [base.text]).wer
    stats = v.stats
    cpu_share = stats["cpu_s"] / duration_s
    lines = [
        f"== {v.label} ({v.ready.get('window')}); "
        f"load average {v.load_before:.2f} before, {v.load_after:.2f} after",
        f"  {stats['decodes']} decodes of {stats['decoded_audio_s']:.1f} s of audio (longest buffer "
        f"{stats['max_buffer_s']:.1f} s); warm-up {v.ready.get('warm_up_s', 0):.2f} s; "
        f"captions: {v.finals} final, "
        f"{v.partials} partial; last final {v.tail_s:.1f} s after the audio ended",
        f"  final-caption delay per word: p50 {p50:.2f} s, p95 {p95:.2f} s "
        f"(target p95 <= {TARGET_DELAY_S} s); per caption p50 {np.median(v.caption_delays):.2f} s, "
        f"max {max(v.caption_delays, default=np.nan):.2f} s; "
        f"first caption {v.first_delay_s:.2f} s, first final {v.first_final_delay_s:.2f} s",
        f"  WER vs references: captions {live.wer:.3f}, offline pass {offline_wer:.3f} "
        f"(difference {100 * (live.wer - offline_wer):+.1f} points, target <= +{TARGET_WER_POINTS:.0f}); "
        f"CER {live.cer:.3f}; captions vs the offline transcript: WER {between.wer:.3f}",
        f"  CPU {stats['cpu_s']:.1f} s = {100 * cpu_share:.0f} % of one core over the audio "
        "(model load and warm-up included); "
        f"RSS peak {stats['max_rss_mb']:.0f} MB, sampled max {max(v.rss, default=0):.0f} MB "
        f"(target <= {TARGET_RSS_MB:.0f} MB)",
        f"  vs {base.label}: delay p50 {p50 / b50:.2f}x, p95 {p95 / b95:.2f}x; CPU "
        f"{stats['cpu_s'] / base.stats['cpu_s']:.2f}x; WER {100 * (live.wer - base_wer):+.1f} points; "
        f"delay p95/target {p95 / TARGET_DELAY_S:.2f}x; "
        f"RSS/target {stats['max_rss_mb'] / TARGET_RSS_MB:.2f}x",
    ]
    print("\n".join(lines), flush=True)


def clip_wers(
    model: Any, windows: list[str], utterances: Any, reference: str, threads: int, join: int
) -> None:
    """Each clip (``join`` > 1: each run of ``join`` clips, joined) decoded whole, once, by the streaming
    decoder at temperature 0 (deterministic) with each window, in this process: the window's effect on
    accuracy without the streaming policy's timing."""
    from transcription.engines import fasterwhisper_window
    from transcription.engines.fasterwhisper import FasterWhisperOptions
    from transcription.engines.fasterwhisper_window import EncoderWindow
    from transcription.streaming import WhisperStreamingDecoder

    fasterwhisper_window.install()
    decoder = WhisperStreamingDecoder(
        model, FasterWhisperOptions(threads=threads, batched=False, vad_filter=False)
    )
    single = [decode_audio(u.path) for u in utterances]
    clips = [np.concatenate(single[i : i + join]) for i in range(0, len(single), join)]
    decoder.warm_up()
    base_wer = float("nan")
    for spec in windows:
        floor_s, margin_s = parse_window(spec)
        window = EncoderWindow(floor_s, margin_s=margin_s)
        decoder.window = None if window.full else window
        started = time.process_time()
        text = " ".join(" ".join(w.text for w in decoder.decode(c, prompt="").words) for c in clips)
        cpu_s = time.process_time() - started
        wer = error_rates([reference], [text]).wer
        base_wer = wer if np.isnan(base_wer) else base_wer
        print(
            f"{len(clips)} pieces of ~{np.mean([c.size for c in clips]) / SAMPLE_RATE_HZ:.1f} s "
            "decoded whole, "
            f"window {spec} s: WER {wer:.3f} "
            f"({100 * (wer - base_wer):+.1f} points vs the first), "
            f"CPU {cpu_s:.1f} s ({cpu_s / len(clips):.2f} s per clip); "
            f"load average {os.getloadavg()[0]:.2f}",
            flush=True,
        )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    add_clips_argument(parser, 15)
    parser.add_argument("--no-nice", action="store_true", help="run the caption process un-niced")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument(
        "--windows",
        default="30,15,10",
        help="encoder windows (s; 10+5: at least 10, and 5 more than the speech) to compare, the first the "
        "baseline (30,15,10)",
    )
    parser.add_argument(
        "--min-chunks", default="", help="also the last window re-decoded every N s of speech (e.g. 0.5)"
    )
    parser.add_argument(
        "--contexts", default="", help="also the last window with N s of earlier audio as context (e.g. 5,10)"
    )
    parser.add_argument(
        "--variant",
        action="append",
        default=[],
        help="LABEL=FLAGS: also the last window with these caption-process flags (repeatable)",
    )
    parser.add_argument("--cold", action="store_true", help="also the last window without the warm-up decode")
    parser.add_argument("--no-clips", action="store_true", help="skip decoding each clip whole per window")
    parser.add_argument("--clips-only", action="store_true", help="only decode the clips whole per window")
    args = parser.parse_args()

    spoken = load_speech(args.clips)
    audio, duration_s, reference = spoken.audio, spoken.duration_s, spoken.reference
    model = asr_model()
    print(f"speech: {spoken.corpus}, {len(spoken.utterances)} clips, {duration_s:.1f} s; model {model.path}")
    print(
        f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; "
        f"load average before: {os.getloadavg()[0]:.2f} "
        "(2-core machine shared with others)",
        flush=True,
    )

    base_flags = ["--model", str(model.path), "--threads", str(args.threads)]
    base_flags += ["--no-nice"] if args.no_nice else []
    print(
        f"caption process: {'not niced' if args.no_nice else 'niced +10'}, {args.threads} threads", flush=True
    )
    windows = args.windows.split(",")
    min_chunks = args.min_chunks.split(",") if args.min_chunks else []
    contexts = args.contexts.split(",") if args.contexts else []
    runs = [] if args.clips_only else variants(windows, args.cold, min_chunks, contexts, args.variant)
    for variant in runs:
        run_variant(variant, base_flags, audio)
        print(f"ran {variant.label}: {variant.finals} final captions", flush=True)

    if not args.no_clips:
        for join in (1, 3):
            clip_wers(model, windows, spoken.utterances, reference, args.threads, join)
    offline = offline_pass(model, audio, reference, args.threads)
    print(
        f"offline pass (30 s window): WER {offline.wer:.3f}, "
        f"{offline.wall_s:.1f} s wall (RTF {offline.wall_s / duration_s:.3f})"
    )
    for variant in runs:
        report(variant, runs[0], reference, offline.text, offline.wer, duration_s)
    print(f"load average after: {os.getloadavg()[0]:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
