"""The minutes in real Chromium, on a desktop screen (1366×768) and a phone (390×844): the clerk opens the
record page, rewrites the prefilled text of an agenda item, sees "Đã lưu" with the version; never sees an
approve button; corrects a transcript line and sees the draft flagged as stale; the chair opens the page,
approves after a confirmation naming the version (and, the draft being stale, after ticking that they know);
the sealed PDF holds the clerk's text. Then the page of a meeting that just ended: the recording "đang xử lý",
the transcription's progress with a time estimate, the transcript and the recording appearing by themselves.

The transcript segments are stored through the server's own services, as the transcription worker stores
them; everything else goes through the browser."""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import subprocess
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, ViewportSize, expect
from sqlalchemy import select

from server.config import Settings
from server.db import Database
from server.models import JobStatus, Meeting, MeetingStatus, Transcript, utcnow
from server.services import recordings, transcripts
from server.services.transcripts import SegmentInput
from tests.e2e.conftest import Chromium, RunningServer
from tests.e2e.pages import login, shot

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.any_database]

DEMO_MEETING_ID = 1
VIEWPORTS: dict[str, ViewportSize] = {
    "desktop": {"width": 1366, "height": 768},
    "phone": {"width": 390, "height": 844},
}
FIRST_ITEM = "Mục 1: Tình hình kinh tế - xã hội tháng"
SEGMENTS = [
    SegmentInput(0.0, 4.0, "Xã Chư Mố báo cáo tình hình chống hạn.", "CHUMO", "chumo"),
    SegmentInput(4.0, 8.0, "Xã Ia Tul đề nghị huyện hỗ trợ thêm giống lúa.", "IATUL", "iatul"),
]
EDITED = (
    "UBND xã Chư Mố báo cáo: 120 ha lúa thiếu nước, đã huy động 6 máy bơm dã chiến.\n"
    "- Đã nạo vét 3 kênh mương nội đồng;\n"
    "- Đề nghị huyện hỗ trợ kinh phí điện bơm tưới."
)
ADDED = "- Giao phòng Nông nghiệp và Môi trường theo dõi."


def _database(server: RunningServer, database_url: str | None) -> Database:
    return Database(Settings(data_dir=server.data_dir, database_url=database_url, secret_key="e2e-secret"))


def _page(browser: Browser, server: RunningServer, viewport: ViewportSize, username: str) -> Page:
    context = browser.new_context(viewport=viewport, locale="vi-VN", base_url=server.base_url)
    context.set_default_timeout(15_000)
    page = context.new_page()
    login(page, username, server.accounts[username].password)
    return page


def _pdf_text(data: bytes, folder: Path) -> str:
    path = folder / "sealed.pdf"
    path.write_bytes(data)
    out = subprocess.run(["pdftotext", "-enc", "UTF-8", str(path), "-"], check=True, capture_output=True)
    return " ".join(out.stdout.decode("utf-8").split())


def _fits(page: Page, viewport: ViewportSize) -> None:
    """The minutes card is no wider than the screen (nothing of it is cut off on a phone)."""
    box = page.get_by_test_id("minutes-card").bounding_box()
    assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= viewport["width"] + 1, box


