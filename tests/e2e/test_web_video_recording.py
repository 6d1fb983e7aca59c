"""Video recording from the browser, in real Chromium on a desktop screen (1366×768) and a phone (390×844):
the chair schedules a meeting with "Ghi hình: Tất cả điểm cầu" (disabled while "Ghi âm" is off), the API holds
record_video=all and the edit form shows it; the meeting runs with a `giaoban bot --video` participant (a real
aiortc peer sending VP8); afterwards the record page lists its camera track by unit name with its start and
length on the meeting clock, the download is an IVF file ("DKIF") (another commune gets no link), and
the subtitles link appears once the transcript exists."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, ViewportSize, expect

from server.config import Settings
from server.db import Database
from server.services import transcripts
from server.services.transcripts import SegmentInput
from tests.e2e.conftest import REPO, Chromium, RunningServer
from tests.e2e.pages import login, shot
from tests.env import child_env

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.any_database]

VIEWPORTS: dict[str, ViewportSize] = {
    "desktop": {"width": 1366, "height": 768},
    "phone": {"width": 390, "height": 844},
}
BOT_SECONDS = 6


def _page(browser: Browser, server: RunningServer, viewport: ViewportSize, username: str) -> Page:
    context = browser.new_context(
        viewport=viewport, locale="vi-VN", base_url=server.base_url, accept_downloads=True
    )
    context.set_default_timeout(15_000)
    page = context.new_page()
    login(page, username, server.accounts[username].password)
    return page


def _api(page: Page, method: str, path: str) -> Any:
    """A call from inside the page (its session cookie; the server lives in the test's network namespace)."""
    return page.evaluate(
        """async ([method, path]) => {
             const r = await fetch(path, { method, credentials: "same-origin" });
             return { status: r.status, body: await r.json().catch(() => null) };
           }""",
        [method, path],
    )


def _video_bot(server: RunningServer, meeting_id: int, username: str) -> None:
    """`giaoban bot --video` inside the server's namespace: joins, sends camera and microphone, leaves."""
    env = child_env()
    env["GIAOBAN_ICE_ADDRESSES"] = "127.0.0.1"  # the namespace has loopback only, as the server is told
    args = ["--meeting", str(meeting_id), "--username", username, "--password-stdin", "--video"]
    done = subprocess.run(
        ["ip", "netns", "exec", server.netns, sys.executable, "-m", "server.cli", "bot",
         "--server", server.base_url, *args, "--duration", str(BOT_SECONDS)],
        cwd=REPO, env=env, input=server.accounts[username].password + "\n", capture_output=True, text=True,
        timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr


def _clock(seconds: float) -> str:
    """mm:ss as the page's clock() shows it (whole seconds, rounded down)."""
    whole = max(0, int(seconds))
    return f"{whole // 60:02d}:{whole % 60:02d}"


@pytest.mark.parametrize("screen", list(VIEWPORTS))
def test_chair_schedules_video_and_downloads_the_camera_track(
    server: RunningServer, chromium: Chromium, database_url: str | None, screenshots: Path, screen: str
) -> None:
    page = _page(chromium.launch(), server, VIEWPORTS[screen], "chutri")
    title = f"Giao ban có ghi hình ({screen})"

    # scheduling: the video choice follows the recording switch
    page.goto("/#/meetings/new")
    video = page.get_by_label("Ghi hình", exact=True)
    record = page.get_by_label("Ghi âm và lập biên bản")
    expect(record).to_be_checked()
    expect(video).to_be_enabled()
    expect(video).to_have_value("none")
    record.uncheck()
    expect(video).to_be_disabled()
    record.check()
    expect(video).to_be_enabled()
    video.select_option(label="Tất cả điểm cầu")
    page.get_by_label("Tên cuộc họp").fill(title)
    shot(page, screenshots, f"video-schedule-{screen}")
    page.get_by_role("button", name="Lên lịch", exact=True).click()
    row = page.locator("[data-group=upcoming] tr", has_text=title)
    expect(row).to_be_visible()
    meeting_id = int(row.get_attribute("data-meeting-id") or "0")
    got = _api(page, "GET", f"/api/meetings/{meeting_id}")["body"]
    assert got["record"] is True and got["record_video"] == "all", got
    assert "CHUMO" in got["units"]

    # the edit form shows the choice and saves it again
    page.goto(f"/#/meetings/{meeting_id}/edit")
    expect(page.get_by_label("Ghi hình", exact=True)).to_have_value("all")
    page.get_by_role("button", name="Lưu thay đổi").click()
    expect(page.locator("[data-group=upcoming] tr", has_text=title)).to_be_visible()
    assert _api(page, "GET", f"/api/meetings/{meeting_id}")["body"]["record_video"] == "all"

    # the meeting runs with a camera: a real bot of Chư Mố sends VP8 for a few seconds
    assert _api(page, "POST", f"/api/meetings/{meeting_id}/start")["status"] == 200
    _video_bot(server, meeting_id, "chumo")
    assert _api(page, "POST", f"/api/meetings/{meeting_id}/end")["status"] == 200
    deadline = time.monotonic() + 60
    while True:
        info = _api(page, "GET", f"/api/meetings/{meeting_id}/recording/tracks")["body"]
        if info["status"] == "finished" or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert info["status"] == "finished", info
    camera = [t for t in info["tracks"] if t["kind"] == "camera"]
    assert [t["unit_code"] for t in camera] == ["CHUMO"], info

    # the record page lists the camera track by unit name, on the meeting clock, with its download
    page.goto(f"/#/meetings/{meeting_id}")
    files = page.get_by_test_id("recording-files")
    item = files.locator("li[data-kind=camera]")
    expect(item).to_have_count(1)
    expect(item).to_contain_text("UBND xã Chư Mố")
    expect(item).to_contain_text("Camera")
    expect(item).not_to_contain_text("CHUMO")
    start = _clock(camera[0]["start_s"])
    expect(item).to_contain_text(f"bắt đầu {start} · dài {_clock(camera[0]['end_s'] - camera[0]['start_s'])}")
    assert files.locator("li[data-kind=audio]").count() == 0
    expect(page.get_by_test_id("subtitles-link")).to_have_count(0)  # no transcript yet
    link = item.get_by_role("link", name=f"Tải Camera của UBND xã Chư Mố lúc {start}")
    expect(link).to_be_visible()
    with page.expect_download() as wait:
        link.click()
    downloaded = Path(wait.value.path())
    data = downloaded.read_bytes()
    assert data[:4] == b"DKIF" and len(data) == camera[0]["size_bytes"]
    shot(page, screenshots, f"video-record-{screen}")

    # another commune sees the track listed but is not offered a file the server would refuse it
    other = _page(chromium.launch(), server, VIEWPORTS[screen], "iatul")
    other.goto(f"/#/meetings/{meeting_id}")
    listed = other.get_by_test_id("recording-files").locator("li[data-kind=camera]")
    expect(listed).to_contain_text("UBND xã Chư Mố")
    expect(listed.get_by_role("link")).to_have_count(0)

    # once the transcript exists, its subtitles are offered too
    db = Database(Settings(data_dir=server.data_dir, database_url=database_url, secret_key="e2e-secret"))
    try:
        with db.session() as session:
            transcripts.store_segments(
                session,
                meeting_id,
                [SegmentInput(0.0, 3.0, "Xã Chư Mố báo cáo tình hình chống hạn.", "CHUMO", "chumo")],
            )
    finally:
        db.dispose()
    page.reload()
    subtitles = page.get_by_test_id("subtitles-link")
    expect(subtitles).to_have_text("Tải phụ đề (.vtt)")
    href = subtitles.get_attribute("href") or ""
    vtt = page.evaluate("href => fetch(href).then(r => r.text())", href)
    assert vtt.startswith("WEBVTT") and "tình hình chống hạn" in vtt
