"""Benchmark the transcription engines on real Vietnamese speech (shared/eval/vivos-spk01-dev, 30 clips).

Each case runs in its own process (so peak RSS is that engine's own): clip by clip, and the clips joined into
one long file. Prints WER, CER, RTF (transcription wall time / audio duration, model load excluded), load time
and peak RSS, then the ratios of the default engine against the named baseline, openai-whisper (beam 5).

    python -m benchmarks.asr.run                # both engines, both modes (~6 min on 2 cores)
    python -m benchmarks.asr.run --quick        # default engine only
    python -m benchmarks.asr.run --track        # also a 30-minute connection-point track, windowed vs whole

The eval corpus is CC BY-NC-SA: it is read from <repo>/../shared/eval at run time, never copied.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from transcription.audio import SAMPLE_RATE_HZ, decode_audio  # noqa: E402
from transcription.engines import DEFAULT_BATCH_SIZE, create_engine  # noqa: E402
from transcription.engines.base import DEFAULT_BEAM_SIZE  # noqa: E402
from transcription.models import DEFAULT_CACHE_DIR, discover_model  # noqa: E402
from transcription.pipeline import TrackInput, transcribe_track  # noqa: E402
from transcription.wer import error_rates  # noqa: E402
from transcription.windows import WINDOW_S  # noqa: E402

EVAL_DIR = REPO.parent / "shared" / "eval" / "vivos-spk01-dev"
BASELINE = "openai-whisper"
# (label, engine, batched) — batched None means the engine's own choice.
CASES: dict[str, tuple[str, bool | None]] = {
    "faster-whisper": ("faster-whisper", None),
    "faster-whisper-sequential": ("faster-whisper", False),
    "faster-whisper-whole-track": ("faster-whisper", None),
    "openai-whisper": ("openai-whisper", None),
}
JOIN_GAP_S = 0.3
# The "track" mode: the clips spread over a connection point's track of this length, room noise between them
# (a commune listening most of the meeting), transcribed like the server does (transcribe_track).
TRACK_S = 1800.0
ROOM_NOISE_RMS = 0.002


@dataclass(frozen=True)
class CaseResult:
    case: str
    mode: str
    audio_s: float
    transcribe_s: float
    load_s: float
    peak_rss_mb: float
    hypotheses: list[str]


def read_references(eval_dir: Path) -> list[tuple[Path, str]]:
    rows: list[tuple[Path, str]] = []
    for line in (eval_dir / "transcripts.tsv").read_text(encoding="utf-8").splitlines():
        if line.strip():
            name, text = line.split("\t", 1)
            rows.append((eval_dir / name, text.strip()))
    return rows


def joined_audio(clips: list[Path]) -> np.ndarray:
    gap = np.zeros(round(JOIN_GAP_S * SAMPLE_RATE_HZ), dtype=np.float32)
    parts: list[np.ndarray] = []
    for clip in clips:
        parts.extend([decode_audio(clip), gap])
    return np.concatenate(parts)


def write_wav(path: Path, audio: np.ndarray) -> None:
    import wave

    pcm = (np.clip(audio, -1.0, 1.0) * 32767.0).astype("<i2")
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(SAMPLE_RATE_HZ)
        out.writeframes(pcm.tobytes())


def track_audio(clips: list[Path], seed: int = 7) -> np.ndarray:
    """The clips at even intervals over TRACK_S seconds of faint room noise."""
    rng = np.random.default_rng(seed)
    audio = (ROOM_NOISE_RMS * rng.standard_normal(round(TRACK_S * SAMPLE_RATE_HZ))).astype(np.float32)
    step = audio.size // len(clips)
    for index, clip in enumerate(clips):
        samples = decode_audio(clip)
        start = index * step + (step - samples.size) // 2
        audio[start : start + samples.size] += samples
    return audio


def worker(args: argparse.Namespace) -> None:
    engine_name, batched = CASES[args.worker]
    refs = read_references(args.eval_dir)
    model = discover_model(args.model, cache_dir=args.cache_dir)
    started = time.perf_counter()
    engine = create_engine(
        engine_name,  # type: ignore[arg-type]
        model,
        threads=args.threads,
        batched=batched,
        batch_size=args.batch_size,
        # the baseline keeps openai-whisper's beam 5 whatever the default engine is measured with
        beam_size=DEFAULT_BEAM_SIZE if engine_name == BASELINE else args.beam_size,
        checkpoint_dir=args.checkpoint_dir,
    )
    load_s = time.perf_counter() - started
    hypotheses: list[str] = []
    if args.mode == "clips":
        audio_s = 0.0
        transcribe_s = 0.0
        for clip, _ in refs:
            audio_s += decode_audio(clip).size / SAMPLE_RATE_HZ
            t0 = time.perf_counter()
            segments = engine.transcribe(clip)
            transcribe_s += time.perf_counter() - t0
            hypotheses.append(" ".join(s.text for s in segments))
    elif args.mode == "track":
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / "track.wav"
            write_wav(path, track_audio([clip for clip, _ in refs]))
            audio_s = TRACK_S
            window_s = float("inf") if args.worker == "faster-whisper-whole-track" else WINDOW_S
            t0 = time.perf_counter()
            placed = transcribe_track(0, TrackInput(path, 0.0, "X", "X", "X"), engine, window_s=window_s)
            transcribe_s = time.perf_counter() - t0
        hypotheses.append(" ".join(s.text for s in placed))
    else:
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / "joined.wav"
            write_wav(path, joined_audio([clip for clip, _ in refs]))
            audio_s = decode_audio(path).size / SAMPLE_RATE_HZ
            t0 = time.perf_counter()
            segments = engine.transcribe(path)
            transcribe_s = time.perf_counter() - t0
        hypotheses.append(" ".join(s.text for s in segments))
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    result = CaseResult(args.worker, args.mode, audio_s, transcribe_s, load_s, peak_mb, hypotheses)
    print(json.dumps(asdict(result), ensure_ascii=False))


def run_case(args: argparse.Namespace, case: str, mode: str) -> CaseResult:
    command = [
        sys.executable,
        "-m",
        "benchmarks.asr.run",
        "--worker",
        case,
        "--mode",
        mode,
        "--threads",
        str(args.threads),
        "--eval-dir",
        str(args.eval_dir),
        "--cache-dir",
        str(args.cache_dir),
        "--checkpoint-dir",
        str(args.checkpoint_dir),
        "--batch-size",
        str(args.batch_size),
        "--beam-size",
        str(args.beam_size),
    ]
    if args.model:
        command += ["--model", str(args.model)]
    done = subprocess.run(command, cwd=REPO, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"{case}/{mode} failed:\n{done.stderr[-4000:]}")
    return CaseResult(**json.loads(done.stdout.strip().splitlines()[-1]))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--eval-dir", type=Path, default=EVAL_DIR)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--model", type=Path, default=None, help="explicit model path (GIAOBAN_ASR_MODEL)")
    parser.add_argument("--cache-dir", type=Path, default=DEFAULT_CACHE_DIR.expanduser())
    parser.add_argument("--checkpoint-dir", type=Path, default=DEFAULT_CACHE_DIR.expanduser().parent)
    parser.add_argument("--quick", action="store_true", help="the default engine only")
    parser.add_argument(
        "--batch-size", type=int, default=DEFAULT_BATCH_SIZE, help="faster-whisper batched inference"
    )
    parser.add_argument(
        "--beam-size", type=int, default=DEFAULT_BEAM_SIZE, help="faster-whisper beam (the baseline keeps 5)"
    )
    parser.add_argument("--worker", choices=sorted(CASES), help=argparse.SUPPRESS)
    parser.add_argument("--track", action="store_true", help=f"add the {TRACK_S / 60:.0f}-minute track cases")
    parser.add_argument(
        "--mode", choices=("clips", "joined", "track"), default="clips", help=argparse.SUPPRESS
    )
    args = parser.parse_args(argv)
    if args.worker:
        worker(args)
        return
    refs = read_references(args.eval_dir)
    texts = [text for _, text in refs]
    plan = [
        ("faster-whisper", "clips"),
        ("faster-whisper", "joined"),
        ("faster-whisper-sequential", "joined"),
    ]
    if not args.quick:
        plan += [("openai-whisper", "clips"), ("openai-whisper", "joined")]
    if args.track:
        plan += [("faster-whisper", "track"), ("faster-whisper-whole-track", "track")]
    print(
        f"eval: {args.eval_dir} ({len(refs)} clips), threads={args.threads}, batch size={args.batch_size}, "
        f"beam={args.beam_size}, baseline={BASELINE} (beam {DEFAULT_BEAM_SIZE})"
    )
    header = f"{'case':<34}{'mode':<8}{'WER %':>7}{'CER %':>7}{'RTF':>8}{'audio s':>9}{'asr s':>8}"
    print(header + f"{'load s':>8}{'peak RSS MB':>13}")
    results: dict[tuple[str, str], tuple[CaseResult, float, float]] = {}
    for case, mode in plan:
        result = run_case(args, case, mode)
        refs_for_mode = texts if mode == "clips" else [" ".join(texts)]
        if mode == "track":
            result = CaseResult(**{**asdict(result), "case": f"{case} ({TRACK_S / 60:.0f} min)"})
        rates = error_rates(refs_for_mode, result.hypotheses)
        rtf = result.transcribe_s / result.audio_s
        results[(case, mode)] = (result, rates.wer, rtf)
        print(
            f"{result.case:<34}{mode:<8}{100 * rates.wer:>7.1f}{100 * rates.cer:>7.1f}{rtf:>8.3f}"
            f"{result.audio_s:>9.1f}{result.transcribe_s:>8.1f}{result.load_s:>8.1f}{result.peak_rss_mb:>13.0f}",
            flush=True,
        )
    for mode in ("clips", "joined"):
        default = results.get(("faster-whisper", mode))
        base = results.get((BASELINE, mode))
        if default and base:
            print(
                f"{mode}: faster-whisper is {base[2] / default[2]:.1f}x faster than {BASELINE} "
                f"(RTF {default[2]:.3f} vs {base[2]:.3f}); "
                f"WER {100 * default[1]:.1f} % vs {100 * base[1]:.1f} %; "
                f"peak RSS {default[0].peak_rss_mb:.0f} vs {base[0].peak_rss_mb:.0f} MB"
            )
    seq, bat = results.get(("faster-whisper-sequential", "joined")), results.get(("faster-whisper", "joined"))
    if seq and bat:
        print(f"joined: batched is {seq[2] / bat[2]:.2f}x faster than sequential faster-whisper")
    windowed = results.get(("faster-whisper", "track"))
    whole = results.get(("faster-whisper-whole-track", "track"))
    if windowed and whole:
        print(
            f"track: windows of {WINDOW_S:.0f} s peak at {windowed[0].peak_rss_mb:.0f} MB against "
            f"{whole[0].peak_rss_mb:.0f} MB for the whole track at once "
            f"(RTF {windowed[2]:.3f} vs {whole[2]:.3f})"
        )


if __name__ == "__main__":
    main()
