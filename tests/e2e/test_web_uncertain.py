"""The record page in real Chromium shows the lines the engine doubts greyed, with why and how sure it was
(Vietnamese), and the clerk's "Đúng" settles one. The segments are stored through the server's own service,
as the transcription worker stores them."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import expect

from server.config import Settings
from server.db import Database
from server.services import transcripts
from server.services.transcripts import SegmentInput
from tests.e2e.conftest import Chromium, RunningServer
from tests.e2e.pages import login, new_page, shot

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.any_database]

DEMO_MEETING_ID = 1


def _grey(rgb: str) -> bool:
    """A computed ``rgb(r, g, b)`` that is a mid grey (not the near-black of settled text)."""
    r, g, b = (int(x) for x in rgb[rgb.index("(") + 1 : rgb.index(")")].split(",")[:3])
    return max(r, g, b) - min(r, g, b) < 30 and 100 <= r <= 190


def _contrast_on_white(rgb: str) -> float:
    """WCAG contrast ratio of a computed ``rgb(r, g, b)`` text colour on the record card's white."""
    channels = (int(x) / 255 for x in rgb[rgb.index("(") + 1 : rgb.index(")")].split(",")[:3])
    linear = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    luminance = 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]
    return 1.05 / (luminance + 0.05)


def test_uncertain_lines_are_greyed_with_reason_and_confidence(
    server: RunningServer, chromium: Chromium, database_url: str | None, screenshots: Path
) -> None:
    db = Database(Settings(data_dir=server.data_dir, database_url=database_url, secret_key="e2e-secret"))
    try:
        with db.session() as session:
            transcripts.store_segments(session, DEMO_MEETING_ID, [
                SegmentInput(0.0, 3.0, "Xã Chư Mố báo cáo tình hình chống hạn.", "CHUMO", "chumo",
                             confidence=0.93),
                SegmentInput(3.0, 6.0, "Toàn xã đã nạo vét ba kênh mương.", "CHUMO", "chumo",
                             uncertain=True, uncertain_reason="loss", confidence=0.42),
                SegmentInput(6.0, 8.0, "Chư Mố Ia Pa", "CHUMO", "chumo",
                             uncertain=True, uncertain_reason="no_speech", confidence=0.01),
            ])
    finally:
        db.dispose()
    page = new_page(chromium.launch(), server.base_url)
    login(page, "thuky", server.accounts["thuky"].password)
    page.goto("/#/meetings/1")
    lines = page.locator("ol.transcript li")
    expect(lines).to_have_count(3)
    settled, lost, silence = lines.nth(0), lines.nth(1), lines.nth(2)
    expect(lost).to_have_class("uncertain")
    doubt = lost.get_by_test_id("segment-doubt")
    expect(doubt).to_have_text("Không chắc chắn — mất gói tin · độ tin cậy 42 %")
    doubt = silence.get_by_test_id("segment-doubt")
    expect(doubt).to_contain_text("có thể không phải lời nói · độ tin cậy 1 %")
    expect(settled.get_by_test_id("segment-doubt")).to_have_count(0)
    color = "(el) => getComputedStyle(el).color"
    assert _grey(lost.locator(".seg-text").evaluate(color))
    assert _contrast_on_white(lost.locator(".seg-text").evaluate(color)) >= 4.5  # still readable (WCAG AA)
    assert not _grey(settled.locator(".seg-text").evaluate(color))
    shot(page, screenshots, "16-transcript-uncertain")

    # the clerk listens and confirms the lost-packet line as it stands: it is settled, the other one stays
    page.get_by_role("button", name="Sửa gỡ băng").click()
    page.get_by_role("button", name="Xác nhận đoạn lúc 00:03 là đúng").click()
    expect(lines.nth(1).get_by_test_id("segment-doubt")).to_have_count(0)
    page.get_by_role("button", name="Xong").click()
    expect(lines.nth(1)).not_to_have_class("uncertain")
    assert not _grey(lines.nth(1).locator(".seg-text").evaluate(color))
    expect(lines.nth(2)).to_have_class("uncertain")
    page.wait_for_function("() => fetch('/api/meetings/1/transcript').then((r) => r.json())"
                           ".then((j) => !j.segments[1].uncertain && j.segments[2].uncertain)")
