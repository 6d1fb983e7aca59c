"""A removed connection point stays out until the chair readmits it (issue 18 item 5), in real Chromium: the
chair removes a commune from the points panel; the commune's page says so; reopening the room is refused with
the server's message; the chair sees the point under "Điểm cầu đã mời ra" and lets it back in with
"Cho vào lại"; the commune then joins again and the chair sees it connected."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import Chromium, RunningServer
from tests.e2e.pages import chair_and_commune_in_room, join_room, shot

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.any_database]

COMMUNE = "UBND xã Chư Mố"


def test_a_removed_point_tries_to_rejoin_until_readmitted(
    server: RunningServer, chromium: Chromium, screenshots: Path
) -> None:
    passwords = {name: server.accounts[name].password for name in ("chutri", "chumo")}
    chair, commune, meeting_id = chair_and_commune_in_room(chromium.launch, server.base_url, passwords)

    people = chair.locator("#pane-people")
    row = people.locator("ul.people li", has_text=COMMUNE)
    expect(row).to_be_visible()
    chair.once("dialog", lambda dialog: dialog.accept())
    row.get_by_role("button", name=f"Mời {COMMUNE} ra khỏi cuộc họp").click()

    # the commune's page ends with why; the chair sees the point among the removed, not among the present
    expect(commune.get_by_test_id("room-ended")).to_contain_text("Chủ trì đã mời bạn ra khỏi cuộc họp.")
    removed = chair.get_by_test_id("removed-points")
    expect(removed).to_contain_text(COMMUNE)
    expect(chair.get_by_role("heading", name="Điểm cầu đã mời ra (1)")).to_be_visible()
    expect(row).to_have_count(0)
    shot(chair, screenshots, "room-removed-point-chair")

    # it tries to come back: refused, with the server's message, twice (a reload changes nothing)
    for _ in range(2):
        commune.goto("/#/meetings")
        commune.goto(f"/#/meetings/{meeting_id}/room")
        ended = commune.get_by_test_id("room-ended")
        expect(ended).to_contain_text("Chủ trì đã mời điểm cầu ra khỏi cuộc họp")
        expect(commune.get_by_test_id("room")).to_have_count(0)
    shot(commune, screenshots, "room-removed-point-refused")

    # the chair lets it back in: the list goes, and the commune joins again
    removed.get_by_role("button", name=f"Cho {COMMUNE} vào lại cuộc họp").click()
    expect(chair.get_by_test_id("removed-points")).to_have_count(0)
    join_room(commune, meeting_id)
    expect(people.locator("ul.people li", has_text=COMMUNE)).to_be_visible()
