"""Steps shared by the browser tests: log in through the form, call the API from inside a page, open the demo
meeting as the chair, join its room, take a screenshot of a screen."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from playwright.sync_api import Browser, Page, ViewportSize, expect

VIEWPORT: ViewportSize = {"width": 1366, "height": 768}
PHONE: ViewportSize = {"width": 390, "height": 844}


def new_page(browser: Browser, base_url: str, viewport: ViewportSize = VIEWPORT) -> Page:
    """A page in a fresh context (its own cookies) at 1366×768 (or ``viewport``), Vietnamese first."""
    context = browser.new_context(viewport=viewport, locale="vi-VN", base_url=base_url)
    context.set_default_timeout(15_000)
    return context.new_page()


def login(page: Page, username: str, password: str) -> None:
    page.goto("/")
    expect(page.get_by_role("heading", name="Đăng nhập")).to_be_visible()
    page.get_by_label("Tên đăng nhập").fill(username)
    page.get_by_label("Mật khẩu").fill(password)
    page.get_by_role("button", name="Đăng nhập").click()
    expect(page.get_by_test_id("current-user")).to_be_visible()


def api(page: Page, method: str, path: str, body: Any = None) -> Any:
    """A call from inside the page (its session cookie; Playwright's own requests would not reach the
    namespace): the JSON answer, which must be a success."""
    result = page.evaluate(
        """async ([method, path, body]) => {
             const r = await fetch(path, {method, headers: {"Content-Type": "application/json"},
                                          body: body === null ? undefined : JSON.stringify(body)});
             return {status: r.status, body: await r.json()};
           }""",
        [method, path, body],
    )
    assert result["status"] < 300, result
    return result["body"]


DEMO_TITLE = "Họp giao ban trực tuyến UBND huyện với các xã"


def open_demo_meeting(chair: Page) -> int:
    """On the chair's meeting list, open (khai mạc) the demo meeting; its id."""
    row = chair.locator("[data-group=upcoming] tr", has_text=DEMO_TITLE)
    meeting_id = int(row.get_attribute("data-meeting-id") or "0")
    row.get_by_role("button", name=f"Khai mạc cuộc họp: {DEMO_TITLE}").click()
    expect(chair.locator("[data-group=live] tr", has_text=DEMO_TITLE)).to_be_visible()
    return meeting_id


def join_room(page: Page, meeting_id: int) -> None:
    page.goto(f"/#/meetings/{meeting_id}/room")
    expect(page.get_by_test_id("room")).to_be_visible()
    expect(page.get_by_test_id("connection")).to_have_attribute("data-state", "connected")


def chair_and_commune_in_room(
    launch: Callable[[], Browser], base_url: str, passwords: dict[str, str]
) -> tuple[Page, Page, int]:
    """The chair (chutri) opens the demo meeting and joins its room, then Chư Mố (chumo) joins, each in a
    browser of its own; the two pages and the meeting's id."""
    chair = new_page(launch(), base_url)
    login(chair, "chutri", passwords["chutri"])
    meeting_id = open_demo_meeting(chair)
    commune = new_page(launch(), base_url)
    login(commune, "chumo", passwords["chumo"])
    join_room(chair, meeting_id)
    join_room(commune, meeting_id)
    return chair, commune, meeting_id


def shot(page: Page, folder: Path, name: str) -> Path:
    path = folder / f"{name}.png"
    page.evaluate("() => window.scrollTo(0, 0)")
    page.screenshot(path=str(path))
    return path


def no_horizontal_scroll(page: Page, where: str) -> None:
    """The page is no wider than its window (a phone's 390 px: nothing to scroll sideways)."""
    page.wait_for_timeout(100)  # the layout of what was just drawn
    widths = page.evaluate(
        "() => [document.documentElement.scrollWidth, document.body.scrollWidth, window.innerWidth]"
    )
    assert max(widths[0], widths[1]) <= widths[2], (
        f"{where}: page {widths[:2]} wider than the window {widths[2]}"
    )
