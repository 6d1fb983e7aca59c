"""The scheduling page at province scale in a real Chromium: the province clerk invites all 25 wards, all 110
communes or all 135 units of UBND tỉnh Gia Lai in one click, saves a selection as a group and invites it
again in one click, filters the 135 names without accents, and schedules; the API holds what was picked."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.conftest import REPO, Chromium, RunningServer
from tests.e2e.pages import login, new_page, shot
from tests.env import child_env

# first pass only (tests/conftest.py): the store code it passes through runs on PostgreSQL in the API tests
pytestmark = [pytest.mark.e2e, pytest.mark.any_database]

PASSWORD = "mat-khau-tinh-gia-lai"


def giaoban(server: RunningServer, database_url: str | None, *args: str, stdin: str | None = None) -> str:
    """The CLI on the running server's data dir and database (as an operator runs it beside the server)."""
    env = child_env()
    if database_url:
        env["GIAOBAN_DATABASE_URL"] = database_url
    done = subprocess.run(
        [sys.executable, "-m", "server.cli", *args, "--data-dir", str(server.data_dir)],
        cwd=REPO, env=env, input=stdin, capture_output=True, text=True, timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def selected(page: Page) -> list[str]:
    return page.eval_on_selector_all("input[name=unit]:checked", "els => els.map(e => e.value)")


def schedule(page: Page, title: str) -> dict:  # type: ignore[type-arg]
    page.get_by_label("Tên cuộc họp").fill(title)
    page.get_by_role("button", name="Lên lịch", exact=True).click()
    row = page.locator("[data-group=upcoming] tr", has_text=title)
    expect(row).to_be_visible()
    meeting_id = int(row.get_attribute("data-meeting-id") or "0")
    return page.evaluate("id => fetch('/api/meetings/' + id).then(r => r.json())", meeting_id)  # type: ignore[no-any-return]


def test_province_clerk_invites_a_level_or_a_saved_group_in_one_click(
    server: RunningServer, chromium: Chromium, screenshots: Path, database_url: str | None
) -> None:
    assert "Đã nạp 136 đơn vị." in giaoban(server, database_url, "seed", "gia-lai")
    giaoban(server, database_url, "user", "add", "tinh-thuky", "--role", "clerk", "--unit", "GIALAI",
            "--password-stdin", stdin=PASSWORD + "\n")
    browser = chromium.launch()
    page = new_page(browser, server.base_url)
    login(page, "tinh-thuky", PASSWORD)
    expect(page.locator("header.topbar")).to_contain_text("UBND tỉnh Gia Lai")

    t0 = time.perf_counter()
    page.get_by_role("link", name="Lên lịch cuộc họp").click()
    count = page.get_by_test_id("unit-count")
    expect(count).to_have_text("Đã chọn 135/135 điểm cầu")
    drawn_ms = (time.perf_counter() - t0) * 1000
    print(f"\n[province timing] schedule page with 135 units drawn: {drawn_ms:.0f} ms")
    assert page.locator("input[name=unit]").count() == 135
    expect(page.get_by_role("checkbox", name="UBND phường Quy Nhơn", exact=True)).to_be_checked()

    # one click per level: the 25 wards, the 110 communes, then the whole level
    page.get_by_role("button", name="Bỏ chọn").click()
    expect(count).to_have_text("Đã chọn 0/135 điểm cầu")
    page.get_by_role("button", name="Mời tất cả phường (25)").click()
    expect(count).to_have_text("Đã chọn 25/135 điểm cầu")
    wards = selected(page)
    assert "GL-QUYNHON" in wards and "GL-PLEIKU" in wards and "GL-IAPUCH" not in wards

    # the selection saved as a group, kept on the server for the province
    page.get_by_label("Tên nhóm mới").fill("Các phường toàn tỉnh")
    page.get_by_role("button", name="Lưu lựa chọn thành nhóm").click()
    status = page.get_by_test_id("group-status")
    expect(status).to_have_text("Đã lưu nhóm “Các phường toàn tỉnh” (25 điểm cầu).")
    groups = page.evaluate("fetch('/api/invitation-groups').then(r => r.json())")
    assert [(g["name"], g["unit"], sorted(g["units"])) for g in groups] == [
        ("Các phường toàn tỉnh", "GIALAI", sorted(wards))
    ]
    shot(page, screenshots, "schedule-province-group")

    page.get_by_role("button", name="Bỏ chọn").click()
    page.get_by_role("button", name="Mời tất cả xã (110)").click()
    expect(count).to_have_text("Đã chọn 110/135 điểm cầu")
    assert not set(selected(page)) & set(wards)

    # the group again, in one click, after clearing
    page.get_by_role("button", name="Bỏ chọn").click()
    page.get_by_label("Nhóm điểm cầu", exact=True).select_option(label="Các phường toàn tỉnh (25)")
    page.get_by_role("button", name="Mời nhóm").click()
    expect(count).to_have_text("Đã chọn 25/135 điểm cầu")
    assert sorted(selected(page)) == sorted(wards)

    # the filter finds names without their accents: "quy nhon" shows the five Quy Nhơn wards only
    page.get_by_label("Lọc theo tên đơn vị").fill("quy nhon")
    visible = page.locator(".unit-grid label:visible")
    expect(visible).to_have_count(5)
    expect(visible.first).to_contain_text("Quy Nhơn")
    page.get_by_label("Lọc theo tên đơn vị").fill("")
    expect(page.locator(".unit-grid label:visible")).to_have_count(135)

    m = schedule(page, "Giao ban các phường tháng 12")
    assert sorted(m["units"]) == sorted(wards) and m["chair_unit"] == "GIALAI"

    # the whole level below the province: 135 units in one meeting
    page.get_by_role("link", name="Lên lịch cuộc họp").click()
    expect(count).to_have_text("Đã chọn 135/135 điểm cầu")
    page.get_by_role("button", name="Bỏ chọn").click()
    page.get_by_role("button", name="Mời cả cấp trực thuộc (135)").click()
    expect(count).to_have_text("Đã chọn 135/135 điểm cầu")
    shot(page, screenshots, "schedule-province-135")
    t0 = time.perf_counter()
    m = schedule(page, "Giao ban cấp xã toàn tỉnh")
    submit_ms = (time.perf_counter() - t0) * 1000
    print(f"[province timing] submit of 135 units to the upcoming row: {submit_ms:.0f} ms")
    assert len(m["units"]) == 135 and len(m["roll_call"]) == 135
    names = {e["unit_name"] for e in m["roll_call"]}
    assert {"UBND phường Quy Nhơn", "UBND xã Krong", "UBND xã Đức Cơ"} <= names
