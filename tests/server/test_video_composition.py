"""The composed video end to end: `giaoban serve` in a subprocess, three `giaoban bot --video` participants
(the hall and two communes, each sending its own test-pattern colour) taking turns to speak; after the meeting
the worker composes one MP4 (H.264, AAC, a mov_text subtitle track from the transcript, chapters), served
with range requests, checked by ffprobe, its frames sampled where each commune speaks; a transcript correction
makes the subtitles again; the integrity check covers the MP4 and the WebVTT."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import wave
from pathlib import Path
from typing import Any

import av
import numpy as np
import pytest

from recordings.manifest import read_manifest
from server.media.client import sender_colour
from tests.server.live_harness import LiveServer, server_env, wait_bots
from tests.server.test_video_recording import MEETING, finished_tracks, start_recorded
from tests.speech import shippable_utterance

# first pass only (tests/conftest.py): the store code it passes through runs on PostgreSQL in the API tests
pytestmark = [pytest.mark.e2e, pytest.mark.any_database]

WIDTH, HEIGHT = 1280, 720  # GIAOBAN_COMPOSE_HEIGHT's default, 16:9
BOT_S = 6.0  # each commune speaks from its first packet (3.7 s, 4.4 s) and leaves
HALL_S = 300.0  # the hall joins first and stays until the chair ends the meeting


def wait_camera(folder: Path, username: str, timeout_s: float = 120) -> None:
    """Until the manifest has the participant's camera track (the recorder keeps it)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if (folder / "manifest.jsonl").exists():
            manifest = read_manifest(folder)
            if any(t.username == username and t.kind == "camera" for t in manifest.tracks):
                return
        time.sleep(0.3)
    raise AssertionError(f"no camera track of {username}")


def speech_length_s(key: str) -> float:
    with wave.open(str(shippable_utterance(key).path), "rb") as source:
        return source.getnframes() / source.getframerate()


