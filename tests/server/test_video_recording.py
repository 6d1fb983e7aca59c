"""Video recording end to end: `giaoban serve` in a subprocess, `giaoban bot --video` participants (real
aiortc peers sending VP8 over 127.0.0.1); every camera is kept as received in IVF, listed with its kind,
downloaded and decoded frame by frame; a server killed mid-meeting leaves playable video files."""

from __future__ import annotations

import signal
import time
from pathlib import Path
from typing import Any

import av
import pytest

from recordings.ivf import read_ivf_info
from recordings.manifest import read_manifest
from server.media.client import sender_colour
from tests.server.live_harness import LiveServer, SocketClient, wait_bots

pytestmark = pytest.mark.e2e

MEETING = 1  # the demo meeting: UBND huyện Ia Pa with its nine communes
BOT_FPS = 15  # ClientConfig.video_fps: what `giaoban bot --video` sends


def start_recorded(live: LiveServer, record_video: str) -> SocketClient:
    changed = live.api("PATCH", f"/api/meetings/{MEETING}", "chutri", json={"record_video": record_video})
    assert changed.status_code == 200 and changed.json()["record_video"] == record_video, changed.text
    assert live.api("POST", f"/api/meetings/{MEETING}/start", "chutri").status_code == 200
    chair = SocketClient(live.ws_url(MEETING, live.token("chutri")))
    chair.wait_for(lambda m: m["type"] == "welcome")
    chair.send({"type": "floor_control", "enabled": False})  # every microphone open: audio is recorded too
    chair.wait_for(lambda m: m["type"] == "floor_control")
    return chair


def finished_tracks(live: LiveServer) -> dict[str, Any]:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        info = live.api("GET", f"/api/meetings/{MEETING}/recording/tracks", "chutri").json()
        if info["status"] == "finished":
            return info
        time.sleep(0.5)
    raise AssertionError(f"recording not finished: {info}")


def decode(path: Path) -> list[av.VideoFrame]:
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        assert stream.codec_context.name == "vp8"
        return list(container.decode(stream))


@pytest.mark.any_database  # media; the killed-server test below runs on PostgreSQL too
def test_every_camera_is_recorded_as_received_and_decodes(live: LiveServer, tmp_path: Path) -> None:
    chair = start_recorded(live, "all")
    bots = [live.bot(MEETING, who, video=True, duration_s=8) for who in ("chumo", "poto")]
    wait_bots(*bots)
    assert live.api("POST", f"/api/meetings/{MEETING}/end", "chutri").status_code == 200
    chair.close()
    info = finished_tracks(live)
    kinds = {(t["username"], t["kind"]) for t in info["tracks"]}
    assert {("chumo", "audio"), ("poto", "audio"), ("chumo", "camera"), ("poto", "camera")} <= kinds, kinds
    manifest = read_manifest(live.data_dir / "recordings" / str(MEETING))
    colours: set[tuple[int, int, int]] = set()
    for who in ("chumo", "poto"):
        track = next(t for t in info["tracks"] if t["username"] == who and t["kind"] == "camera")
        assert track["file"].endswith(".ivf") and track["sha256"] and track["size_bytes"] > 0
        got = live.api("GET", f"/api/meetings/{MEETING}/recording/tracks/{track['track_key']}", "chutri")
        assert got.status_code == 200 and got.headers["content-type"] == "video/x-ivf"
        path = tmp_path / f"{who}.ivf"
        path.write_bytes(got.content)
        frames = decode(path)
        record = manifest.track(track["track_key"])
        assert record.video is not None and len(frames) == record.video.frames  # every frame decodes
        # and they are this bot's frames: its test pattern's square has the colour of its id
        square = frames[len(frames) // 2].to_ndarray(format="rgb24")[8:40, 8:40].reshape(-1, 3).mean(axis=0)
        expected = sender_colour(record.participant_id, "camera")
        colours.add(expected)
        assert max(abs(float(a) - b) for a, b in zip(square, expected, strict=True)) < 30, (square, expected)
        assert record.video.keyframes >= 1 and (frames[0].width, frames[0].height) == (320, 240)
        # the bot sent 15 frames a second for the whole track (a margin for a loaded machine)
        length_s = track["end_s"] - track["start_s"]
        assert length_s > 4.0, track
        expected = length_s * BOT_FPS
        assert 0.7 * expected <= len(frames) <= 1.1 * expected + 2, (len(frames), length_s)
        # on the meeting clock: the frames span the track
        assert abs(frames[-1].time - frames[0].time - length_s) < 1.0
        # the audio track of the same bot started within a second of its camera (one meeting clock)
        audio = next(t for t in info["tracks"] if t["username"] == who and t["kind"] == "audio")
        assert abs(audio["start_s"] - track["start_s"]) < 2.0
    assert len(colours) == 2  # the two senders' squares differ: a mixed-up track would fail above


@pytest.mark.any_database  # media; the killed-server test below runs on PostgreSQL too
def test_no_video_is_recorded_unless_asked(live: LiveServer) -> None:
    chair = start_recorded(live, "none")
    wait_bots(live.bot(MEETING, "chumo", video=True, duration_s=5))
    assert live.api("POST", f"/api/meetings/{MEETING}/end", "chutri").status_code == 200
    chair.close()
    info = finished_tracks(live)
    assert [t["kind"] for t in info["tracks"]] == ["audio"]
    assert not list((live.data_dir / "recordings" / str(MEETING) / "tracks").glob("*.ivf"))


def test_server_killed_mid_meeting_leaves_playable_video(live: LiveServer, tmp_path: Path) -> None:
    start_recorded(live, "all")
    bot = live.bot(MEETING, "chumo", video=True, duration_s=30)
    time.sleep(8)
    assert live.proc is not None
    live.stop(signal.SIGKILL)
    bot.kill()
    bot.wait()
    folder = live.data_dir / "recordings" / str(MEETING)
    manifest = read_manifest(folder)
    (camera,) = manifest.video_tracks
    assert camera.kind == "camera" and not camera.closed
    path = folder / camera.path
    info = read_ivf_info(path)
    # what was sent before the kill (the last half second may have been in memory) plays
    assert info.frames >= 3 * BOT_FPS, info
    assert len(decode(path)) == info.frames
    # restart: the meeting is marked interrupted, the video track closed at its last whole frame, hashed
    live.start(demo=False)
    assert live.api("GET", f"/api/meetings/{MEETING}", "chutri").json()["status"] == "interrupted"
    after = read_manifest(folder).track(camera.track_id)
    assert after.closed and after.sha256 and after.video is not None and after.video.frames == info.frames
    assert after.end_s is not None and after.end_s - after.start_s == pytest.approx(info.duration_s, abs=0.01)