@pytest.mark.parametrize("screen", list(VIEWPORTS))
def test_clerk_writes_and_chair_seals_the_minutes(
    server: RunningServer,
    chromium: Chromium,
    database_url: str | None,
    tmp_path: Path,
    screenshots: Path,
    screen: str,
) -> None:
    viewport = VIEWPORTS[screen]
    db = _database(server, database_url)
    try:
        with db.session() as session:
            transcripts.store_segments(session, DEMO_MEETING_ID, SEGMENTS)
    finally:
        db.dispose()
    browser = chromium.launch()
    clerk = _page(browser, server, viewport, "thuky")
    made = clerk.evaluate(  # from inside the page: Playwright's own requests would not reach the namespace
        "(body) => fetch('/api/meetings/1/conclusions', {method: 'POST', headers: {'Content-Type':"
        " 'application/json'}, body: JSON.stringify(body)}).then((r) => r.status)",
        {"text": "Các xã chủ động phương án chống hạn"},
    )
    assert made == 201

    # the clerk opens the minutes: the first item is prefilled from the transcript
    clerk.goto(f"/#/meetings/{DEMO_MEETING_ID}")
    card = clerk.get_by_test_id("minutes-card")
    status = card.get_by_test_id("minutes-status")
    expect(status).to_have_text("Bản xem trước")
    item = clerk.get_by_label(FIRST_ITEM)
    expect(item).to_have_value(re.compile("Xã Chư Mố báo cáo tình hình chống hạn"))
    expect(card.get_by_role("button", name=re.compile("Duyệt"))).to_have_count(0)  # the clerk cannot approve
    _fits(clerk, viewport)

    # writes the item's text: saved by itself, with the version
    item.fill(EDITED)
    saved = card.get_by_test_id("minutes-save-state")
    expect(saved).to_contain_text("Đã lưu — phiên bản 1")
    expect(status).to_have_text("Dự thảo · phiên bản 1")
    preview = card.get_by_test_id("minutes-item-content").first
    expect(preview).to_contain_text("Đã nạo vét 3 kênh mương nội đồng;")
    expect(card.get_by_test_id("draft-mark")).to_have_text("DỰ THẢO")
    item.fill(EDITED + "\n" + ADDED)
    expect(saved).to_contain_text("Đã lưu — phiên bản 2")
    expect(preview).to_contain_text("Giao phòng Nông nghiệp và Môi trường theo dõi.")
    card.screenshot(path=str(screenshots / f"17-minutes-clerk-saved-{screen}.png"))  # "Đã lưu" under the text
    expect(card.get_by_role("button", name=re.compile("Duyệt"))).to_have_count(0)

    # then corrects a transcript line: the draft is flagged as older than the transcript
    clerk.get_by_role("button", name="Sửa gỡ băng").click()
    line = clerk.get_by_label("Sửa đoạn lúc 00:00")
    line.fill("Xã Chư Mố báo cáo tình hình chống hạn tháng 12.")
    line.blur()
    stale = card.get_by_test_id("minutes-stale")
    expect(stale).to_contain_text(
        "Bản nháp phiên bản 2 được lập trước lần sửa gỡ băng hoặc kết luận gần nhất"
    )
    expect(stale.get_by_role("button", name="Lập lại từ gỡ băng và kết luận")).to_be_visible()
    stale.scroll_into_view_if_needed()
    shot(clerk, screenshots, f"18-minutes-stale-{screen}")

    # the chair opens the page: the stale draft, an approve button naming the version, a confirmation
    chair = _page(browser, server, viewport, "chutri")
    chair.goto(f"/#/meetings/{DEMO_MEETING_ID}")
    chair_card = chair.get_by_test_id("minutes-card")
    expect(chair_card.get_by_test_id("minutes-stale")).to_be_visible()
    expect(chair_card.get_by_test_id("minutes-item-content").first).to_contain_text("6 máy bơm dã chiến")
    approve = chair_card.get_by_role("button", name="Duyệt và ký phiên bản 2")
    approve.scroll_into_view_if_needed()
    expect(approve).to_be_in_viewport()
    _fits(chair, viewport)
    approve.click()
    dialog = chair.get_by_test_id("approve-dialog")
    expect(dialog).to_contain_text("Duyệt và ký số biên bản phiên bản 2?")
    confirm = dialog.get_by_role("button", name="Ký phiên bản 2")
    expect(confirm).to_be_disabled()  # stale: not without saying so
    dialog.get_by_label(re.compile("Tôi biết phiên bản 2 được lập trước")).check()
    expect(confirm).to_be_enabled()
    shot(chair, screenshots, f"19-minutes-approve-confirm-{screen}")
    confirm.click()
    expect(chair_card.get_by_test_id("minutes-status")).to_have_text("Đã ký duyệt · phiên bản 2")
    expect(chair_card.get_by_test_id("minutes-stale")).to_have_count(0)
    expect(chair_card.get_by_test_id("minutes-number")).to_have_text("Số: 01/BB-UBND")
    expect(chair_card.get_by_role("button", name=re.compile("Duyệt"))).to_have_count(0)
    shot(chair, screenshots, f"20-minutes-sealed-{screen}")

    # the sealed PDF holds exactly the clerk's text
    pdf = chair.evaluate(
        "() => fetch('/api/meetings/1/minutes.pdf?version=2').then((r) => r.arrayBuffer())"
        ".then((b) => Array.from(new Uint8Array(b)))"
    )
    text = _pdf_text(bytes(pdf), tmp_path)
    for expected in (
        "UBND xã Chư Mố báo cáo: 120 ha lúa thiếu nước, đã huy động 6 máy bơm dã chiến.",
        "- Đã nạo vét 3 kênh mương nội đồng;",
        "- Đề nghị huyện hỗ trợ kinh phí điện bơm tưới.",
        "- Giao phòng Nông nghiệp và Môi trường theo dõi.",
        "Số: 01/BB-UBND",
        "(Đã ký số)",
    ):
        assert expected in text, expected
    assert "DỰ THẢO" not in text and "đề nghị huyện hỗ trợ thêm giống lúa" not in text


