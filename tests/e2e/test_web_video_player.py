"""The composed video on the record page, in real Chromium (Debian's, which decodes H.264): a meeting recorded
with video (the hall's and Chư Mố's `giaoban bot --video`, Chư Mố speaking) is composed by the worker; opening
the page as a search hit does (``?t=`` seconds) plays the MP4 at that second, the frame drawn from the <video>
element shows Chư Mố's test-pattern colour large (decoded by the browser, read back through a canvas), the
Vietnamese subtitles are a text track with cues, clicking a transcript line seeks there and the playing line
is highlighted."""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from server.media.client import sender_colour
from tests.e2e.conftest import Chromium, RunningServer
from tests.e2e.pages import login, shot
from tests.speech import spoken

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.any_database]

MEETING = 1  # the demo meeting of UBND huyện Ia Pa
HALL_S = 16
SPEAKER_S = 12
# three different sentences (~10.7 s): one 3.7 s espeak-ng sentence was, in one CI-like run, transcribed by
# the base model as nothing at all (a finished transcript without segments): no line to click, no cue
SPEECH = ("GB01", "GB02", "GB07")


def _api(page: Page, method: str, path: str, body: Any = None) -> Any:
    return page.evaluate(
        """async ([method, path, body]) => {
             const init = { method, credentials: "same-origin" };
             if (body !== null) {
               init.body = JSON.stringify(body);
               init.headers = { "Content-Type": "application/json" };
             }
             const r = await fetch(path, init);
             return { status: r.status, body: await r.json().catch(() => null) };
           }""",
        [method, path, body],
    )


def _wait(page: Page, path: str, done: Any, timeout_s: float = 240) -> Any:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        got = _api(page, "GET", path)
        if done(got["body"]):
            return got["body"]
        time.sleep(1)
    raise AssertionError(f"{path}: {got}")


FRAME_COLOUR = """([x, y, size]) => {
  const v = document.querySelector("video#player");
  const c = document.createElement("canvas");
  c.width = v.videoWidth; c.height = v.videoHeight;
  const g = c.getContext("2d");
  g.drawImage(v, 0, 0);
  const d = g.getImageData(x, y, size, size).data;
  const sum = [0, 0, 0];
  for (let i = 0; i < d.length; i += 4) { sum[0] += d[i]; sum[1] += d[i + 1]; sum[2] += d[i + 2]; }
  const n = d.length / 4;
  return sum.map((s) => s / n);
}"""


def test_record_page_plays_the_composed_video_beside_the_transcript(
    server: RunningServer, chromium: Chromium, screenshots: Path
) -> None:
    context = chromium.launch().new_context(viewport={"width": 1366, "height": 768}, locale="vi-VN",
                                            base_url=server.base_url)  # fmt: skip
    context.set_default_timeout(20_000)
    page = context.new_page()
    login(page, "chutri", server.accounts["chutri"].password)
    assert _api(page, "PATCH", f"/api/meetings/{MEETING}", {"record_video": "all"})["status"] == 200
    assert _api(page, "POST", f"/api/meetings/{MEETING}/start")["status"] == 200
    # the chair's socket from the page opens every microphone (no floor control): Chư Mố's speech is recorded
    opened = page.evaluate(
        """id => new Promise((done, fail) => {
             const ws = new WebSocket(`ws://${location.host}/ws/meetings/${id}`);
             window.chairSocket = ws;
             ws.onmessage = (ev) => {
               const m = JSON.parse(ev.data);
               if (m.type === "welcome") ws.send(JSON.stringify({ type: "floor_control", enabled: false }));
               if (m.type === "floor_control") done(m.enabled);
             };
             ws.onclose = (ev) => fail(new Error("socket closed " + ev.code));
           })""",
        MEETING,
    )
    assert opened is False
    hall = server.bot(MEETING, "thuky", HALL_S, "--video")
    time.sleep(1.0)
    speaker = server.bot(MEETING, "chumo", SPEAKER_S, "--video", "--play", str(spoken(SPEECH)))
    for proc in (hall, speaker):
        proc.wait(timeout=120)
        assert proc.stdout is not None
        assert proc.returncode == 0, proc.stdout.read()
    assert _api(page, "POST", f"/api/meetings/{MEETING}/end")["status"] == 200
    status = _wait(page, f"/api/meetings/{MEETING}/video/status", lambda b: b and b["available"])
    assert status["status"] == "done", status
    tracks = _api(page, "GET", f"/api/meetings/{MEETING}/recording/tracks")["body"]["tracks"]
    chumo_audio = next(t for t in tracks if t["username"] == "chumo" and t["kind"] == "audio")
    transcript = _api(page, "GET", f"/api/meetings/{MEETING}/transcript")["body"]
    assert transcript["status"] == "done" and transcript["segments"], transcript

    # a search hit opens the page at its second: the video plays there
    at = round(chumo_audio["start_s"] + 2.0, 2)
    page.goto(f"/#/meetings/{MEETING}?t={at}")
    player = page.locator("video#player")
    expect(player).to_have_attribute("data-source", "video")
    page.wait_for_function(
        "at => { const v = document.querySelector('video#player');"
        " return v.readyState >= 2 && Math.abs(v.currentTime - at) < 1.0; }",
        arg=at,
    )
    size = page.evaluate(
        "() => { const v = document.querySelector('video#player');"
        " return [v.videoWidth, v.videoHeight, v.error]; }"
    )
    assert size == [1280, 720, None], size
    # the browser decoded H.264: at that second Chư Mố's colour fills the picture (its square, scaled 3x)
    page.evaluate(
        "at => new Promise((done) => { const v = document.querySelector('video#player'); v.pause();"
        " v.addEventListener('seeked', () => done(), { once: true }); v.currentTime = at; })",
        at,
    )
    participant = next(t for t in tracks if t["username"] == "chumo" and t["kind"] == "camera")
    manifest_pid = _participant_of(server, participant["track_key"])
    colour = page.evaluate(FRAME_COLOUR, [200, 40, 40])
    expected = sender_colour(manifest_pid, "camera")
    assert max(abs(a - b) for a, b in zip(colour, expected, strict=True)) < 35, (colour, expected)

    # the Vietnamese subtitles: a text track with the transcript's cues
    page.wait_for_function(
        "() => { const tt = document.querySelector('video#player').textTracks[0];"
        " return tt && tt.language === 'vi' && tt.cues && tt.cues.length > 0; }"
    )

    # a transcript line seeks; while playing, the line at the playhead is highlighted
    first = transcript["segments"][0]
    line = page.locator(f"li[data-segment-id='{first['id']}']")
    line.locator("button.time").click()
    page.wait_for_function(
        "start => { const v = document.querySelector('video#player');"
        " return !v.paused && v.currentTime >= start && v.currentTime < start + 3; }",
        arg=first["start"],
    )
    expect(line).to_have_class(re.compile(r"\bcurrent\b"))  # also "uncertain" when its confidence is low
    expect(line).to_have_attribute("aria-current", "true")
    expect(page.get_by_test_id("video-download")).to_have_attribute("href", f"/api/meetings/{MEETING}/video")
    shot(page, screenshots, "video-player-desktop")


def _participant_of(server: RunningServer, track_key: str) -> str:
    from recordings.manifest import read_manifest

    return read_manifest(server.data_dir / "recordings" / str(MEETING)).track(track_key).participant_id
