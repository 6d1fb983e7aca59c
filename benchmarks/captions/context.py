"""Which neighbouring speech makes a caption's words more accurate: the clip before, the clip after, both?

Each dev-set clip (VIVOS, else the espeak sentences) is decoded by the caption process's own decoder (its
argument parser and defaults, the utterance's last decode: temperature fallback), once per mode, and only
the words whose middle lies inside the clip are kept:

- ``alone``: the clip with 0.3 s of silence before it and 0.5 s after (what the caption process decodes
  when the voice detector ends the utterance): the baseline;
- ``left``: the clip before it, 0.8 s of silence, then the clip (what audio context, ``--context-s``, gives);
- ``right``: the clip, 0.8 s of silence, then the clip after it (what only waiting for the next sentence
  could give);
- ``both``: the clips before and after (close to the offline pass, which decodes up to 30 s at once).

Printed per mode: WER and CER against the references, the difference with ``alone`` in the same run, and the
CPU seconds. Then the offline pass of all the clips joined (0.8 s pauses), as the caption benchmarks do.

    python -m benchmarks.captions.context [--clips 30] [--modes alone,left,right,both] [-- FLAGS...]

FLAGS after ``--`` go to the caption process's parser (e.g. ``-- --keep-doubtful``).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from benchmarks.captions.common import PAUSE_S, add_clips_argument, asr_model, load_speech, offline_pass  # noqa: E402
from transcription import captions_worker  # noqa: E402
from transcription.audio import SAMPLE_RATE_HZ, decode_audio  # noqa: E402
from transcription.wer import error_rates  # noqa: E402

LEAD_S = 0.3  # the caption process keeps this much before speech (StreamingOptions.pre_speech_s)
TAIL_S = 0.5  # and decodes this much silence after it (StreamingOptions.silence_flush_s)
EDGE_S = 0.15  # a word belongs to the clip when its middle is inside it, give or take this
MODES = ("alone", "left", "right", "both")


def silence(seconds: float) -> np.ndarray:
    return np.zeros(round(seconds * SAMPLE_RATE_HZ), dtype=np.float32)


def decode_mode(
    decoder: captions_worker.WhisperStreamingDecoder, clips: list[np.ndarray], mode: str
) -> list[str]:
    """Each clip's words as the decoder hears them in ``mode``."""
    texts = []
    for k, clip in enumerate(clips):
        before = mode in ("left", "both") and k > 0
        after = mode in ("right", "both") and k + 1 < len(clips)
        parts = [clips[k - 1], silence(PAUSE_S)] if before else [silence(LEAD_S)]
        start_s = sum(p.size for p in parts) / SAMPLE_RATE_HZ
        parts.append(clip)
        end_s = start_s + clip.size / SAMPLE_RATE_HZ
        parts += [silence(PAUSE_S), clips[k + 1]] if after else [silence(TAIL_S)]
        hypothesis = decoder.decode(np.concatenate(parts), prompt="", final=True)
        inside = [
            w.text
            for w in hypothesis.words
            if start_s - EDGE_S <= (w.start_s + w.end_s) / 2 <= end_s + EDGE_S
        ]
        texts.append(" ".join(inside))
    return texts


def main() -> int:
    argv = sys.argv[1:]
    flags = argv[argv.index("--") + 1 :] if "--" in argv else []
    argv = argv[: argv.index("--")] if "--" in argv else argv
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    add_clips_argument(parser, 30)
    parser.add_argument("--modes", default=",".join(MODES), help=f"comma-separated, of {', '.join(MODES)}")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args(argv)
    modes = [m for m in args.modes.split(",") if m]
    if unknown := [m for m in modes if m not in MODES]:
        parser.error(f"unknown modes {unknown}")
    if "alone" not in modes:
        modes.insert(0, "alone")
    spoken = load_speech(args.clips)
    model = asr_model()
    clips = [decode_audio(u.path) for u in spoken.utterances]
    references = [u.text for u in spoken.utterances]
    decoder = captions_worker.build_decoder(
        captions_worker.parse_args(
            ["--model", str(model.path), "--threads", str(args.threads), "--no-nice", *flags]
        )
    )
    decoder.warm_up()
    print(
        f"speech: {spoken.corpus}, {len(clips)} clips; model {model.path}; flags {flags or 'none'}; "
        f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, load average {os.getloadavg()[0]:.2f}",
        flush=True,
    )
    baseline = None
    for mode in modes:
        cpu0 = time.process_time()
        texts = decode_mode(decoder, clips, mode)
        cpu_s = time.process_time() - cpu0
        rates = error_rates([" ".join(references)], [" ".join(texts)])
        baseline = rates.wer if baseline is None else baseline
        print(
            f"{mode:>6}: WER {rates.wer:.3f} ({100 * (rates.wer - baseline):+.1f} points vs alone), "
            f"CER {rates.cer:.3f}; CPU {cpu_s:.1f} s",
            flush=True,
        )
    offline = offline_pass(model, spoken.audio, spoken.reference, args.threads)
    print(f"offline pass of the clips joined (30 s windows): WER {offline.wer:.3f}")
    print(f"load average after: {os.getloadavg()[0]:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