def test_page_of_a_meeting_that_just_ended_updates_by_itself(
    server: RunningServer, chromium: Chromium, database_url: str | None, tmp_path: Path, screenshots: Path
) -> None:
    db = _database(server, database_url)
    folder = server.data_dir / "e2e-just-ended"
    folder.mkdir(parents=True)
    try:
        with db.session() as session:
            meeting = session.get(Meeting, DEMO_MEETING_ID)
            assert meeting is not None
            now = utcnow()
            meeting.status, meeting.record = MeetingStatus.ENDED, True
            meeting.started_at, meeting.ended_at = now - dt.timedelta(minutes=30), now
            recordings.begin(session, DEMO_MEETING_ID, folder)  # the recorder is still mixing
        page = _page(chromium.launch(), server, VIEWPORTS["desktop"], "thuky")
        page.goto(f"/#/meetings/{DEMO_MEETING_ID}")
        note = page.locator(".player-sticky [role=status]")
        expect(note).to_have_text(
            "Bản ghi âm đang xử lý: tệp nghe lại đang được tạo, trang sẽ tự cập nhật.", timeout=15_000
        )
        progress = page.get_by_test_id("transcript-progress")
        expect(progress).to_contain_text("Cuộc họp chưa có bản gỡ băng.")

        # the worker starts: the progress shows with a time estimate, without reloading the page
        with db.session() as session:
            session.add(
                Transcript(
                    meeting_id=DEMO_MEETING_ID,
                    status=JobStatus.RUNNING,
                    progress=0.4,
                    started_at=utcnow() - dt.timedelta(seconds=80),
                    heartbeat_at=utcnow(),
                )
            )
        expect(progress).to_contain_text("Đang gỡ băng: 40%", timeout=15_000)
        expect(page.get_by_test_id("transcript-eta")).to_have_text(re.compile(r"còn khoảng [23] phút"))
        shot(page, screenshots, "21-record-processing")

        # the recording is mixed and the transcript is done: both appear by themselves
        mix = folder / "mix.ogg"
        subprocess.run(
            [
                "ffmpeg",
                "-loglevel",
                "error",
                "-f",
                "lavfi",
                "-i",
                "sine=frequency=440:duration=3",
                "-c:a",
                "libopus",
                "-b:a",
                "32k",
                str(mix),
            ],
            check=True,
        )
        data = mix.read_bytes()
        with db.session() as session:
            recordings.finish(
                session, DEMO_MEETING_ID, [], mix.name, hashlib.sha256(data).hexdigest(), len(data)
            )
            transcripts.store_segments(session, DEMO_MEETING_ID, SEGMENTS)
            row = session.scalar(select(Transcript).where(Transcript.meeting_id == DEMO_MEETING_ID))
            assert row is not None
            row.status, row.progress, row.finished_at = JobStatus.DONE, 1.0, utcnow()
        expect(page.locator("ol.transcript li").first).to_contain_text("tình hình chống hạn", timeout=15_000)
        expect(note).to_contain_text("Thời lượng", timeout=20_000)
        expect(page.get_by_role("progressbar")).to_have_count(0)
    finally:
        db.dispose()
