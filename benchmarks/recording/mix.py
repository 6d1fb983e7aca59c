"""Mixing cost: recordings.mixing.mix_meeting against FFmpeg's own filter graph (adelay + amix + libopus,
the ffmpeg command line) on the same recorded meeting, in the same run.

    python benchmarks/recording/mix.py [--tracks 4] [--minutes 5]

Builds a meeting with MeetingRecorder (real speech, each track starting 10 s after the previous one),
then prints CPU seconds, the speed as a multiple of real time, and the ratio ours / FFmpeg.
"""

from __future__ import annotations

import argparse
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import av

from recordings.manifest import read_manifest
from recordings.mixing import decoded_duration_s, mix_meeting
from recordings.storage import MeetingRecorder, ParticipantInfo, RecordingsLayout

sys.path.insert(0, str(Path(__file__).resolve().parent))
from run import PACKET_SAMPLES, encode_packets, load_speech  # noqa: E402

TRACK_STAGGER_S = 10.0
TAIL_S = 5.0


def build_meeting(folder: Path, tracks: int, minutes: float) -> Path:
    packets = encode_packets(load_speech())
    count = int(minutes * 60 * 50)
    layout = RecordingsLayout(folder)
    recorder = MeetingRecorder.start(layout, "bench", fsync_interval_s=None)
    for k in range(tracks):
        who = ParticipantInfo(f"p{k}", f"u{k}", f"Điểm cầu {k}", f"U{k}", f"Đơn vị {k}")
        start = k * TRACK_STAGGER_S
        handle = recorder.open_track(who, start)
        for i in range(count):
            handle.write(packets[(i + 997 * k) % len(packets)], i * PACKET_SAMPLES)
        handle.close(start + count * 0.02)
    recorder.end((tracks - 1) * TRACK_STAGGER_S + count * 0.02 + TAIL_S)
    return layout.meeting_dir("bench")


def children_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def ffmpeg_mix(meeting_dir: Path, output: Path) -> None:
    manifest = read_manifest(meeting_dir)
    inputs: list[str] = []
    chains: list[str] = []
    for index, track in enumerate(manifest.tracks):
        inputs += ["-i", str(meeting_dir / track.path)]
        delay_ms = round(track.start_s * 1000)
        chains.append(f"[{index}:a]aresample=48000,pan=mono|c0=c0,adelay={delay_ms}:all=1[a{index}]")
    labels = "".join(f"[a{i}]" for i in range(len(manifest.tracks)))
    graph = ";".join(chains) + (f";{labels}amix=inputs={len(manifest.tracks)}:normalize=0,"
                                f"apad,atrim=end={manifest.length_s},alimiter=limit=0.97[out]")
    subprocess.run(
        ["ffmpeg", "-v", "error", "-y", *inputs, "-filter_complex", graph, "-map", "[out]",
         "-c:a", "libopus", "-b:a", "32k", "-compression_level", "5", str(output)],
        check=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tracks", type=int, default=4)
    parser.add_argument("--minutes", type=float, default=5.0, help="audio per track")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        meeting_dir = build_meeting(Path(tmp), args.tracks, args.minutes)
        length_s = read_manifest(meeting_dir).length_s
        print(f"meeting: {args.tracks} tracks x {args.minutes:g} min of real speech, {length_s:.1f} s long; "
              f"av {av.__version__}")
        cpu, wall = time.process_time(), time.perf_counter()
        ours = mix_meeting(meeting_dir)
        ours_cpu, ours_wall = time.process_time() - cpu, time.perf_counter() - wall
        print(f"{'giaoban mix_meeting':28} CPU {ours_cpu:7.2f} s  wall {ours_wall:7.2f} s  "
              f"{length_s / ours_wall:6.1f}x real time  length {decoded_duration_s(ours):.3f} s")
        if shutil.which("ffmpeg") is None:
            print("baseline skipped: no ffmpeg on PATH (apt-get install ffmpeg)")
            return
        before, wall = children_cpu_s(), time.perf_counter()
        ffmpeg_mix(meeting_dir, Path(tmp) / "ffmpeg.ogg")
        base_cpu, base_wall = children_cpu_s() - before, time.perf_counter() - wall
        base_length_s = decoded_duration_s(Path(tmp) / "ffmpeg.ogg")
        print(f"{'baseline: ffmpeg amix':28} CPU {base_cpu:7.2f} s  wall {base_wall:7.2f} s  "
              f"{length_s / base_wall:6.1f}x real time  length {base_length_s:.3f} s")
        print(f"ratio CPU ours / ffmpeg: {ours_cpu / base_cpu:.2f}x")


if __name__ == "__main__":
    main()
