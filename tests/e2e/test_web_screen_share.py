"""Screen sharing in real Chromium: a commune shares its slides only once the chair allows it, everyone else
sees them large on the stage (frames advancing, the screen's own resolution), and stopping or withdrawing the
permission takes them off. Chromium's fake capture (``--use-fake-ui-for-media-stream`` with the fake devices)
answers ``getDisplayMedia`` with a generated screen (1366×768 in the headless browser)."""

from __future__ import annotations

import time
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.conftest import Chromium, RunningServer
from tests.e2e.pages import join_room, login, new_page, open_demo_meeting, shot

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.any_database]

STAGE_JS = """() => {
  const stage = document.querySelector('.stage');
  const video = stage && stage.querySelector('video.screen');
  if (!stage || stage.hidden || !video) return null;
  return { caption: stage.querySelector('figcaption').textContent, width: video.videoWidth,
           height: video.videoHeight, frames: video.getVideoPlaybackQuality().totalVideoFrames };
}"""
CAMERA_WIDTH = 320  # the fake camera (FAKE_VIDEO_SIZE in conftest); the fake screen is far wider


def stage(page: Page) -> dict[str, Any] | None:
    value: dict[str, Any] | None = page.evaluate(STAGE_JS)
    return value


def test_commune_shares_slides_with_the_chairs_permission(
    server: RunningServer, chromium: Chromium, screenshots: Any
) -> None:
    browser = chromium.launch()
    chair = new_page(browser, server.base_url)
    login(chair, "chutri", server.accounts["chutri"].password)
    meeting_id = open_demo_meeting(chair)
    commune = new_page(browser, server.base_url)
    login(commune, "chumo", server.accounts["chumo"].password)
    other = new_page(browser, server.base_url)
    login(other, "churang", server.accounts["churang"].password)
    for page in (chair, commune, other):
        join_room(page, meeting_id)

    # without the chair's permission there is nothing to press, and the server refuses the message anyway
    share = commune.locator("#btn-screen")
    expect(share).to_be_hidden()
    commune.evaluate("() => window.__giaoban.sig.send({ type: 'screen_share', on: true })")
    expect(commune.get_by_test_id("room-error")).to_contain_text("Cần chủ trì cho phép trình chiếu")

    chair.get_by_role("tab", name="Điểm cầu").click()
    chair.get_by_role("button", name="Cho trình chiếu UBND xã Chư Mố").click()
    expect(share).to_be_visible()
    share.click()
    expect(share).to_have_attribute("aria-pressed", "true")

    # the chair and the other commune see the slides large on the stage, with the sharer's name, moving
    for page in (chair, other):
        page.wait_for_function(
            f"() => {{ const s = ({STAGE_JS})(); return s && s.width > 0; }}", timeout=30_000
        )
        first = stage(page)
        assert first is not None
        assert first["caption"] == "Trình chiếu của UBND xã Chư Mố"
        assert first["width"] > 2 * CAMERA_WIDTH, first  # the screen, not the sharer's camera
        time.sleep(1.5)
        later = stage(page)
        assert later is not None and later["frames"] > first["frames"], (first, later)
    shot(other, screenshots, "08-screen-share")

    # the sharer stops: the stage closes everywhere
    share.click()
    expect(share).to_have_attribute("aria-pressed", "false")
    for page in (chair, other):
        expect(page.locator(".stage")).to_be_hidden()

    # sharing again, then the chair withdraws the permission: the share ends and the button goes
    share.click()
    other.wait_for_function(f"() => {{ const s = ({STAGE_JS})(); return s && s.width > 0; }}", timeout=30_000)
    chair.get_by_role("button", name="Thôi trình chiếu UBND xã Chư Mố").click()
    expect(share).to_be_hidden()
    expect(other.locator(".stage")).to_be_hidden()
    expect(chair.locator(".stage")).to_be_hidden()
