"""The composition of a damaged recording (issue 20, bad input), through the composer's child process as the
worker runs it: real VP8 (libvpx) in the recorder's IVF writer, real Opus in its Ogg writer, a manifest as the
recorder writes it. The speaking commune's camera file is cut mid-frame halfway (a disk that refused, a
corrupt tail): the video is composed up to its last whole frame, then the hall fills the picture; the meeting
was interrupted (killed server) and video recording stopped later (full disk). Each stretch is noted in the
manifest (``video_composed``) and in the result; the MP4 lasts the whole meeting."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from recordings.ivf import IvfWriter, read_ivf_info
from recordings.manifest import (
    ManifestLog,
    MeetingEnded,
    MeetingInterrupted,
    MeetingResumed,
    MeetingStarted,
    TrackClosed,
    TrackOpened,
    VideoComposed,
    VideoFailed,
    read_events,
)
from recordings.mixing import mix_meeting
from recordings.oggopus import OggOpusWriter

REPO = Path(__file__).resolve().parents[2]
FPS = 15
RATE = 48_000
HALL_RGB = (32, 96, 224)
COMMUNE_RGB = (224, 160, 32)
TRACK_S = 10.0  # both tracks, from 0 to the interruption
CUT_AT_S = 5.0  # the commune's camera file ends here (cut mid-frame)
RESUMED_S = 12.0
VIDEO_FAILED_S = 13.0
ENDED_S = 14.0


def write_camera(path: Path, rgb: tuple[int, int, int], seconds: float) -> None:
    codec = av.CodecContext.create("libvpx", "w")
    codec.width, codec.height, codec.pix_fmt = 160, 120, "yuv420p"
    codec.time_base = Fraction(1, FPS)
    codec.options = {"deadline": "realtime", "cpu-used": "8", "g": str(FPS * 2)}
    writer = IvfWriter(path, fsync_interval_s=None)
    picture = np.zeros((120, 160, 3), dtype=np.uint8)
    picture[:, :] = rgb
    for index in range(round(seconds * FPS)):
        frame = av.VideoFrame.from_ndarray(picture, format="rgb24").reformat(format="yuv420p")
        frame.pts = index
        for packet in codec.encode(frame):
            writer.write_frame(bytes(packet), int(packet.pts) * 90_000 // FPS)
    for packet in codec.encode(None):
        writer.write_frame(bytes(packet), int(packet.pts) * 90_000 // FPS)
    writer.close()


def write_voice(path: Path, seconds: float, speaking: tuple[float, float] | None) -> None:
    t = np.arange(round(seconds * RATE)) / RATE
    pcm = np.zeros_like(t, dtype=np.float32)
    if speaking is not None:
        inside = (t >= speaking[0]) & (t < speaking[1])
        pcm[inside] = (0.3 * np.sin(2 * np.pi * 220 * t[inside])).astype(np.float32)
    codec = av.CodecContext.create("libopus", "w")
    codec.sample_rate, codec.layout, codec.format = RATE, "mono", "flt"
    writer = OggOpusWriter(path, channels=1, fsync_interval_s=None)
    step = 960
    for index in range(len(pcm) // step):
        chunk = pcm[index * step : (index + 1) * step].reshape(1, -1)
        frame = av.AudioFrame.from_ndarray(chunk, format="flt", layout="mono")
        frame.sample_rate, frame.pts = RATE, index * step
        for packet in codec.encode(frame):
            writer.write(bytes(packet), index * step)
    writer.close()


def opened(track_id: str, kind: str, who: str, unit: str) -> TrackOpened:
    suffix = ".ogg" if kind == "audio" else ".ivf"
    return TrackOpened(track_id, f"tracks/{track_id}{suffix}", who, who, who, unit, unit, 0.0, 0, None,
                       1 if kind == "audio" else 0, kind)  # fmt: skip


@pytest.fixture(scope="module")
def damaged(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("recordings") / "m7"
    (folder / "tracks").mkdir(parents=True)
    write_camera(folder / "tracks/hall-camera.ivf", HALL_RGB, TRACK_S)
    write_camera(folder / "tracks/chumo-camera.ivf", COMMUNE_RGB, TRACK_S)
    write_voice(folder / "tracks/hall.ogg", TRACK_S, None)
    write_voice(folder / "tracks/chumo.ogg", TRACK_S, (1.0, 9.0))
    log = ManifestLog(folder / "manifest.jsonl", fsync=False)
    log.append(MeetingStarted("m7", "2026-12-05T08:00:00+00:00"))
    for event in (opened("hall", "audio", "u1", "IAPA"), opened("hall-camera", "camera", "u1", "IAPA"),
                  opened("chumo", "audio", "u4", "CHUMO"), opened("chumo-camera", "camera", "u4", "CHUMO")):
        log.append(event)  # fmt: skip
    files = (("hall", "ogg"), ("hall-camera", "ivf"), ("chumo", "ogg"), ("chumo-camera", "ivf"))
    for track_id, suffix in files:
        size = (folder / f"tracks/{track_id}.{suffix}").stat().st_size
        log.append(TrackClosed(track_id, TRACK_S, "0" * 64, size, reason="interrupted"))
    log.append(MeetingInterrupted(TRACK_S, "2026-12-05T08:00:10+00:00"))
    log.append(MeetingResumed(RESUMED_S, "2026-12-05T08:00:12+00:00"))
    log.append(VideoFailed(VIDEO_FAILED_S, None, "Ghi hình đã dừng: hết dung lượng lưu trữ."))
    log.append(MeetingEnded(ENDED_S, "2026-12-05T08:00:14+00:00"))
    log.close()
    # the commune's camera file loses everything after CUT_AT_S, cut inside a frame
    camera = folder / "tracks/chumo-camera.ivf"
    whole = read_ivf_info(camera)
    keep = 32 + (whole.valid_bytes - 32) * CUT_AT_S / TRACK_S
    os.truncate(camera, int(keep))
    assert read_ivf_info(camera).valid_bytes < int(keep)  # a torn frame at the end
    mix_meeting(folder)
    return folder


def compose_child(folder: Path) -> dict[str, object]:
    request = {"meeting_dir": str(folder), "mode": "full", "title": "Giao ban", "hall_unit_code": "IAPA",
               "chapters": [{"start_s": 0.0, "end_s": ENDED_S, "title": "Khai mạc"}]}  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    done = subprocess.run([sys.executable, "-m", "recordings.compose"], input=json.dumps(request),
                          capture_output=True, text=True, env=env, timeout=120, check=False)  # fmt: skip
    lines = [json.loads(line) for line in done.stdout.splitlines() if line.strip()]
    assert done.returncode == 0 and "result" in lines[-1], done.stdout + done.stderr
    progress = [line["progress"] for line in lines if "progress" in line]
    assert progress == sorted(progress) and progress[-1] == 1.0
    return dict(lines[-1]["result"])


def colour_at(path: Path, t_s: float) -> tuple[float, ...]:
    with av.open(str(path)) as container:
        for frame in container.decode(video=0):
            if frame.time is not None and frame.time >= t_s:
                picture = frame.to_ndarray(format="rgb24")
                return tuple(float(v) for v in picture[300:420, 560:720].reshape(-1, 3).mean(axis=0))
    raise AssertionError(f"no frame at {t_s}")


def near(got: tuple[float, ...], rgb: tuple[int, int, int]) -> bool:
    return max(abs(a - b) for a, b in zip(got, rgb, strict=True)) < 25


def test_a_cut_camera_is_composed_to_its_last_frame_and_the_gaps_are_noted(damaged: Path) -> None:
    result = compose_child(damaged)
    video = damaged / "video.mp4"
    entries = "format=duration:stream=codec_name"
    probe = subprocess.run(["ffprobe", "-v", "error", "-show_entries", entries, "-of", "json", str(video)],
                           capture_output=True, text=True, check=True)  # fmt: skip
    info = json.loads(probe.stdout)
    assert float(info["format"]["duration"]) == pytest.approx(ENDED_S, abs=0.2)
    assert {"h264", "aac"} <= {s["codec_name"] for s in info["streams"]}
    cut_end = read_ivf_info(damaged / "tracks/chumo-camera.ivf").duration_s
    assert 0.8 * CUT_AT_S < cut_end < CUT_AT_S
    gaps = {(g[2], g[3]): (g[0], g[1]) for g in result["picture_gaps"]}  # type: ignore[union-attr]
    assert gaps[("chumo-camera", "truncated")] == pytest.approx((cut_end, TRACK_S), abs=0.1)
    assert gaps[("", "interrupted")] == pytest.approx((TRACK_S, RESUMED_S))
    assert gaps[("", "video_stopped")] == pytest.approx((VIDEO_FAILED_S, ENDED_S))
    noted = [e for e in read_events(damaged / "manifest.jsonl") if isinstance(e, VideoComposed)]
    assert noted and noted[-1].picture_gaps == result["picture_gaps"] and noted[-1].sha256 == result["sha256"]
    # the commune speaks 1-9 s: its camera while the file has frames, then the hall fills the picture
    assert near(colour_at(video, 0.5), HALL_RGB)  # nobody spoke yet
    assert near(colour_at(video, 3.0), COMMUNE_RGB)
    assert near(colour_at(video, cut_end + 1.0), HALL_RGB)
    assert near(colour_at(video, 11.0), (0, 0, 0))  # the interruption: no picture