def probe(path: Path) -> dict[str, Any]:
    out = subprocess.run(
        [
            "ffprobe",
            "-v",
            "error",
            "-show_streams",
            "-show_format",
            "-show_chapters",
            "-of",
            "json",
            str(path),
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    return dict(json.loads(out.stdout))


def subtitle_text(path: Path) -> str:
    out = subprocess.run(
        ["ffmpeg", "-v", "error", "-i", str(path), "-map", "0:s", "-f", "webvtt", "-"],
        capture_output=True,
        text=True,
        check=True,
    )
    return out.stdout


def wait_composed(live: LiveServer, *, after_sha: str = "", timeout_s: float = 600) -> dict[str, Any]:
    """Poll the status until the video is done (and differs from ``after_sha``); every GET of the video
    meanwhile answers 409 (being made) or 200 (an earlier file)."""
    deadline = time.monotonic() + timeout_s
    seen: list[int] = []
    while time.monotonic() < deadline:
        state = live.api("GET", f"/api/meetings/{MEETING}/video/status", "chutri").json()
        head = live.api("GET", f"/api/meetings/{MEETING}/video", "chutri", headers={"Range": "bytes=0-0"})
        seen.append(head.status_code)
        if head.status_code == 409:
            assert head.json()["error"]["code"] == "video_processing", head.text
        if state["status"] == "done" and state["available"]:
            rows = live.api("GET", f"/api/meetings/{MEETING}/recording/tracks", "chutri").json()
            if not after_sha or _composed_sha(live) != after_sha:
                return {"status": state, "codes": seen, "tracks": rows}
        assert state["status"] != "failed", state
        time.sleep(0.5)
    raise AssertionError(f"video not composed: {state}, {seen}")


def _composed_sha(live: LiveServer) -> str:
    import hashlib

    return hashlib.sha256(live.api("GET", f"/api/meetings/{MEETING}/video", "chutri").content).hexdigest()


def square(frame: np.ndarray, x: int, y: int, size: int) -> tuple[float, ...]:
    return tuple(float(v) for v in frame[y : y + size, x : x + size].reshape(-1, 3).mean(axis=0))


def close_to(got: tuple[float, ...], colour: tuple[int, int, int], tolerance: float = 30) -> bool:
    return max(abs(a - b) for a, b in zip(got, colour, strict=True)) < tolerance


def frames_at(path: Path, times: list[float]) -> list[np.ndarray]:
    wanted = sorted(times)
    out: dict[float, np.ndarray] = {}
    with av.open(str(path)) as container:
        for frame in container.decode(video=0):
            for t in wanted:
                if t not in out and frame.time is not None and frame.time >= t:
                    out[t] = frame.to_ndarray(format="rgb24")
            if len(out) == len(wanted):
                break
    return [out[t] for t in times]


def test_the_meeting_is_composed_into_one_mp4_that_follows_the_speaker(
    live: LiveServer, tmp_path: Path
) -> None:
    before = live.api("GET", f"/api/meetings/{MEETING}/video", "chutri")
    assert before.status_code == 404 and "video" in before.json()["error"]["message"], before.text
    chair = start_recorded(live, "all")
    folder = live.data_dir / "recordings" / str(MEETING)
    # one after another, whatever the machine's load: the hall's camera first (it stays), then Chư Mố speaks
    # and leaves, then Pờ Tó speaks and leaves
    hall = live.bot(MEETING, "thuky", video=True, duration_s=HALL_S)  # the chairing unit's camera, silent
    wait_camera(folder, "thuky")
    first = live.bot(MEETING, "chumo", play=shippable_utterance("GB01").path, video=True, duration_s=BOT_S)
    wait_bots(first)
    second = live.bot(MEETING, "poto", play=shippable_utterance("GB02").path, video=True, duration_s=BOT_S)
    wait_bots(second)
    assert live.api("POST", f"/api/meetings/{MEETING}/end", "chutri").status_code == 200
    chair.close()
    hall.kill()  # it was still in the meeting when the chair ended it
    hall.wait()
    finished_tracks(live)
    done = wait_composed(live)
    assert set(done["codes"]) <= {409, 206}, done["codes"]
    kinds = {(t["username"], t["kind"]) for t in done["tracks"]["tracks"]}
    assert {("thuky", "camera"), ("chumo", "camera"), ("poto", "camera")} <= kinds, kinds

    # range requests
    ranged = live.api("GET", f"/api/meetings/{MEETING}/video", "chutri", headers={"Range": "bytes=100-199"})
    assert ranged.status_code == 206 and len(ranged.content) == 100, ranged.status_code
    assert ranged.headers["content-type"] == "video/mp4" and ranged.headers["accept-ranges"] == "bytes"
    whole = live.api("GET", f"/api/meetings/{MEETING}/video", "chutri")
    assert whole.status_code == 200 and whole.content[100:200] == ranged.content
    video = tmp_path / "meeting.mp4"
    video.write_bytes(whole.content)

    # H.264, AAC, subtitles (mov_text, Vietnamese), chapters; the meeting's length
    info = probe(video)
    codecs = {
        s["codec_type"]: s for s in info["streams"] if s["codec_type"] in ("video", "audio", "subtitle")
    }
    assert codecs["video"]["codec_name"] == "h264" and codecs["audio"]["codec_name"] == "aac"
    assert (codecs["video"]["width"], codecs["video"]["height"]) == (WIDTH, HEIGHT)
    assert codecs["subtitle"]["codec_name"] == "mov_text" and codecs["subtitle"]["tags"]["language"] == "vie"
    assert info["chapters"] and info["chapters"][0]["tags"]["title"]
    manifest = read_manifest(folder)
    assert float(info["format"]["duration"]) == pytest.approx(manifest.length_s, abs=0.3)
    assert done["status"]["length_s"] == pytest.approx(manifest.length_s, abs=0.01)
    vtt = live.api("GET", f"/api/meetings/{MEETING}/subtitles.vtt", "chutri").text
    assert (folder / "subtitles.vtt").read_text(encoding="utf-8") == vtt
    embedded = subtitle_text(video)
    assert embedded.count("-->") == vtt.count("-->") >= 2, (embedded, vtt)

    # the speaker view: chumo's camera while chumo speaks, poto's while poto speaks, the hall in the corner
    tracks = {t.username: t for t in manifest.tracks if t.kind == "camera"}
    audio = {t.username: t for t in manifest.tracks if t.kind == "audio"}
    colour = {who: sender_colour(t.participant_id, "camera") for who, t in tracks.items()}
    assert len(set(colour.values())) == 3
    # a second into each speech and into its camera (the speaker view changes after 1 s of lead)
    chumo_at = max(audio["chumo"].start_s + 2.0, tracks["chumo"].start_s + 1.0)
    poto_at = max(audio["poto"].start_s + 2.0, tracks["poto"].start_s + 1.0)
    assert chumo_at < audio["chumo"].start_s + speech_length_s("GB01") - 0.3
    assert poto_at < audio["poto"].start_s + speech_length_s("GB02") - 0.3
    opening = tracks["thuky"].start_s + 0.5  # the hall alone before anyone spoke
    assert opening < audio["chumo"].start_s
    # the bots' 320x240 picture fills 960x720 in the middle (x 160); its 48 px square's middle at 3x
    main_square = (160 + 60, 60, 40)
    # in the corner box (320x180 at 944,524, the picture 240x180 from x 40): the square's middle at 0.75x
    corner_square = (944 + 40 + 12, 524 + 12, 12)
    at_open, at_chumo, at_poto = frames_at(video, [opening, chumo_at, poto_at])
    assert close_to(square(at_open, *main_square), colour["thuky"]), square(at_open, *main_square)
    assert close_to(square(at_chumo, *main_square), colour["chumo"]), (square(at_chumo, *main_square), colour)
    assert close_to(square(at_chumo, *corner_square), colour["thuky"]), square(at_chumo, *corner_square)
    assert close_to(square(at_poto, *main_square), colour["poto"]), (square(at_poto, *main_square), colour)
    assert close_to(square(at_poto, *corner_square), colour["thuky"]), square(at_poto, *corner_square)

    # the integrity check covers the MP4 and the WebVTT
    verify = [sys.executable, "-m", "server.cli", "recordings", "verify", "--meeting", str(MEETING)]
    env = server_env(live.data_dir, live.database_url)
    ok = subprocess.run(verify, capture_output=True, text=True, env=env)
    assert ok.returncode == 0, ok.stdout + ok.stderr

    # a clerk's correction: the subtitles are made again, in the .vtt and in the MP4
    transcript = live.api("GET", f"/api/meetings/{MEETING}/transcript", "chutri").json()
    line = transcript["segments"][0]
    composed_sha = _composed_sha(live)
    fixed = live.api("PATCH", f"/api/segments/{line['id']}", "thuky", json={"text": "Dòng đã sửa bởi thư ký"})
    assert fixed.status_code == 200, fixed.text
    again = wait_composed(live, after_sha=composed_sha)
    assert again["status"]["picture_gaps"] == done["status"]["picture_gaps"]
    regenerated = tmp_path / "again.mp4"
    regenerated.write_bytes(live.api("GET", f"/api/meetings/{MEETING}/video", "chutri").content)
    assert "Dòng đã sửa bởi thư ký" in subtitle_text(regenerated)
    assert "Dòng đã sửa bởi thư ký" in (folder / "subtitles.vtt").read_text(encoding="utf-8")
    assert float(probe(regenerated)["format"]["duration"]) == pytest.approx(manifest.length_s, abs=0.3)
    ok = subprocess.run(verify, capture_output=True, text=True, env=env)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    with open(folder / "video.mp4", "r+b") as handle:  # a changed byte is found
        handle.seek(5000)
        byte = handle.read(1)
        handle.seek(5000)
        handle.write(bytes([byte[0] ^ 0xFF]))
    bad = subprocess.run(verify, capture_output=True, text=True, env=env)
    assert bad.returncode == 1 and "video.mp4" in bad.stdout, bad.stdout
