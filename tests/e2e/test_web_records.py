"""After the meeting, in real Chromium: search a word of a recorded meeting's transcript and land on the right
second of its recording; the current transcript line follows playback; the clerk corrects a line; the
transcription's progress is pushed to the open page.

The recording (Vietnamese sentences synthesised by tests/speech.py, Ogg Opus) and its transcript segments
(what the sentences say) are stored through the server's own services, as the recorder and the transcription
worker store them, before the browser looks at them."""

from __future__ import annotations

import hashlib
import subprocess
from pathlib import Path

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from server.config import Settings
from server.db import Database
from server.models import JobStatus, Transcript, utcnow
from server.services import recordings, transcripts
from server.services.transcripts import SegmentInput
from tests.e2e.conftest import Chromium, RunningServer
from tests.e2e.pages import login, new_page, shot
from tests.speech import shippable_utterance

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

DEMO_MEETING_ID = 1
# "Xã Chư Mố báo cáo tình hình chống hạn …", "Xã Ia Tul đề nghị huyện hỗ trợ thêm giống lúa …" (said by
# Ia Tul), "Toàn xã đã nạo vét được ba kênh mương nội đồng."
CLIPS = ("GB01", "GB05", "GB02")
LANDING_TOLERANCE_S = 0.5


def _duration_s(path: Path) -> float:
    return float(subprocess.run(["soxi", "-D", str(path)], check=True, capture_output=True, text=True).stdout)


def _store_recording(server: RunningServer, database_url: str | None, tmp_path: Path) -> list[SegmentInput]:
    """The three clips one after another as the meeting's mixed recording, one segment per clip."""
    utterances = [shippable_utterance(c) for c in CLIPS]
    wavs = [u.path for u in utterances]
    joined = tmp_path / "joined.wav"
    subprocess.run(["sox", *map(str, wavs), "-r", "48000", str(joined)], check=True)
    folder = server.data_dir / "e2e-recording"
    folder.mkdir(parents=True)
    mix = folder / "mix.ogg"
    subprocess.run(["ffmpeg", "-loglevel", "error", "-i", str(joined), "-c:a", "libopus", "-b:a", "64k",
                    str(mix)], check=True)
    segments: list[SegmentInput] = []
    at = 0.0
    for utterance in utterances:
        length = _duration_s(utterance.path)
        unit = "IATUL" if utterance.key == "GB05" else "CHUMO"
        segments.append(SegmentInput(round(at, 2), round(at + length, 2), utterance.text, unit, unit.lower()))
        at += length
    db = Database(Settings(data_dir=server.data_dir, database_url=database_url, secret_key="e2e-secret"))
    try:
        with db.session() as session:
            recordings.begin(session, DEMO_MEETING_ID, folder)
            data = mix.read_bytes()
            digest = hashlib.sha256(data).hexdigest()
            recordings.finish(session, DEMO_MEETING_ID, [], mix.name, digest, len(data))
            transcripts.store_segments(session, DEMO_MEETING_ID, segments)
    finally:
        db.dispose()
    return segments


