"""Issue 18 in a real Chromium, at 1366×768 and on a 390×844 phone: the chair reviews reported tasks (returns
one with a note, accepts one, opens the evidence in the dialog) and downloads the scoreboard as CSV and XLSX;
the chair schedules (a meeting without invited units is refused), edits and cancels meetings; an
English-language browser gets Vietnamese; search finds a meeting by its units' names. Every page is checked
for a horizontal scroll.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
import subprocess
from pathlib import Path

import pytest
from openpyxl import load_workbook
from playwright.sync_api import Browser, Page, ViewportSize, expect

from server.clock import Clock  # 'today' in Vietnam, as the server counts deadlines
from tests.e2e.conftest import Chromium, RunningServer
from tests.e2e.pages import api, login, shot

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.any_database]

VIEWPORTS: dict[str, ViewportSize] = {
    "desktop": {"width": 1366, "height": 768},
    "phone": {"width": 390, "height": 844},
}
COMMUNES = ["Chư Mố", "Chư Răng", "Ia Broăi", "Ia Kdăm", "Ia Mrơn", "Ia Trốk", "Ia Tul", "Kim Tân", "Pờ Tó"]
DMY_HM = re.compile(r"^\d{2}:\d{2} \d{2}/\d{2}/\d{4}$")


def open_page(browser: Browser, base_url: str, viewport: ViewportSize, locale: str = "vi-VN") -> Page:
    context = browser.new_context(
        viewport=viewport,
        locale=locale,
        timezone_id="Asia/Ho_Chi_Minh",
        base_url=base_url,
        accept_downloads=True,
    )
    context.set_default_timeout(15_000)
    page = context.new_page()
    # an alert() or confirm() would be a failure of the page: every message is shown in it
    page.on("dialog", lambda d: pytest.fail(f"unexpected browser dialog: {d.message}"))
    return page


def no_horizontal_scroll(page: Page, where: str) -> None:
    page.wait_for_timeout(100)  # the layout of what was just drawn
    widths = page.evaluate(
        "() => [document.documentElement.scrollWidth, document.body.scrollWidth, window.innerWidth]"
    )
    assert max(widths[0], widths[1]) <= widths[2], (
        f"{where}: page {widths[:2]} wider than the window {widths[2]}"
    )


def go(page: Page, phone: bool, link: str) -> None:
    """Follow a link of the main navigation; on a phone it is behind the menu button."""
    nav = page.get_by_role("navigation", name="Điều hướng chính")
    if phone:
        expect(nav).to_be_hidden()
        page.get_by_role("button", name="Mở trình đơn").click()
        expect(page.get_by_role("button", name="Mở trình đơn")).to_have_attribute("aria-expanded", "true")
    nav.get_by_role("link", name=link).click()


@pytest.mark.parametrize("size", list(VIEWPORTS))
def test_chair_reviews_reported_tasks_and_exports_the_scoreboard(
    server: RunningServer, chromium: Chromium, screenshots: Path, tmp_path: Path, size: str
) -> None:
    phone = size == "phone"
    browser = chromium.launch()
    clerk = open_page(browser, server.base_url, VIEWPORTS[size])
    login(clerk, "thuky", server.accounts["thuky"].password)
    deadline = (Clock().today() + dt.timedelta(days=10)).isoformat()
    returned = api(clerk, "POST", "/api/tasks", {"title": "Rà soát hộ nghèo năm 2026", "lead_unit": "CHUMO",
                                                 "deadline": deadline})  # fmt: skip
    accepted = api(clerk, "POST", "/api/tasks", {"title": "Báo cáo tiêm chủng mở rộng", "lead_unit": "CHUMO",
                                                 "deadline": deadline})  # fmt: skip

    # the commune reports both done, one with a photo through the form (its own file button, in Vietnamese)
    commune = open_page(browser, server.base_url, VIEWPORTS[size])
    login(commune, "chumo", server.accounts["chumo"].password)
    go(commune, phone, "Nhiệm vụ")
    card = commune.locator(f".task-card[data-task-id='{returned['id']}']")
    card.get_by_role("button", name="Báo cáo tiến độ: Rà soát hộ nghèo năm 2026").click()
    commune.get_by_label("Loại báo cáo").select_option("done")
    commune.get_by_label("Nội dung báo cáo").fill("Đã rà soát 412 hộ, danh sách kèm theo")
    expect(commune.locator("dialog.report-dialog")).to_contain_text("Chưa chọn tệp")
    expect(commune.locator("dialog.report-dialog")).to_contain_text("mỗi tệp không quá 20 MB")
    photo = tmp_path / "danh-sach-ho-ngheo.png"
    subprocess.run(["ffmpeg", "-loglevel", "error", "-f", "lavfi", "-i", "testsrc2=size=320x240",
                    "-frames:v", "1", str(photo)], check=True)  # fmt: skip
    commune.get_by_label("Tệp minh chứng").set_input_files(str(photo))
    expect(commune.locator("dialog.report-dialog")).to_contain_text("Đã chọn 1 tệp: danh-sach-ho-ngheo.png")
    no_horizontal_scroll(commune, "report dialog")
    shot(commune, screenshots, f"18-{size}-task-report")
    commune.get_by_role("button", name="Gửi báo cáo").click()
    expect(commune.get_by_test_id("task-flash")).to_have_text("Đã gửi báo cáo: Rà soát hộ nghèo năm 2026")
    expect(card).to_have_attribute("data-state", "reported_done")
    status = commune.evaluate(
        """id => { const f = new FormData(); f.set("kind", "done");
                   f.set("note", "Đạt 98% trẻ dưới 1 tuổi");
                   return fetch(`/api/tasks/${id}/reports`, {method: "POST", body: f})
                     .then(r => r.status); }""",
        accepted["id"],
    )
    assert status == 201

    # the chair: a "Xem xét" button on each reported task
    chair = open_page(browser, server.base_url, VIEWPORTS[size])
    login(chair, "chutri", server.accounts["chutri"].password)
    go(chair, phone, "Nhiệm vụ")
    first = chair.locator(f".task-card[data-task-id='{returned['id']}']")
    expect(first).to_have_attribute("data-state", "reported_done")
    no_horizontal_scroll(chair, "task board")
    first.get_by_role("button", name="Xem xét báo cáo hoàn thành: Rà soát hộ nghèo năm 2026").click()
    dialog = chair.locator("dialog.report-dialog")
    history = dialog.get_by_test_id("review-history")
    expect(history).to_contain_text("Đã hoàn thành")
    expect(history).to_contain_text("UBND xã Chư Mố")  # the unit's name, not its code
    expect(history).not_to_contain_text("CHUMO")
    expect(history).to_contain_text("Đã rà soát 412 hộ, danh sách kèm theo")
    image = history.get_by_role("img", name="Xem minh chứng danh-sach-ho-ngheo.png")
    expect(image).to_be_visible()
    chair.wait_for_function("img => img.complete && img.naturalWidth === 320", arg=image.element_handle())
    no_horizontal_scroll(chair, "review dialog")
    shot(chair, screenshots, f"18-{size}-task-review")
    # returning needs a reason: an inline message, the task unchanged
    dialog.get_by_role("button", name="Trả lại").click()
    expect(dialog.get_by_role("alert")).to_have_text("Trả lại nhiệm vụ cần ghi rõ lý do trong ô nhận xét.")
    expect(dialog.get_by_label("Nhận xét")).to_be_focused()
    dialog.get_by_label("Nhận xét").fill("Thiếu danh sách hộ cận nghèo, đề nghị bổ sung")
    dialog.get_by_role("button", name="Trả lại").click()
    expect(dialog).to_be_hidden()
    expect(chair.get_by_test_id("task-flash")).to_have_text("Đã trả lại nhiệm vụ: Rà soát hộ nghèo năm 2026")
    expect(first).to_have_attribute("data-state", "returned")
    expect(first.get_by_role("button", name=re.compile("^Xem xét"))).to_have_count(0)

    second = chair.locator(f".task-card[data-task-id='{accepted['id']}']")
    second.get_by_role("button", name="Xem xét báo cáo hoàn thành: Báo cáo tiêm chủng mở rộng").click()
    expect(dialog.get_by_test_id("review-history")).to_contain_text("Đạt 98% trẻ dưới 1 tuổi")
    dialog.get_by_label("Nhận xét").fill("Đạt yêu cầu")
    dialog.get_by_role("button", name="Nghiệm thu").click()
    expect(chair.get_by_test_id("task-flash")).to_have_text(
        "Đã nghiệm thu nhiệm vụ: Báo cáo tiêm chủng mở rộng"
    )
    expect(second).to_have_attribute("data-state", "accepted")
    expect(second).to_have_attribute("data-status", "completed_on_time")
    shot(chair, screenshots, f"18-{size}-tasks-reviewed")
    detail = api(chair, "GET", f"/api/tasks/{returned['id']}")
    assert [(r["kind"], r["note"]) for r in detail["reports"]][-1] == (
        "return", "Thiếu danh sách hộ cận nghèo, đề nghị bổ sung")  # fmt: skip
    # the commune is told why
    notes = api(commune, "GET", "/api/notifications")
    assert any("Thiếu danh sách hộ cận nghèo" in n["text"] for n in notes if n["kind"] == "task_returned")

    # the scoreboard: every commune listed (those with no task too), percentages written the Vietnamese way
    go(chair, phone, "Bảng theo dõi")
    for name in COMMUNES:
        expect(chair.locator("tbody tr", has_text=f"UBND xã {name}")).to_have_count(1)
    chumo = chair.locator("tr[data-unit=CHUMO]")
    expect(chumo.locator("td").first).to_have_text("2")  # assigned
    expect(chumo.locator("td").last).to_have_text("0,0 %")
    expect(chair.locator("tr[data-unit=KIMTAN] td").last).to_have_text("0,0 %")
    expect(chair.get_by_test_id("score-period")).to_contain_text(f"đến {Clock().today():%d/%m/%Y}")
    no_horizontal_scroll(chair, "scoreboard")
    shot(chair, screenshots, f"18-{size}-scoreboard")

    with chair.expect_download() as csv_download:
        chair.get_by_role("link", name="Tải bảng theo dõi dạng CSV").click()
    raw = Path(csv_download.value.path()).read_bytes()
    assert csv_download.value.suggested_filename.endswith(".csv")
    assert raw.startswith(b"\xef\xbb\xbf")  # Excel reads the accents right
    rows = list(csv.reader(io.StringIO(raw.decode("utf-8-sig")), delimiter=";"))
    assert rows[0][:3] == ["Mã đơn vị", "Đơn vị", "Được giao"]
    by_code = {r[0]: r for r in rows[1:]}
    # assigned 2: one accepted on time, one returned (in progress again)
    assert by_code["CHUMO"][1:] == ["UBND xã Chư Mố", "2", "1", "0", "1", "0", "0,0"]
    assert by_code["KIMTAN"][2] == "0" and len(rows) == 1 + len(COMMUNES) + 1
    assert rows[-1][1] == "Tổng cộng"

    with chair.expect_download() as xlsx_download:
        chair.get_by_role("link", name="Tải bảng theo dõi dạng Excel").click()
    assert xlsx_download.value.suggested_filename.endswith(".xlsx")
    sheet = load_workbook(io.BytesIO(Path(xlsx_download.value.path()).read_bytes())).active
    assert sheet is not None
    values = [list(r) for r in sheet.iter_rows(values_only=True)]
    assert values[0][0] == "BÁO CÁO TÌNH HÌNH THỰC HIỆN NHIỆM VỤ THEO ĐƠN VỊ"
    assert str(values[1][0]).startswith("Kỳ báo cáo: từ ngày 01/01/")
    assert values[3][:2] == ["Mã đơn vị", "Đơn vị"]
    assert [r[1] for r in values[4:-1]] == [f"UBND xã {n}" for n in COMMUNES]
    assert sheet.column_dimensions["B"].width >= 30


@pytest.mark.parametrize("size", list(VIEWPORTS))
def test_scheduling_refuses_no_units_edits_and_cancels(
    server: RunningServer, chromium: Chromium, screenshots: Path, size: str
) -> None:
    phone = size == "phone"
    browser = chromium.launch()
    page = open_page(browser, server.base_url, VIEWPORTS[size])
    login(page, "chutri", server.accounts["chutri"].password)
    no_horizontal_scroll(page, "meetings")
    title = "Họp chuyên đề nông thôn mới"

    def schedule(day: str, time: str, units: list[str]) -> None:
        page.get_by_role("link", name="Lên lịch cuộc họp").click()
        page.get_by_label("Tên cuộc họp").fill(title)
        page.get_by_label("Ngày họp").fill(day)
        page.get_by_label("Giờ họp").fill(time)
        page.get_by_role("button", name="Bỏ chọn").click()
        for unit in units:
            page.get_by_role("checkbox", name=unit).check()
        page.get_by_role("button", name="Lên lịch", exact=True).click()

    # nothing invited: refused in the form, in words, the page stays
    schedule("05/01/2027", "14:30", [])
    expect(page.get_by_test_id("schedule-error")).to_have_text("Cần mời ít nhất một điểm cầu dự họp.")
    expect(page.get_by_role("heading", name="Lên lịch cuộc họp")).to_be_visible()
    no_horizontal_scroll(page, "schedule form")
    shot(page, screenshots, f"18-{size}-schedule-refused")
    # and by the server, whatever sends it
    r = page.evaluate("""() => fetch('/api/meetings', {method: 'POST',
          headers: {'Content-Type': 'application/json'},
          body: JSON.stringify({title: 'X', chair_unit: 'IAPA', units: [],
                                starts_at: '2027-01-05T08:00:00+07:00'})})
        .then(async r => [r.status, (await r.json()).error.message])""")
    assert r == [422, "Cần mời ít nhất một điểm cầu dự họp."]

    page.get_by_role("checkbox", name="UBND xã Chư Mố").check()
    page.get_by_role("checkbox", name="UBND xã Ia Tul").check()
    page.get_by_role("button", name="Lên lịch", exact=True).click()
    flash = page.get_by_test_id("meeting-flash")
    expect(flash).to_contain_text(f"Đã lên lịch cuộc họp: {title}")
    expect(flash).to_contain_text("14:30 05/01/2027")
    # the same title again, the next morning: the two rows are told apart by number and time
    schedule("06/01/2027", "08:00", ["UBND xã Pờ Tó"])
    expect(flash).to_contain_text("08:00 06/01/2027")
    rows = page.locator("[data-group=upcoming] tr", has_text=title)
    expect(rows).to_have_count(2)
    first_id, second_id = sorted(int(rows.nth(i).get_attribute("data-meeting-id") or "0") for i in range(2))
    first = page.locator(f"tr[data-meeting-id='{first_id}']")
    second = page.locator(f"tr[data-meeting-id='{second_id}']")
    expect(first.get_by_test_id("meeting-number")).to_have_text(f"Số {first_id}")
    expect(second.get_by_test_id("meeting-number")).to_have_text(f"Số {second_id}")
    expect(first).to_contain_text("14:30 05/01/2027")
    expect(second).to_contain_text("08:00 06/01/2027")
    no_horizontal_scroll(page, "meetings with two of one title")
    shot(page, screenshots, f"18-{size}-two-meetings")

    # edit the first: 15:00, Pờ Tó instead of Ia Tul; the form comes back filled in
    first.get_by_role("link", name=f"Sửa cuộc họp: {title} (Số {first_id}, 14:30 05/01/2027)").click()
    expect(page.get_by_role("heading", name="Sửa cuộc họp")).to_be_visible()
    expect(page.get_by_label("Ngày họp")).to_have_value("05/01/2027")
    expect(page.get_by_label("Giờ họp")).to_have_value("14:30")
    expect(page.get_by_role("checkbox", name="UBND xã Ia Tul")).to_be_checked()
    expect(page.get_by_role("checkbox", name="UBND xã Kim Tân")).not_to_be_checked()
    page.get_by_label("Giờ họp").fill("15:00")
    page.get_by_role("checkbox", name="UBND xã Ia Tul").uncheck()
    page.get_by_role("checkbox", name="UBND xã Pờ Tó").check()
    no_horizontal_scroll(page, "edit form")
    page.get_by_role("button", name="Lưu thay đổi").click()
    expect(flash).to_contain_text(f"Đã lưu thay đổi cuộc họp: {title}")
    expect(first).to_contain_text("15:00 05/01/2027")
    saved = api(page, "GET", f"/api/meetings/{first_id}")
    assert saved["units"] == ["CHUMO", "POTO"]

    # the communes are told: Chư Mố of the new time, Ia Tul that it is no longer invited
    commune = open_page(browser, server.base_url, VIEWPORTS[size])
    login(commune, "chumo", server.accounts["chumo"].password)
    texts = [
        n["text"]
        for n in api(commune, "GET", "/api/notifications")
        if n["data"].get("meeting_id") == first_id
    ]
    assert any("15:00 ngày 05/01/2027" in text for text in texts), texts
    # ... and sees it in the header: unread count, the list, read once opened
    bell = commune.get_by_role("button", name=re.compile("^Thông báo"))
    expect(bell).to_have_accessible_name(re.compile(r"^Thông báo: \d+ chưa đọc$"))
    unread = int(re.sub(r"\D", "", bell.get_attribute("aria-label") or ""))
    bell.click()
    panel = commune.get_by_test_id("notice-panel")
    notice = panel.locator("li", has_text="15:00 ngày 05/01/2027")
    expect(notice).to_contain_text(f"Cuộc họp «{title}» đã được điều chỉnh: 15:00 ngày 05/01/2027")
    no_horizontal_scroll(commune, "notifications")
    shot(commune, screenshots, f"18-{size}-notifications")
    notice.get_by_role("link").click()
    expect(notice).not_to_have_class("unread")
    expected = f"Thông báo: {unread - 1} chưa đọc" if unread > 1 else "Thông báo"
    expect(bell).to_have_accessible_name(expected)
    iatul = open_page(browser, server.base_url, VIEWPORTS[size])
    login(iatul, "iatul", server.accounts["iatul"].password)
    iatul.get_by_role("button", name=re.compile("^Thông báo")).click()
    expect(iatul.get_by_test_id("notice-panel")).to_contain_text(
        f"Đơn vị không còn được mời dự cuộc họp «{title}» lúc 15:00 ngày 05/01/2027."
    )

    # cancel the second, with a reason; it moves to the past meetings as cancelled
    second.get_by_role("button", name=f"Hủy cuộc họp: {title} (Số {second_id}").click()
    cancel = page.locator("dialog.report-dialog")
    cancel.get_by_label("Lý do hủy (gửi tới các điểm cầu)").fill("Trùng lịch họp của tỉnh")
    no_horizontal_scroll(page, "cancel dialog")
    shot(page, screenshots, f"18-{size}-cancel")
    cancel.get_by_role("button", name="Xác nhận hủy họp").click()
    expect(flash).to_contain_text(f"Đã hủy cuộc họp: {title} (Số {second_id}")
    past = page.locator(f"[data-group=past] tr[data-meeting-id='{second_id}']")
    expect(past.locator("[data-status=cancelled]")).to_have_text("Đã hủy")
    expect(page.locator(f"[data-group=upcoming] tr[data-meeting-id='{second_id}']")).to_have_count(0)
    poto = open_page(browser, server.base_url, VIEWPORTS[size])
    login(poto, "poto", server.accounts["poto"].password)
    cancelled = [n for n in api(poto, "GET", "/api/notifications") if n["kind"] == "meeting_cancelled"]
    assert [n["data"]["meeting_id"] for n in cancelled] == [second_id]
    assert cancelled[0]["text"].endswith("Lý do: Trùng lịch họp của tỉnh.")
    if phone:
        go(page, phone, "Cuộc họp")
        expect(page.get_by_role("heading", name="Cuộc họp", exact=True)).to_be_visible()


@pytest.mark.parametrize("size", list(VIEWPORTS))
def test_an_english_browser_gets_vietnamese_and_finds_meetings_by_unit(
    server: RunningServer, chromium: Chromium, screenshots: Path, size: str
) -> None:
    phone = size == "phone"
    browser = chromium.launch()
    page = open_page(browser, server.base_url, VIEWPORTS[size], locale="en-US")
    assert page.evaluate("navigator.language") == "en-US"
    page.goto("/")
    expect(page.get_by_role("heading", name="Đăng nhập")).to_be_visible()
    no_horizontal_scroll(page, "login")
    login(page, "chutri", server.accounts["chutri"].password)
    expect(page.get_by_role("heading", name="Cuộc họp", exact=True)).to_be_visible()
    expect(page.locator("html")).to_have_attribute("lang", "vi")
    # dates day/month/year and a 24-hour clock, whatever the browser's locale; the status in words
    demo = page.locator("[data-group=upcoming] tbody tr").first
    when = demo.locator("td").nth(1).inner_text().strip()
    assert DMY_HM.match(when), when
    expect(demo.locator("[data-status]")).to_have_text("Đã lên lịch")
    no_horizontal_scroll(page, "meetings (en-US browser)")
    shot(page, screenshots, f"18-{size}-en-browser-vietnamese")

    # search finds the demo meeting by its invited communes' names, typed without accents
    go(page, phone, "Tra cứu")
    for typed in ("Ia Tul", "Broai"):
        page.get_by_label("Từ khóa").fill(typed)
        page.get_by_label("Loại kết quả").select_option("meeting")
        page.get_by_role("button", name="Tìm", exact=True).click()
        hit = page.get_by_test_id("search-results").locator("li.hit[data-kind=meeting]")
        expect(hit).to_have_count(1)
        expect(hit).to_contain_text("Họp giao ban trực tuyến UBND huyện với các xã")
        expect(hit.locator("mark").first).to_be_visible()
    # the filters stay inside their card
    form = page.locator("form.search-form").bounding_box()
    assert form is not None
    for field in page.locator(".search-filters .field").all():
        box = field.bounding_box()
        assert (
            box is not None
            and box["x"] >= form["x"]
            and box["x"] + box["width"] <= form["x"] + form["width"] + 0.5
        )
    no_horizontal_scroll(page, "search")
    shot(page, screenshots, f"18-{size}-search-meeting")
    # a day typed the Vietnamese way filters; a wrong one is said inline
    page.get_by_label("Từ ngày").fill("31/02/2026")
    page.get_by_role("button", name="Tìm", exact=True).click()
    expect(page.locator("form.search-form [role=alert]")).to_contain_text("Ngày không hợp lệ")

    # English only when chosen, and then kept
    if phone:
        page.get_by_role("button", name="Mở trình đơn").click()
    page.get_by_label("Ngôn ngữ").select_option("en")
    expect(page.get_by_role("heading", name="Search", exact=True)).to_be_visible()
    page.reload()
    expect(page.get_by_role("heading", name="Search", exact=True)).to_be_visible()
