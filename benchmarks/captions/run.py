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

    python -m benchmarks.captions.run              # 15 VIVOS clips (~60 s of audio), the process niced
    python -m benchmarks.captions.run --clips 30 --no-nice
"""

from __future__ import annotations

import argparse
import os
import sys
import threading
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from tests import speech  # noqa: E402
from transcription.audio import SAMPLE_RATE_HZ, decode_audio  # noqa: E402
from transcription.captions_client import CaptionProcess, feed_realtime, opus_packets  # noqa: E402
from transcription.engines import create_engine  # noqa: E402
from transcription.models import DEFAULT_CACHE_DIR, discover_model  # noqa: E402
from transcription.wer import error_rates  # noqa: E402

PAUSE_S = 0.8
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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--clips", type=int, default=15, help="how many clips / sentences (default 15)")
    parser.add_argument("--no-nice", action="store_true", help="run the caption process un-niced")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()

    if speech.vivos_present():
        corpus, utterances = "VIVOS spk01 dev (real speech)", speech.vivos()[: args.clips]
    else:
        corpus = "espeak-ng Vietnamese (synthesised; VIVOS not found)"
        utterances = speech.shippable()[: args.clips]
    pause = np.zeros(round(PAUSE_S * SAMPLE_RATE_HZ), dtype=np.float32)
    audio = np.concatenate([part for u in utterances for part in (decode_audio(u.path), pause)])
    duration_s = audio.size / SAMPLE_RATE_HZ
    reference = " ".join(u.text for u in utterances)
    setting = os.environ.get("GIAOBAN_ASR_MODEL") or None
    model = discover_model(setting, cache_dir=DEFAULT_CACHE_DIR.expanduser())
    print(f"speech: {corpus}, {len(utterances)} clips, {duration_s:.1f} s; model {model.path}")
    print(f"load average before: {os.getloadavg()[0]:.2f} (2-core machine shared with others)")

    flags = ["--model", str(model.path), "--threads", str(args.threads)]
    flags += ["--no-nice"] if args.no_nice else []
    process = CaptionProcess(flags)
    rss: list[float] = []
    stop = threading.Event()
    try:
        process.wait_ready()
        sampler = threading.Thread(target=rss_sampler, args=(process.pid, rss, stop), daemon=True)
        sampler.start()
        t0 = feed_realtime(process, "BENCH", opus_packets(audio), start_s=MEETING_START_S)
        sent_s = time.monotonic()
        closed = process.close(timeout_s=600)
    finally:
        stop.set()
        process.kill()
    load_after = os.getloadavg()[0]
    finals = process.captions(final=True)
    partials = process.captions(final=False)
    word_delays = [e.received_s - (t0 + w[1]) for e in finals for w in e.data["words"]]
    caption_delays = [e.received_s - (t0 + e.data["end"]) for e in finals]
    tail_s = (finals[-1].received_s - sent_s) if finals else float("nan")
    captions_text = " ".join(e.data["text"] for e in finals)

    engine = create_engine("faster-whisper", model, threads=args.threads)
    started = time.monotonic()
    offline_text = " ".join(s.text for s in engine.transcribe(audio))
    offline_s = time.monotonic() - started

    live = error_rates([reference], [captions_text])
    offline = error_rates([reference], [offline_text])
    between = error_rates([offline_text], [captions_text])
    p50, p95 = np.percentile(word_delays, [50, 95]) if word_delays else (float("nan"), float("nan"))
    cpu_share = closed.data["cpu_s"] / duration_s
    stats = closed.data
    wer_ratio = live.wer / offline.wer if offline.wer else float("nan")
    lines = [
        f"caption process: {'not niced' if args.no_nice else 'niced +10'}, {args.threads} threads, "
        f"{stats['decodes']} decodes of {stats['decoded_audio_s']:.1f} s of audio "
        f"(longest buffer {stats['max_buffer_s']:.1f} s)",
        f"captions: {len(finals)} final, {len(partials)} partial; "
        f"last final {tail_s:.1f} s after the audio ended",
        f"final-caption delay per word: p50 {p50:.2f} s, p95 {p95:.2f} s (target p95 <= {TARGET_DELAY_S} s); "
        f"per caption p50 {np.median(caption_delays):.2f} s, max {max(caption_delays):.2f} s",
        f"WER vs references: captions {live.wer:.3f}, offline pass {offline.wer:.3f} "
        f"(difference {100 * (live.wer - offline.wer):+.1f} points, target <= +{TARGET_WER_POINTS:.0f}); "
        f"CER {live.cer:.3f} vs {offline.cer:.3f}",
        f"captions vs the offline transcript: WER {between.wer:.3f}",
        f"caption process CPU {stats['cpu_s']:.1f} s = {100 * cpu_share:.0f} % of one core over the audio "
        f"(model load included); offline pass {offline_s:.1f} s wall (RTF {offline_s / duration_s:.3f})",
        f"caption process RSS: peak {stats['max_rss_mb']:.0f} MB, sampled max {max(rss, default=0):.0f} MB "
        f"(target <= {TARGET_RSS_MB:.0f} MB)",
        f"ratios: caption/offline WER {wer_ratio:.2f}x; delay p95/target {p95 / TARGET_DELAY_S:.2f}x; "
        f"RSS/target {stats['max_rss_mb'] / TARGET_RSS_MB:.2f}x; "
        f"caption CPU / offline wall {stats['cpu_s'] / offline_s:.1f}x",
    ]
    print("\n".join(lines))
    print(f"load average after: {load_after:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
