"""The web client in a real Chromium: login, the meeting list, scheduling, starting, the connection-point
check, after the meeting (minutes preview, a conclusion turned into a task), a progress report with evidence,
the scoreboard and search."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import Chromium, RunningServer
from tests.e2e.pages import login, new_page, shot

# first pass only (tests/conftest.py): the store code it passes through runs on PostgreSQL in the API tests
pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.any_database]

TITLE = "Họp triển khai chuyển đổi số cấp xã"
CONCLUSION = "Xã Chư Mố hoàn thành số hóa hồ sơ hộ tịch trước ngày 15 tháng 12"


def test_login_schedule_check_end_task_search(server: RunningServer, chromium: Chromium, screenshots: Path,
                                              tmp_path: Path) -> None:
    browser = chromium.launch()
    page = new_page(browser, server.base_url)

    # a wrong password is refused with the server's Vietnamese message
    page.goto("/")
    page.get_by_label("Tên đăng nhập").fill("chutri")
    page.get_by_label("Mật khẩu").fill("sai-mat-khau")
    shot(page, screenshots, "01-login")
    page.get_by_role("button", name="Đăng nhập").click()
    expect(page.get_by_test_id("login-error")).to_be_visible()
    assert page.get_by_test_id("login-error").inner_text().strip()

    chair = server.accounts["chutri"]
    login(page, chair.username, chair.password)
    expect(page.get_by_test_id("current-user")).to_contain_text("Chủ trì")
    expect(page.locator("header.topbar")).to_contain_text("UBND huyện Ia Pa")
    # the demo meeting is listed as upcoming
    upcoming = page.locator("[data-group=upcoming]")
    expect(upcoming).to_contain_text("Họp giao ban trực tuyến UBND huyện với các xã")
    shot(page, screenshots, "02-meetings")

    # schedule a meeting with two communes and an agenda
    page.get_by_role("link", name="Lên lịch cuộc họp").click()
    page.get_by_label("Tên cuộc họp").fill("Họp triển khai chuyển đổi số cấp xã")
    page.get_by_label("Địa điểm").fill("Phòng họp trực tuyến UBND huyện")
    page.get_by_role("button", name="Bỏ chọn").click()
    page.get_by_role("checkbox", name="UBND xã Chư Mố").check()
    page.get_by_role("checkbox", name="UBND xã Ia Tul").check()
    page.get_by_label("Nội dung 1", exact=True).fill("Báo cáo tiến độ chuyển đổi số")
    page.get_by_role("button", name="Thêm nội dung").click()
    page.get_by_label("Nội dung 2", exact=True).fill("Phân công nhiệm vụ tháng tới")
    shot(page, screenshots, "03-schedule")
    page.get_by_role("button", name="Lên lịch", exact=True).click()

    row = page.locator("[data-group=upcoming] tr", has_text="Họp triển khai chuyển đổi số cấp xã")
    expect(row).to_be_visible()
    meeting_id = int(row.get_attribute("data-meeting-id") or "0")
    created = page.evaluate("id => fetch('/api/meetings/' + id).then(r => r.json())", meeting_id)
    assert created["units"] == ["CHUMO", "IATUL"]
    assert [a["title"] for a in created["agenda"]] == [
        "Báo cáo tiến độ chuyển đổi số", "Phân công nhiệm vụ tháng tới"]
    assert created["record"] is True

    # the chair starts it: it moves to "live"
    row.get_by_role("button", name="Khai mạc cuộc họp: Họp triển khai chuyển đổi số cấp xã").click()
    live_row = page.locator("[data-group=live] tr", has_text="Họp triển khai chuyển đổi số cấp xã")
    expect(live_row).to_be_visible()
    expect(live_row.locator("[data-status=live]")).to_be_visible()

    # a commune's technician runs the check: camera preview, level meter, HTTP and WebSocket round trips
    tech = new_page(browser, server.base_url)
    account = server.accounts["chumo"]
    login(tech, account.username, account.password)
    live = tech.locator("[data-group=live] tr", has_text=TITLE)
    live.get_by_role("button", name=f"Vào phòng họp: {TITLE}").click()
    expect(tech.get_by_role("heading", name="Kiểm tra điểm cầu")).to_be_visible()
    expect(tech.get_by_test_id("media-status")).to_contain_text("Micrô:")
    tech.wait_for_function("document.querySelector('video.preview').videoWidth > 0")
    assert tech.evaluate("document.querySelector('video.preview').videoWidth") == 320
    # the fake microphone plays a tone: the meter moves
    tech.wait_for_function("Number(document.querySelector('.level-bar').dataset.level) > 10")
    results = tech.get_by_test_id("net-results")
    expect(results).to_have_attribute("data-done", "1", timeout=20_000)
    ws_rtt = float(results.get_attribute("data-ws-rtt-ms") or "nan")
    assert 0 < ws_rtt < 1000
    shot(tech, screenshots, "04-check")

    # English fallback: the switch changes the interface language
    tech.get_by_label("Ngôn ngữ").select_option("en")
    expect(tech.get_by_role("heading", name="Connection point check")).to_be_visible()
    tech.get_by_label("Language").select_option("vi")
    expect(tech.get_by_role("heading", name="Kiểm tra điểm cầu")).to_be_visible()

    # the chair ends it; after the meeting: minutes preview, a conclusion turned into a task for Chư Mố
    page.once("dialog", lambda d: d.accept())  # "end the meeting for everyone?"
    page.get_by_role("button", name="Bế mạc cuộc họp: Họp triển khai chuyển đổi số cấp xã").click()
    past_row = page.locator("[data-group=past] tr", has_text="Họp triển khai chuyển đổi số cấp xã")
    expect(past_row).to_be_visible()
    past_row.get_by_role("link", name="Xem ghi âm và biên bản: Họp triển khai chuyển đổi số cấp xã").click()
    expect(page.get_by_role("heading", name="Biên bản (Mẫu 1.9)")).to_be_visible()
    expect(page.locator("article.minutes-preview")).to_contain_text("BIÊN BẢN")
    expect(page.locator("article.minutes-preview")).to_contain_text("UBND xã Chư Mố")
    page.get_by_text("Thêm kết luận").click()
    page.get_by_label("Nội dung kết luận").fill(CONCLUSION)
    page.get_by_label("Đơn vị thực hiện").select_option("CHUMO")
    page.get_by_label("Thời hạn").fill("2026-12-15")
    page.get_by_role("button", name="Lưu kết luận").click()
    conclusion = page.locator("ol.conclusions li", has_text="số hóa hồ sơ hộ tịch")
    expect(conclusion).to_be_visible()
    conclusion.get_by_role("button", name="Giao nhiệm vụ theo kết luận 1").click()
    expect(conclusion).to_contain_text("đã giao")
    shot(page, screenshots, "08-after-meeting")

    # the commune reports progress with an evidence file; the board shows it in its status column
    tech.goto("/#/tasks")
    card = tech.locator(".task-card", has_text="số hóa hồ sơ hộ tịch")
    expect(card).to_be_visible()
    assert card.get_attribute("data-status") in ("not_yet_due", "in_progress")
    card.get_by_role("button", name=f"Báo cáo tiến độ: {CONCLUSION}").click()
    tech.get_by_label("Nội dung báo cáo").fill("Đã số hóa 60% sổ hộ tịch từ năm 1990")
    tech.get_by_label("Tiến độ (%)").fill("60")
    evidence = tmp_path / "anh-kiem-tra.png"  # a real PNG: the server checks what a file is, not its name
    subprocess.run(["ffmpeg", "-loglevel", "error", "-f", "lavfi", "-i", "testsrc2=size=320x240",
                    "-frames:v", "1", str(evidence)], check=True)
    tech.get_by_label("Tệp minh chứng").set_input_files(str(evidence))
    shot(tech, screenshots, "09-task-report")
    tech.get_by_role("button", name="Gửi báo cáo").click()
    expect(tech.locator("dialog.report-dialog")).to_be_hidden()
    card = tech.locator(".task-card", has_text="số hóa hồ sơ hộ tịch")
    expect(card).to_have_attribute("data-state", "in_progress")
    shot(tech, screenshots, "10-tasks")
    task_id = int(card.get_attribute("data-task-id") or "0")
    detail = tech.evaluate(f"fetch('/api/tasks/{task_id}').then(r => r.json())")
    assert [(r["kind"], r["progress_pct"], r["note"]) for r in detail["reports"]] == [
        ("progress", 60, "Đã số hóa 60% sổ hộ tịch từ năm 1990")]
    assert [e["filename"] for e in detail["reports"][0]["evidence"]] == ["anh-kiem-tra.png"]

    # the scoreboard draws the commune's open task as a bar
    page.goto("/#/reports")
    bar = page.locator("svg.chart rect[data-series=in_progress]")
    expect(bar).to_have_count(1)
    expect(page.locator("tr[data-unit=CHUMO]")).to_be_visible()
    shot(page, screenshots, "11-scoreboard")

    # search finds the task, the hit's words highlighted
    page.get_by_role("link", name="Tra cứu").click()
    page.get_by_label("Từ khóa").fill("hộ tịch")
    page.get_by_role("button", name="Tìm", exact=True).click()
    hit = page.get_by_test_id("search-results").locator("li.hit[data-kind=task]")
    expect(hit).to_have_count(1)
    expect(hit.locator("mark").first).to_be_visible()
    assert "hộ tịch" in " ".join(hit.locator("mark").all_inner_texts()).lower()
    shot(page, screenshots, "12-search")
