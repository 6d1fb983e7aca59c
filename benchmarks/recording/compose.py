"""Composition of a meeting's video: speed (x real time), CPU, peak memory and MP4 size per hour, each case of
``CASES`` (encoder settings) against the first, the baseline, in the same run: the setting used until
2026-12-05 (x264 ``veryfast``, frames outside a track's shots dropped before scaling), every frame of every
shown track scaled (``drop_hidden=False``), a faster x264 preset, a faster scaler. Each case's picture is
compared with the baseline's (SSIM over its first minute): what a faster setting trades.

    python benchmarks/recording/compose.py [--minutes 10] [--points 10] [--threads 2] [--cases a,b]

The meeting: ``--points`` connection points (the first is the chairing unit's hall), each with a camera track
(640x360 at 30 fps, ~500 kb/s VP8 from libvpx, a key frame every 3 s, the same 20 s clip looped: what the
recorder keeps as received) and an audio track (Opus) in which the points take turns of 30-120 s (the hall a
fifth of the time) with silence between: so the speaker view changes every minute or so and every camera is
shown at some point. The composer runs as the worker runs it (``python -m recordings.compose``, a child
process, FFmpeg ``-threads``), each case alone; its CPU time and peak RSS (the largest process of its tree)
come from wait4. On a machine shared with other work the wall-clock speed is lower than the CPU figures
allow: both are printed, and the speed the CPU time gives on ``--threads`` whole cores.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import av
import numpy as np

from recordings.ivf import IvfWriter
from recordings.manifest import ManifestLog, MeetingEnded, MeetingStarted, TrackClosed, TrackOpened
from recordings.mixing import mix_meeting
from recordings.oggopus import OggOpusWriter

REPO = Path(__file__).resolve().parents[2]
CLIP_S = 20
FPS = 30
RATE = 48_000
PACKET = 960


def vp8_clip(folder: Path) -> list[tuple[bytes, int]]:
    """A 20 s VP8 clip (frames, pts at 90 kHz) of a moving pattern, 640x360@30, ~500 kb/s."""
    clip = folder / "clip.ivf"
    subprocess.run(
        ["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", f"testsrc2=s=640x360:r={FPS}", "-t", str(CLIP_S),
         "-c:v", "libvpx", "-deadline", "realtime", "-cpu-used", "8", "-b:v", "500k", "-g", str(FPS * 3),
         "-f", "ivf", str(clip)],
        check=True,
    )  # fmt: skip
    data = clip.read_bytes()
    header_len = struct.unpack_from("<H", data, 6)[0]
    rate, scale = struct.unpack_from("<II", data, 16)
    frames, pos = [], header_len
    while pos + 12 <= len(data):
        size, pts = struct.unpack_from("<IQ", data, pos)
        frames.append((data[pos + 12 : pos + 12 + size], pts * 90_000 * scale // rate))
        pos += 12 + size
    return frames


def opus_second(voice: bool, seed: int) -> list[bytes]:
    """One second of Opus packets: a voice-like tone with noise, or silence."""
    rng = np.random.default_rng(seed)
    t = np.arange(RATE) / RATE
    pcm = np.zeros(RATE, dtype=np.float32)
    if voice:
        envelope = 0.5 + 0.5 * np.sin(2 * np.pi * 3 * t)
        tone = 0.2 * envelope * np.sin(2 * np.pi * 180 * t)
        pcm = (tone + 0.02 * rng.standard_normal(RATE)).astype(np.float32)
    codec = av.CodecContext.create("libopus", "w")
    codec.sample_rate, codec.layout, codec.format = RATE, "mono", "flt"
    out: list[bytes] = []
    for index in range(RATE // PACKET):
        chunk = pcm[index * PACKET : (index + 1) * PACKET].reshape(1, -1)
        frame = av.AudioFrame.from_ndarray(chunk, format="flt", layout="mono")
        frame.sample_rate, frame.pts = RATE, index * PACKET
        out.extend(bytes(p) for p in codec.encode(frame))
    return out[: RATE // PACKET]


def turns(points: int, seconds: int, seed: int = 7) -> list[int]:
    """Who speaks each second (-1: nobody): turns of 30-120 s with pauses, the hall a fifth of the time."""
    rng = random.Random(seed)
    who = [-1] * seconds
    t = 5
    while t < seconds:
        speaker = 0 if rng.random() < 0.2 else rng.randrange(1, points)
        length = rng.randint(30, 120)
        for s in range(t, min(seconds, t + length)):
            who[s] = speaker
        t += length + rng.randint(1, 4)
    return who


def build_meeting(folder: Path, minutes: float, points: int) -> float:
    """The recording folder of a synthetic meeting; returns its length in seconds."""
    (folder / "tracks").mkdir(parents=True)
    seconds = int(minutes * 60)
    clip = vp8_clip(folder.parent)
    voice, silence = opus_second(True, 1), opus_second(False, 2)
    schedule = turns(points, seconds)
    log = ManifestLog(folder / "manifest.jsonl", fsync=False)
    log.append(MeetingStarted("bench", "2026-12-05T08:00:00+00:00"))
    closes = []
    for p in range(points):
        unit = "HALL" if p == 0 else f"P{p:02d}"
        start = float(p)  # the points join a second apart
        for kind, suffix in (("audio", "ogg"), ("camera", "ivf")):
            track = f"t{p:02d}-{kind}"
            channels = 1 if kind == "audio" else 0
            path = f"tracks/{track}.{suffix}"
            opened = TrackOpened(track, path, f"u{p}", unit, unit, unit, unit, start, 0, None, channels, kind)
            log.append(opened)
        camera = IvfWriter(folder / f"tracks/t{p:02d}-camera.ivf", fsync_interval_s=None)
        loops = int((seconds - start) // CLIP_S) + 1
        for loop in range(loops):
            for frame, pts in clip:
                at = loop * CLIP_S * 90_000 + pts
                if at >= (seconds - start) * 90_000:
                    break
                camera.write_frame(frame, at)
        stats = camera.close()
        closes.append(TrackClosed(f"t{p:02d}-camera", float(seconds), stats.sha256, stats.bytes_written))
        audio = OggOpusWriter(folder / f"tracks/t{p:02d}-audio.ogg", channels=1, fsync_interval_s=None)
        for second in range(int(seconds - start)):
            packets = voice if schedule[int(start) + second] == p else silence
            for index, packet in enumerate(packets):
                audio.write(packet, (second * (RATE // PACKET) + index) * PACKET)
        audio_stats = audio.close()
        closes.append(
            TrackClosed(f"t{p:02d}-audio", float(seconds), audio_stats.sha256, audio_stats.bytes_written)
        )
    for event in closes:
        log.append(event)
    log.append(MeetingEnded(float(seconds), "2026-12-05T09:00:00+00:00"))
    log.close()
    mix_meeting(folder)
    return float(seconds)


CASES: dict[str, dict[str, object]] = {  # EncodeOptions fields; the first is the baseline of the ratios
    "veryfast": {"preset": "veryfast", "drop_hidden": True},  # the setting before 2026-12-05
    "all-frames": {"preset": "veryfast", "drop_hidden": False},  # every frame of a shown track scaled
    "superfast": {"preset": "superfast", "drop_hidden": True},
    "fast-scale": {"preset": "veryfast", "scale_flags": "fast_bilinear", "drop_hidden": True},
    "superfast+fast-scale": {"preset": "superfast", "scale_flags": "fast_bilinear", "drop_hidden": True},
    "superfast-crf29": {"preset": "superfast", "crf": 29, "drop_hidden": True},  # superfast's bytes cut back
    "veryfast-again": {"preset": "veryfast", "drop_hidden": True},  # the baseline once more: the drift of a
    # shared machine's load between the first case and the last
}
SSIM_S = 60  # the stretch of each case's picture compared (SSIM) with the first case's


def run_case(folder: Path, name: str, options: dict[str, object], threads: int) -> dict[str, float]:
    request = {
        "meeting_dir": str(folder), "mode": "full", "title": "Giao ban", "hall_unit_code": "HALL",
        "options": {"threads": threads, **options},
    }  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    started = time.monotonic()
    proc = subprocess.Popen([sys.executable, "-m", "recordings.compose"], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True, env=env)  # fmt: skip
    assert proc.stdin is not None and proc.stdout is not None
    proc.stdin.write(json.dumps(request))
    proc.stdin.close()
    lines = proc.stdout.read().splitlines()
    _pid, status, usage = os.wait4(proc.pid, 0)
    wall = time.monotonic() - started
    proc.returncode = os.waitstatus_to_exitcode(status)
    result = json.loads(lines[-1])
    if "result" not in result:
        raise SystemExit(f"composition failed: {result}")
    video = folder / "video.mp4"
    size = video.stat().st_size
    video.rename(folder / f"video-{name}.mp4")
    return {
        "wall_s": wall,
        "cpu_s": usage.ru_utime + usage.ru_stime,
        "peak_mb": usage.ru_maxrss / 1024,
        "bytes": size,
        "shots": result["result"]["shots"],
    }


def ssim(reference: Path, other: Path, seconds: int) -> float:
    """Mean SSIM (luma and chroma, FFmpeg's ``ssim`` filter) of ``other`` against ``reference``."""
    run = subprocess.run(
        ["ffmpeg", "-hide_banner", "-nostdin", "-t", str(seconds), "-i", str(other), "-t", str(seconds),
         "-i", str(reference), "-lavfi", "[0:v][1:v]ssim", "-f", "null", "-"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    line = next(x for x in run.stderr.splitlines()[::-1] if "SSIM" in x and "All:" in x)
    return float(line.split("All:")[1].split()[0])


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--points", type=int, default=10)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument(
        "--cases", default="", help=f"comma-separated, the first the baseline: {','.join(CASES)}"
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="compose-bench-") as tmp:
        folder = Path(tmp) / "recordings" / "bench"
        made = time.monotonic()
        length = build_meeting(folder, args.minutes, args.points)
        inputs = sum(f.stat().st_size for f in (folder / "tracks").iterdir())
        took = time.monotonic() - made
        print(f"meeting: {args.points} points, {length:.0f} s, tracks {inputs / 2**20:.0f} MB "
              f"(made in {took:.0f} s); load average {os.getloadavg()[0]:.1f}")  # fmt: skip
        names = args.cases.split(",") if args.cases else list(CASES)
        cases = {}
        for name in names:
            cases[name] = case = run_case(folder, name, CASES[name], args.threads)
            speed = length / case["wall_s"]
            cpu_speed = length / (case["cpu_s"] / args.threads)
            per_hour_mb = case["bytes"] * 3600 / length / 2**20
            print(
                f"{name:21s} wall {case['wall_s']:7.1f} s ({speed:5.2f}x real time), "
                f"CPU {case['cpu_s']:7.1f} s ({cpu_speed:5.2f}x real time on {args.threads} whole cores), "
                f"peak {case['peak_mb']:5.0f} MB, {per_hour_mb:6.0f} MB/h, {case['shots']:.0f} shots; "
                f"load average {os.getloadavg()[0]:.1f}",
                flush=True,
            )
        base_name = names[0]
        base = cases[base_name]
        reference = folder / f"video-{base_name}.mp4"
        for name in names[1:]:
            case = cases[name]
            similarity = ssim(reference, folder / f"video-{name}.mp4", min(SSIM_S, int(length)))
            print(
                f"{name:21s} / {base_name}: CPU {case['cpu_s'] / base['cpu_s']:.2f}x, "
                f"wall {case['wall_s'] / base['wall_s']:.2f}x, "
                f"peak memory {case['peak_mb'] / base['peak_mb']:.2f}x, "
                f"size {case['bytes'] / base['bytes']:.2f}x, SSIM {similarity:.4f} over the first "
                f"{min(SSIM_S, int(length))} s"
            )
        for name in names:
            hour_cpu_min = cases[name]["cpu_s"] * 3600 / length / args.threads / 60
            print(f"{name:21s} a 1-hour meeting on {args.threads} whole cores: ~{hour_cpu_min:.1f} min "
                  f"(target 15 min), peak {cases[name]['peak_mb']:.0f} MB (target 1024 MB)")  # fmt: skip


if __name__ == "__main__":
    main()
