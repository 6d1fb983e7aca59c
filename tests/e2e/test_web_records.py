"""After the meeting, in real Chromium: search a word of a recorded meeting's transcript and land on the right
second of its recording; the current transcript line follows playback; the agenda beside the player (each item
at its start on the meeting clock) seeks there and its playing item follows playback, under the player on a
phone; the clerk corrects a line; the transcription's progress is pushed to the open page.

The recording (Vietnamese sentences synthesised by tests/speech.py, Ogg Opus) and its transcript segments
(what the sentences say) are stored through the server's own services, as the recorder and the transcription
worker store them, before the browser looks at them."""

from __future__ import annotations

import hashlib
import subprocess
from pathlib import Path

import pytest
from playwright.sync_api import ViewportSize, expect
from sqlalchemy import select

from server.config import Settings
from server.db import Database
from server.models import AgendaItem, JobStatus, Transcript, utcnow
from server.services import recordings, transcripts
from server.services.transcripts import SegmentInput
from tests.e2e.conftest import Chromium, RunningServer
from tests.e2e.pages import VIEWPORT, login, new_page, shot
from tests.speech import shippable_utterance

# first pass only (tests/conftest.py): the store code it passes through runs on PostgreSQL in the API tests
pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.any_database]

DEMO_MEETING_ID = 1
# "Xã Chư Mố báo cáo tình hình chống hạn …", "Xã Ia Tul đề nghị huyện hỗ trợ thêm giống lúa …" (said by
# Ia Tul), "Toàn xã đã nạo vét được ba kênh mương nội đồng."
CLIPS = ("GB01", "GB05", "GB02")
LANDING_TOLERANCE_S = 0.5
PHONE: ViewportSize = {"width": 390, "height": 844}
# the agenda as the chair moved through it: each item opened where its clip starts (an index into CLIPS),
# the last never opened
AGENDA = (("Tình hình chống hạn", 0), ("Đề nghị hỗ trợ giống lúa", 1), ("Nạo vét kênh mương", 2),
          ("Các vấn đề khác", None))


def _duration_s(path: Path) -> float:
    return float(subprocess.run(["soxi", "-D", str(path)], check=True, capture_output=True, text=True).stdout)


def _clock(seconds: float) -> str:
    minutes, rest = divmod(int(seconds), 60)
    return f"{minutes:02d}:{rest:02d}"


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
            for old in session.scalars(select(AgendaItem).where(AgendaItem.meeting_id == DEMO_MEETING_ID)):
                session.delete(old)
            session.add_all(AgendaItem(meeting_id=DEMO_MEETING_ID, position=i, title=title,
                                       starts_at_s=None if clip is None else segments[clip].start_s)
                            for i, (title, clip) in enumerate(AGENDA))
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

    # the agenda beside the player: each item at its start, the one never opened without a time
    agenda = page.get_by_test_id("record-agenda")
    expect(agenda.get_by_role("heading")).to_have_text("Chương trình họp")  # the schedule page's word
    items = agenda.locator("li")
    expect(items).to_have_count(len(AGENDA))
    expect(items.locator(".agenda-title")).to_contain_text([title for title, _ in AGENDA])
    expect(items.locator(".time")).to_have_text([_clock(segments[c].start_s) if c is not None else "—"
                                                 for _, c in AGENDA])
    expect(agenda.locator("li.unplayed")).to_contain_text("không có trong bản ghi")
    playing = agenda.locator("li.current")
    expect(playing).to_have_count(1)
    expect(playing).to_contain_text(AGENDA[0][0])
    # a click seeks the player to the item's start; that item is the playing one
    last = segments[2]
    agenda.get_by_role("button", name=f"Xem từ {_clock(last.start_s)}: {AGENDA[2][0]}").click()
    position = page.evaluate("document.querySelector('#player').currentTime")
    assert last.start_s - 0.01 <= position <= last.start_s + LANDING_TOLERANCE_S, position
    expect(playing).to_contain_text(AGENDA[2][0])
    expect(playing).to_have_attribute("aria-current", "true")
    expect(current).to_contain_text("nạo vét được ba kênh mương")
    # back to the first item: the highlight follows playback into the second by itself
    agenda.get_by_role("button", name=f"Xem từ 00:00: {AGENDA[0][0]}").click()
    expect(playing).to_contain_text(AGENDA[0][0])
    assert page.evaluate("document.querySelector('#player').currentTime") < segments[1].start_s
    expect(playing).to_contain_text(AGENDA[1][0], timeout=15_000)
    assert page.evaluate("document.querySelector('#player').currentTime") >= segments[1].start_s
    # beside the player on this wide screen, under it on a phone
    player = page.locator("#player")
    wide, beside = player.bounding_box(), agenda.bounding_box()
    assert wide and beside, (wide, beside)
    assert beside["x"] >= wide["x"] + wide["width"] and beside["y"] < wide["y"] + 50, (wide, beside)
    page.set_viewport_size(PHONE)
    expect(agenda).to_be_visible()
    narrow, under = player.bounding_box(), agenda.bounding_box()
    assert narrow and under and under["y"] >= narrow["y"] + narrow["height"], (narrow, under)
    assert under["x"] >= 0 and under["x"] + under["width"] <= PHONE["width"], under
    shot(page, screenshots, "14b-record-agenda-phone")
    page.set_viewport_size(VIEWPORT)

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
