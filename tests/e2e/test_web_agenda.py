"""The chair moves the meeting through its agenda in real Chromium: the people pane's "Nội dung đang bàn"
lists the demo meeting's three items; choosing one sets its start on the meeting clock (read back from the
API, as the composed video's chapters and the minutes read it); every page says "Đang bàn: …"; a reload
shows the item the meeting is on; a commune's page has no list to choose from."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import Chromium, RunningServer
from tests.e2e.pages import chair_and_commune_in_room, shot

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.any_database]

SECOND_ITEM = "Kiểm điểm kết luận kỳ trước"


def test_the_chair_opens_an_agenda_item_and_its_start_is_kept(
    server: RunningServer, chromium: Chromium, screenshots: Path
) -> None:
    passwords = {name: server.accounts[name].password for name in ("chutri", "chumo")}
    chair, commune, meeting_id = chair_and_commune_in_room(chromium.launch, server.base_url, passwords)

    picker = chair.get_by_role("combobox", name="Nội dung đang bàn")
    expect(picker).to_have_value("")
    options = picker.locator("option")
    expect(options).to_have_count(4)  # none yet, then the three items
    expect(options.nth(2)).to_have_text(f"2. {SECOND_ITEM}")
    picker.select_option(label=f"2. {SECOND_ITEM}")
    starts = (
        "(id) => fetch(`/api/meetings/${id}`).then((r) => r.json())"
        ".then((m) => m.agenda.map((a) => a.starts_at_s))"
    )
    chair.wait_for_function(f"({starts})({meeting_id}).then((s) => s[1] !== null)", timeout=20_000)
    kept = chair.evaluate(starts, meeting_id)
    assert kept[0] is None and kept[2] is None and kept[1] >= 0, kept
    # everyone's page says which item the meeting is on
    expect(commune.get_by_test_id("agenda-now")).to_have_text(f"Đang bàn: 2. {SECOND_ITEM}")
    expect(chair.get_by_test_id("agenda-now")).to_have_text(f"Đang bàn: 2. {SECOND_ITEM}")
    shot(chair, screenshots, "room-agenda-chair")

    # the page opened again shows the item the meeting is on; its start stays
    chair.reload()
    expect(chair.get_by_test_id("connection")).to_have_attribute("data-state", "connected")
    picker = chair.get_by_role("combobox", name="Nội dung đang bàn")
    item_id = chair.evaluate(
        f"fetch('/api/meetings/{meeting_id}').then((r) => r.json()).then((m) => m.agenda[1].id)"
    )
    expect(picker).to_have_value(str(item_id))
    assert chair.evaluate(starts, meeting_id) == kept
    expect(commune.get_by_role("combobox", name="Nội dung đang bàn")).to_have_count(0)
