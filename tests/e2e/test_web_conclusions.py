"""The chair's conclusions in real Chromium, on a desktop screen (1366×768) and a phone (390×844): the
chair edits a conclusion in place (text, unit responsible, deadline typed as dd/mm/yyyy), sees "Đã lưu" and
the change after a reload; a wrong date is said next to the deadline field; a conclusion without a unit, or
without a deadline, turned into a task is an inline error under its buttons — never a browser dialog; a
commune that may read the conclusions gets no edit button. A transcript line the server refuses is said under
that line, not in a dialog.

The conclusions are made through the API from inside the page, as the clerk's form makes them; everything
else goes through the browser."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Dialog, Page, ViewportSize, expect

from server.clock import Clock  # 'today' in Vietnam, as the server counts deadlines
from server.config import Settings
from server.db import Database
from server.services import transcripts
from server.services.transcripts import SegmentInput
from tests.e2e.conftest import Chromium, RunningServer
from tests.e2e.pages import api, login, shot

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.any_database]

DEMO_MEETING_ID = 1
VIEWPORTS: dict[str, ViewportSize] = {
    "desktop": {"width": 1366, "height": 768},
    "phone": {"width": 390, "height": 844},
}
FIRST = "Các xã rà soát diện tích lúa thiếu nước"
FIRST_EDITED = "Xã Chư Mố rà soát 120 ha lúa thiếu nước, báo cáo phương án bơm tưới"
SECOND = "Xã Ia Tul đăng ký nhu cầu giống lúa vụ đông xuân"
SEGMENTS = [
    SegmentInput(0.0, 4.0, "Xã Chư Mố báo cáo tình hình chống hạn.", "CHUMO", "chumo"),
    SegmentInput(4.0, 8.0, "Xã Ia Tul đề nghị huyện hỗ trợ thêm giống lúa.", "IATUL", "iatul"),
]


def _page(browser: Browser, server: RunningServer, viewport: ViewportSize, username: str,
          dialogs: list[str]) -> Page:  # fmt: skip
    context = browser.new_context(viewport=viewport, locale="vi-VN", base_url=server.base_url)
    context.set_default_timeout(15_000)
    page = context.new_page()

    def seen(dialog: Dialog) -> None:  # an alert()/confirm() would be a failure of the page: noted, dismissed
        dialogs.append(f"{username}: {dialog.type}: {dialog.message}")
        dialog.dismiss()

    page.on("dialog", seen)
    login(page, username, server.accounts[username].password)
    return page


def _fits(page: Page, viewport: ViewportSize, what: str) -> None:
    box = page.locator(what).bounding_box()
    assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= viewport["width"] + 1, (what, box)


@pytest.mark.parametrize("screen", list(VIEWPORTS))
def test_chair_edits_conclusions_and_errors_are_inline(
    server: RunningServer, chromium: Chromium, screenshots: Path, screen: str
) -> None:
    viewport = VIEWPORTS[screen]
    dialogs: list[str] = []
    browser = chromium.launch()
    chair = _page(browser, server, viewport, "chutri", dialogs)
    deadline = Clock().today() + dt.timedelta(days=20)
    first = api(chair, "POST", f"/api/meetings/{DEMO_MEETING_ID}/conclusions",
                 {"text": FIRST, "assignee_unit": "IATUL", "deadline": deadline.isoformat()})  # fmt: skip
    second = api(chair, "POST", f"/api/meetings/{DEMO_MEETING_ID}/conclusions",
                  {"text": SECOND, "assignee_unit": "IATUL"})  # fmt: skip

    chair.goto(f"/#/meetings/{DEMO_MEETING_ID}")
    item = chair.locator(f"ol.conclusions li[data-conclusion-id='{first['id']}']")
    expect(item).to_contain_text(FIRST)
    expect(item).to_contain_text(deadline.strftime("%d/%m/%Y"))

    # the chair edits the first conclusion in place: the form holds what is saved, the date as dd/mm/yyyy
    item.get_by_role("button", name="Sửa kết luận 1").click()
    text = item.get_by_label("Nội dung kết luận")
    expect(text).to_have_value(FIRST)
    expect(item.get_by_label("Đơn vị thực hiện")).to_have_value("IATUL")
    day = item.get_by_label("Thời hạn")
    expect(day).to_have_value(deadline.strftime("%d/%m/%Y"))
    _fits(chair, viewport, f"ol.conclusions li[data-conclusion-id='{first['id']}']")

    # cancel leaves it as it was
    item.get_by_role("button", name="Hủy").click()
    expect(item.get_by_test_id("conclusion-text")).to_have_text(FIRST)

    # a day that does not exist is said next to the deadline field, and nothing is saved
    item.get_by_role("button", name="Sửa kết luận 1").click()
    text.fill(FIRST_EDITED)
    item.get_by_label("Đơn vị thực hiện").select_option("CHUMO")
    day.fill("31/02/2027")
    item.get_by_role("button", name="Lưu thay đổi").click()
    wrong_day = day.locator("xpath=following-sibling::*[@role='alert']")  # right under the field
    expect(wrong_day).to_have_text("Ngày không hợp lệ, nhập theo dạng ngày/tháng/năm, ví dụ 01/12/2026.")
    expect(day).to_have_attribute("aria-invalid", "true")
    assert api(chair, "GET", f"/api/meetings/{DEMO_MEETING_ID}/conclusions")[0]["text"] == FIRST

    # the right day: saved, said, shown, and still there after a reload
    day.fill("15/01/2027")
    item.get_by_role("button", name="Lưu thay đổi").click()
    expect(chair.get_by_test_id("conclusion-flash")).to_have_text("Đã lưu kết luận 1.")
    expect(item.get_by_test_id("conclusion-text")).to_have_text(FIRST_EDITED)
    expect(item).to_contain_text("Chư Mố")
    expect(item).to_contain_text("15/01/2027")
    shot(chair, screenshots, f"19-conclusion-saved-{screen}")
    chair.reload()
    expect(item.get_by_test_id("conclusion-text")).to_have_text(FIRST_EDITED)
    expect(item).to_contain_text("Chư Mố")
    expect(item).to_contain_text("15/01/2027")
    saved = api(chair, "GET", f"/api/meetings/{DEMO_MEETING_ID}/conclusions")[0]
    assert (saved["text"], saved["assignee_unit"], saved["deadline"]) == (FIRST_EDITED, "CHUMO", "2027-01-15")

    # the unit taken off: saved; turned into a task, the missing unit is an inline error, not an alert
    item.get_by_role("button", name="Sửa kết luận 1").click()
    item.get_by_label("Đơn vị thực hiện").select_option("")
    item.get_by_role("button", name="Lưu thay đổi").click()
    expect(chair.get_by_test_id("conclusion-flash")).to_have_text("Đã lưu kết luận 1.")
    expect(item).to_contain_text("Chưa có đơn vị thực hiện")
    item.get_by_role("button", name="Giao nhiệm vụ theo kết luận 1").click()
    expect(item.get_by_role("alert")).to_have_text(
        "Kết luận 1 chưa có đơn vị thực hiện: bấm “Sửa” để chọn đơn vị, rồi giao nhiệm vụ."
    )
    item.get_by_role("alert").scroll_into_view_if_needed()
    chair.screenshot(path=str(screenshots / f"19-conclusion-no-unit-{screen}.png"))

    # the second has a unit but no deadline: the server's refusal is said under its buttons too
    other = chair.locator(f"ol.conclusions li[data-conclusion-id='{second['id']}']")
    other.get_by_role("button", name="Giao nhiệm vụ theo kết luận 2").click()
    expect(other.get_by_role("alert")).to_have_text("Cần có thời hạn hoàn thành.")
    made = api(chair, "GET", f"/api/tasks?meeting={DEMO_MEETING_ID}")
    assert [task for task in made if task["conclusion_id"] in (first["id"], second["id"])] == []

    # given a deadline, the second one becomes a task for Ia Tul; the error goes with the retry
    other.get_by_role("button", name="Sửa kết luận 2").click()
    other.get_by_label("Thời hạn").fill(deadline.strftime("%d/%m/%Y"))
    other.get_by_role("button", name="Lưu thay đổi").click()
    expect(chair.get_by_test_id("conclusion-flash")).to_have_text("Đã lưu kết luận 2.")
    other.get_by_role("button", name="Giao nhiệm vụ theo kết luận 2").click()
    expect(other).to_contain_text("đã giao")
    expect(other.get_by_role("alert")).to_have_count(0)

    # a commune reads the conclusions but may not edit them
    commune = _page(browser, server, viewport, "chumo", dialogs)
    commune.goto(f"/#/meetings/{DEMO_MEETING_ID}")
    expect(commune.locator("ol.conclusions li")).to_have_count(2)
    expect(commune.locator("ol.conclusions").get_by_text(FIRST_EDITED)).to_be_visible()
    expect(commune.get_by_role("button", name="Sửa kết luận 1")).to_have_count(0)

    assert dialogs == []


@pytest.mark.parametrize("screen", list(VIEWPORTS))
def test_a_transcript_line_refused_is_said_under_it(
    server: RunningServer, chromium: Chromium, database_url: str | None, screen: str
) -> None:
    """The clerk empties a transcript line: the server refuses it, and the page says so under that line."""
    db = Database(Settings(data_dir=server.data_dir, database_url=database_url, secret_key="e2e-secret"))
    try:
        with db.session() as session:
            transcripts.store_segments(session, DEMO_MEETING_ID, SEGMENTS)
    finally:
        db.dispose()
    dialogs: list[str] = []
    clerk = _page(chromium.launch(), server, VIEWPORTS[screen], "thuky", dialogs)
    clerk.goto(f"/#/meetings/{DEMO_MEETING_ID}")
    clerk.get_by_role("button", name="Sửa gỡ băng").click()
    line = clerk.get_by_label("Sửa đoạn lúc 00:04")
    line.fill("")
    line.blur()
    refused = line.locator("xpath=following-sibling::*[@role='alert']")
    expect(refused).to_contain_text("Chưa lưu được đoạn này:")
    expect(line).to_have_attribute("aria-invalid", "true")
    stored = api(clerk, "GET", f"/api/meetings/{DEMO_MEETING_ID}/transcript")["segments"]
    assert [s["text"] for s in stored] == [s.text for s in SEGMENTS]

    # corrected: saved, the error gone
    line.fill("Xã Ia Tul đề nghị huyện hỗ trợ thêm 2 tấn giống lúa.")
    with clerk.expect_response(lambda r: "/api/segments/" in r.url and r.request.method == "PATCH") as saved:
        line.blur()
    assert saved.value.ok, saved.value.status
    expect(refused).to_have_count(0)
    expect(line).not_to_have_attribute("aria-invalid", "true")
    stored = api(clerk, "GET", f"/api/meetings/{DEMO_MEETING_ID}/transcript")["segments"]
    assert stored[1]["text"] == "Xã Ia Tul đề nghị huyện hỗ trợ thêm 2 tấn giống lúa."
    assert dialogs == []