def test_search_lands_on_the_second_and_transcript_follows(server: RunningServer, chromium: Chromium,
                                                           database_url: str | None, tmp_path: Path,
                                                           screenshots: Path) -> None:
    segments = _store_recording(server, database_url, tmp_path)
    target = segments[1]  # "Xã Ia Tul đề nghị huyện hỗ trợ thêm giống lúa cho vụ đông xuân.", said by Ia Tul
    page = new_page(chromium.launch(), server.base_url)
    login(page, "thuky", server.accounts["thuky"].password)

    page.get_by_role("link", name="Tra cứu").click()
    page.get_by_label("Từ khóa").fill("giống lúa")
    page.get_by_label("Điểm cầu").select_option("IATUL")
    page.get_by_role("button", name="Tìm", exact=True).click()
    hit = page.get_by_test_id("search-results").locator("li.hit[data-kind=segment]")
    expect(hit).to_have_count(1, timeout=15_000)
    expect(hit.locator("mark").first).to_have_text("giống lúa")
    shot(page, screenshots, "13-search-transcript")
    minutes, seconds = divmod(int(target.start_s), 60)
    hit.get_by_role("link", name=f"Nghe từ {minutes:02d}:{seconds:02d}").click()

    # the player starts at the segment's second and the line it plays is the current one
    page.wait_for_function("() => { const a = document.querySelector('#player'); return a && !a.paused"
                           " && a.currentTime > 0; }")
    started = float(page.get_attribute("main", "data-seeked-to") or "nan")
    assert abs(started - target.start_s) < 0.01
    position = page.evaluate("document.querySelector('#player').currentTime")
    assert target.start_s - LANDING_TOLERANCE_S <= position <= target.end_s, position
    current = page.locator("ol.transcript li.current")
    expect(current).to_contain_text("giống lúa cho vụ đông xuân")
    expect(current).to_contain_text("UBND xã Ia Tul")
    # playback moves on to the next line by itself
    expect(current).to_contain_text("nạo vét được ba kênh mương", timeout=10_000)
    shot(page, screenshots, "14-transcript-playing")

    # clicking a line plays from there
    page.locator("ol.transcript li").first.get_by_role("button").click()
    expect(current).to_contain_text("tình hình chống hạn")
    assert page.evaluate("document.querySelector('#player').currentTime") < segments[0].end_s

    # the clerk corrects a line; the transcript keeps the edit
    page.get_by_role("button", name="Sửa gỡ băng").click()
    corrected = "Xã Chư Mố báo cáo tình hình chống hạn trong tháng qua."
    line = page.get_by_label("Sửa đoạn lúc 00:00")
    line.fill(corrected)
    line.blur()
    page.wait_for_function("(text) => fetch('/api/meetings/1/transcript').then((r) => r.json())"
                           ".then((j) => j.segments[0].text === text && j.segments[0].edited)", arg=corrected)
    page.get_by_role("button", name="Xong").click()
    expect(page.locator("ol.transcript li").first).to_contain_text(corrected)


def test_transcription_progress_is_pushed_to_the_open_page(server: RunningServer, chromium: Chromium,
                                                           database_url: str | None,
                                                           screenshots: Path) -> None:
    """A worker advances the meeting's transcription (written to the database as `giaoban worker` writes it);
    the open page's progress bar follows without fetching the transcript again, then shows the segments."""
    db = Database(Settings(data_dir=server.data_dir, database_url=database_url, secret_key="e2e-secret"))

    def advance(status: JobStatus, share: float) -> None:
        with db.session() as session:
            row = session.scalar(select(Transcript).where(Transcript.meeting_id == DEMO_MEETING_ID))
            if row is None:
                row = Transcript(meeting_id=DEMO_MEETING_ID)
                session.add(row)
            row.status, row.progress, row.heartbeat_at = status, share, utcnow()

    try:
        advance(JobStatus.RUNNING, 0.3)
        page = new_page(chromium.launch(), server.base_url)
        login(page, "thuky", server.accounts["thuky"].password)
        fetched: list[str] = []
        page.on("request", lambda r: fetched.append(r.url) if r.url.endswith("/transcript") else None)
        page.goto("/#/meetings/1")
        bar = page.get_by_role("progressbar")
        expect(bar).to_have_attribute("aria-valuenow", "30")
        loads = len(fetched)

        advance(JobStatus.RUNNING, 0.8)
        expect(bar).to_have_attribute("aria-valuenow", "80", timeout=10_000)
        expect(page.get_by_test_id("transcript-progress")).to_contain_text("Đang gỡ băng: 80%")
        assert len(fetched) == loads  # pushed, not polled
        shot(page, screenshots, "15-transcript-progress")

        with db.session() as session:
            transcripts.store_segments(session, DEMO_MEETING_ID, [
                SegmentInput(0.0, 3.0, "Xã Chư Mố báo cáo tình hình chống hạn.", "CHUMO", "chumo")])
        advance(JobStatus.DONE, 1.0)
        expect(page.locator("ol.transcript li")).to_contain_text("tình hình chống hạn", timeout=10_000)
        expect(page.get_by_role("progressbar")).to_have_count(0)
    finally:
        db.dispose()
