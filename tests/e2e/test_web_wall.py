"""The chair's wall of connection points in real Chromium: two communes publish their camera and a thumbnail
(the same camera track encoded at half size, ≤ 150 kb/s, ≤ 15 fps); the chairing unit's page shows one page
of thumbnails (one per page here), pages with "Trang sau", and each page's thumbnail plays at the thumbnail's
resolution; a commune's screen has no wall."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.conftest import Chromium, RunningServer
from tests.e2e.pages import join_room, login, new_page, open_demo_meeting, shot

pytestmark = [pytest.mark.e2e, pytest.mark.any_database]

# the fake camera is 320x240 (conftest FAKE_VIDEO_SIZE): its thumbnail at most 160 wide
THUMBNAIL_PLAYING_JS = """
(unit) => {
  const v = document.querySelector(`.wall-tile[data-unit="${unit}"] video`);
  if (!v || v.readyState < 2 || v.videoWidth === 0) return false;
  const seen = v.dataset.t0 === undefined ? null : Number(v.dataset.t0);
  v.dataset.t0 = String(v.currentTime);
  return seen !== null && v.currentTime > seen && v.videoWidth <= 160 ? v.videoWidth : false;
}
"""


# this page's own thumbnail sender: whether it is active (the server's `thumbnail` message) and bytes sent
OWN_THUMBNAIL_JS = """
async () => {
  const s = window.__giaoban.session;
  const tr = s.pc.getTransceivers().find((t) => t.mid !== null && s.ownRoles.get(t.mid) === "thumbnail");
  const encodings = tr.sender.getParameters().encodings;
  let bytes = 0;
  (await tr.sender.getStats()).forEach((r) => { if (r.type === "outbound-rtp") bytes += r.bytesSent; });
  return {active: encodings.length > 0 && encodings[0].active, bytes};
}
"""


def own_thumbnail(page: Page) -> dict[str, int | bool]:
    return page.evaluate(OWN_THUMBNAIL_JS)  # type: ignore[no-any-return]


def wait_thumbnail(page: Page, unit: str) -> int:
    """The width of `unit`'s thumbnail on the wall once its frames advance."""
    width = page.wait_for_function(THUMBNAIL_PLAYING_JS, arg=unit, timeout=30_000, polling=500)
    return int(width.json_value())


@pytest.mark.parametrize("server_extra_env", [{"GIAOBAN_WALL_PAGE_SIZE": "1"}], ids=["page-of-1"],
                         indirect=True)
def test_the_chairs_wall_shows_a_page_of_thumbnails_and_pages(
    server: RunningServer, chromium: Chromium, screenshots: Path
) -> None:
    chair = new_page(chromium.launch(), server.base_url)
    login(chair, "chutri", server.accounts["chutri"].password)
    meeting_id = open_demo_meeting(chair)
    communes = {}
    for username in ("chumo", "poto"):
        page = new_page(chromium.launch(), server.base_url)
        login(page, username, server.accounts[username].password)
        join_room(page, meeting_id)
        communes[username] = page
    join_room(chair, meeting_id)

    status = chair.get_by_test_id("wall-page")
    expect(chair.get_by_test_id("wall")).to_be_visible()
    expect(status).to_have_text("Trang 1/2 · 2 điểm cầu")
    expect(chair.locator(".wall-tile")).to_have_count(1)
    expect(chair.locator(".wall-tile figcaption")).to_have_text("UBND xã Chư Mố")
    first = wait_thumbnail(chair, "CHUMO")
    expect(chair.get_by_role("button", name="Trang trước")).to_be_disabled()
    shot(chair, screenshots, "wall-page-1")

    chair.get_by_role("button", name="Trang sau").click()
    expect(status).to_have_text("Trang 2/2 · 2 điểm cầu")
    expect(chair.locator(".wall-tile figcaption")).to_have_text("UBND xã Pờ Tó")
    second = wait_thumbnail(chair, "POTO")
    expect(chair.get_by_role("button", name="Trang sau")).to_be_disabled()
    print(f"thumbnails on the chair's wall: {first} px and {second} px wide (camera 320 px)")

    # Chư Mố is off the page shown: told so, it stops encoding its thumbnail; Pờ Tó's is on it and flows
    chumo, poto = communes["chumo"], communes["poto"]
    chumo.wait_for_function("async () => !(await (" + OWN_THUMBNAIL_JS + ")()).active", timeout=10_000)
    time.sleep(0.5)  # what was in flight when it stopped
    paused, sending = own_thumbnail(chumo), own_thumbnail(poto)
    time.sleep(1.5)
    assert own_thumbnail(chumo)["bytes"] == paused["bytes"]
    assert own_thumbnail(poto)["active"] and own_thumbnail(poto)["bytes"] > sending["bytes"]

    # the chair's full-size videos stay in the grid beside the wall (the communes' cameras)
    expect(chair.locator('.video-grid video[data-source="camera"]')).to_have_count(2)
    # a commune's screen stays simple: no wall, the hall and the other commune in its grid
    for page in communes.values():
        expect(page.get_by_test_id("wall")).to_be_hidden()
        expect(page.locator(".wall-tile")).to_have_count(0)
