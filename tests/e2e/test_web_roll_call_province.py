"""The chair's screens for a province meeting (issue 15 item 4) in real Chromium: UBND tỉnh Gia Lai chairs a
giao ban of its 135 commune-level units (`giaoban seed gia-lai`). The chair finds units by name without
accents, filters the roll-call by status with live counts, marks units in person and absent with a reason, and
gives the floor from the queue of raised hands (a commune's browser and two `giaoban bot` connection points
raise theirs) — at 1366×768 and at a phone's 390×844. A roll-call entry rewrites its own row only; the
commune's phone shows no chair controls."""

from __future__ import annotations

import json
import re
import statistics
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Locator, Page, expect

from tests.e2e.conftest import REPO, Chromium, DemoAccount, RunningServer
from tests.e2e.pages import PHONE, api, join_room, login, new_page, no_horizontal_scroll, shot
from tests.e2e.test_web_schedule_province import giaoban

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.any_database]

PASSWORD = "mat-khau-tinh-gia-lai"
SEED = REPO / "server" / "data" / "gia-lai.json"  # the units `giaoban seed gia-lai` loads
ACCOUNTS = (  # username, role, unit
    ("tinh-chutri", "chair", "GIALAI"),
    ("quynhon", "member", "GL-QUYNHON"),  # a commune in a browser, on a phone
    ("iapuch", "member", "GL-IAPUCH"),  # bots
    ("pleiku", "member", "GL-PLEIKU"),
)
BOT_S = 240  # the bots stay this long (they are stopped at the end of the test)
JOIN_TIMEOUT_MS = 40_000  # a bot's Python, aiortc and ICE on the shared 2-core machine

# the units (tr[data-unit]) whose roll-call rows changed since `watch`, from a MutationObserver on the table
WATCH_JS = """
() => {
  const body = document.querySelector("[data-testid=roll-call] tbody");
  window.__rollTouched = new Set();
  window.__rollObserver = new MutationObserver((records) => {
    for (const r of records) {
      const node = r.target.nodeType === 1 ? r.target : r.target.parentElement;
      const tr = node && node.closest("tr[data-unit]");
      window.__rollTouched.add(tr ? tr.dataset.unit : "(table)");
    }
  });
  const all = {subtree: true, childList: true, attributes: true, characterData: true};
  window.__rollObserver.observe(body, all);
}
"""
TOUCHED_JS = "() => [...window.__rollTouched].sort()"

# the chair marks a unit (its select changed, as a user does) and waits for the server's roll_call_entry to
# confirm it in the row: the milliseconds until the entry reached the page's socket, and then the row
MARK_JS = """
async ([unit, status]) => {
  const tr = document.querySelector(`[data-testid=roll-call] tr[data-unit="${unit}"]`);
  const select = tr.querySelector("select");
  let arrived = null;
  const sig = window.__giaoban.sig;
  const heard = (e) => {
    if (e.detail.entry.unit === unit && e.detail.entry.status === status) arrived = performance.now();
  };
  sig.addEventListener("roll_call_entry", heard);
  const t0 = performance.now();
  const confirmed = new Promise((resolve) => {
    const seen = new MutationObserver(() => {
      if (tr.dataset.status === status) {
        seen.disconnect();
        resolve(performance.now());
      }
    });
    seen.observe(tr, {attributes: true});
  });
  select.value = status;
  select.dispatchEvent(new Event("change"));
  const shown = await confirmed;
  sig.removeEventListener("roll_call_entry", heard);
  return [arrived - t0, shown - t0];
}
"""
# a `link_quality` line rating one connection point poor (figures no real line has) and an `active_speaker`
# naming it, fed to the chair's page as its socket delivers them: the thumbnail as drawn right after, read in
# the same task so the server's next line (every 2 s) cannot race it
POOR_SPEAKER_JS = """
(pid) => {
  const sig = window.__giaoban.sig;
  const line = {participant_id: pid, rating: "poor", rtt_ms: 450, loss_up_pct: 7.5, loss_down_pct: 0,
                recv_kbps: 60};
  const deliver = (msg) => sig.dispatchEvent(new CustomEvent(msg.type, {detail: msg}));
  deliver({type: "link_quality", links: [line]});
  deliver({type: "active_speaker", participant_id: pid});
  const tile = document.querySelector(`.wall-tile[data-participant="${pid}"]`);
  const flag = tile.querySelector(".flag.link");
  return {
    link: flag && flag.getAttribute("aria-label"),
    background: flag && getComputedStyle(flag).backgroundColor,
    speaking: tile.classList.contains("speaking"),
    title: tile.title,
  };
}
"""
TIMED_UNITS = ("GL-ANNHONTAY", "GL-PHUCAT", "GL-XUANAN", "GL-NGOMAY", "GL-CATTIEN", "GL-HOAHOI", "GL-HOISON")


@pytest.fixture
def bots() -> Iterator[list[subprocess.Popen[str]]]:
    running: list[subprocess.Popen[str]] = []
    yield running
    for proc in running:
        proc.terminate()
    for proc in running:
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def chip(page: Page, status: str) -> Locator:
    return page.locator(f"[data-testid=roll-filters] [data-filter={status}]")


def expect_counts(page: Page, counts: dict[str, int], timeout: float = 10_000) -> None:
    for status, n in counts.items():
        expect(chip(page, status)).to_have_text(re.compile(rf"\({n}\)$"), timeout=timeout)


def visible_rows(page: Page) -> Locator:
    return page.locator("[data-testid=roll-call] tbody tr:visible")


def queue_names(page: Page) -> list[str]:
    return page.locator("[data-testid=hand-queue] .queue-name").all_inner_texts()


def test_chair_roll_calls_135_units_and_gives_the_floor_from_the_queue(
    server: RunningServer,
    chromium: Chromium,
    screenshots: Path,
    database_url: str | None,
    bots: list[subprocess.Popen[str]],
) -> None:
    assert "Đã nạp 136 đơn vị." in giaoban(server, database_url, "seed", "gia-lai")
    for username, role, unit in ACCOUNTS:
        giaoban(
            server,
            database_url,
            "user",
            "add",
            username,
            "--role",
            role,
            "--unit",
            unit,
            "--password-stdin",
            stdin=PASSWORD + "\n",
        )
        server.accounts[username] = DemoAccount(username, PASSWORD, role, unit)

    chair = new_page(chromium.launch(), server.base_url)
    login(chair, "tinh-chutri", PASSWORD)
    units = [u["code"] for u in json.loads(SEED.read_text(encoding="utf-8"))["children"]]
    assert len(units) == 135
    meeting = api(
        chair,
        "POST",
        "/api/meetings",
        {
            "title": "Giao ban cấp xã toàn tỉnh",
            "chair_unit": "GIALAI",
            "units": units,
            "starts_at": "2026-12-01T08:00:00+07:00",
            "record": False,
        },
    )
    meeting_id = meeting["id"]
    api(chair, "POST", f"/api/meetings/{meeting_id}/start")
    join_room(chair, meeting_id)
    commune = new_page(chromium.launch(), server.base_url, PHONE)
    login(commune, "quynhon", PASSWORD)
    join_room(commune, meeting_id)

    # ---- roll-call: 135 units, counts per status on the chips ----------------------------------------------
    chair.get_by_role("tab", name="Điểm danh").click()
    roll = chair.get_by_test_id("roll-call")
    shown = chair.get_by_test_id("roll-shown")
    expect(shown).to_have_text("Đang hiện 135/135 điểm cầu")
    expect(chip(chair, "all")).to_have_text("Tất cả (135)")
    expect(chip(chair, "all")).to_have_attribute("aria-pressed", "true")
    expect_counts(chair, {"present_online": 1, "present_in_person": 0, "absent": 0, "not_called": 134})
    expect(roll.locator("tr[data-unit=GL-QUYNHON]")).to_have_attribute("data-status", "present_online")

    # a search without accents: "phu my" finds the five Phù Mỹ communes
    search = chair.get_by_label("Tìm điểm cầu (gõ không dấu cũng được)")
    search.fill("phu my")
    expect(shown).to_have_text("Đang hiện 5/135 điểm cầu")
    expect(visible_rows(chair)).to_have_count(5)
    expect(visible_rows(chair).first).to_contain_text("Phù Mỹ")
    chair.get_by_label("Trạng thái điểm danh của UBND xã Phù Mỹ Đông").select_option("present_in_person")
    expect(roll.locator("tr[data-unit=GL-PHUMYDONG]")).to_have_attribute("data-status", "present_in_person")
    chair.get_by_label("Trạng thái điểm danh của UBND xã Phù Mỹ Bắc").select_option("absent")
    reason = chair.get_by_label("Lý do vắng của UBND xã Phù Mỹ Bắc")
    expect(reason).to_be_focused()
    reason.fill("Đi công tác")
    reason.press("Enter")
    expect(roll.locator("tr[data-unit=GL-PHUMYBAC]")).to_have_attribute("data-status", "absent")
    expect_counts(chair, {"present_online": 1, "present_in_person": 1, "absent": 1, "not_called": 132})
    search.fill("dak doa")
    expect(visible_rows(chair)).to_have_count(1)
    expect(visible_rows(chair)).to_contain_text("UBND xã Đak Đoa")
    search.fill("")
    expect(shown).to_have_text("Đang hiện 135/135 điểm cầu")

    # a status filter: "Vắng" shows the absent unit with its reason; "Chưa điểm danh" the 132 not called
    chip(chair, "absent").click()
    expect(chip(chair, "absent")).to_have_attribute("aria-pressed", "true")
    expect(visible_rows(chair)).to_have_count(1)
    expect(chair.get_by_label("Lý do vắng của UBND xã Phù Mỹ Bắc")).to_have_value("Đi công tác")
    chip(chair, "not_called").click()
    expect(shown).to_have_text("Đang hiện 132/135 điểm cầu")
    # a unit marked under the filter stays in view (no row jumps away under the pointer) while the count moves
    search.fill("dak doa")
    chair.get_by_label("Trạng thái điểm danh của UBND xã Đak Đoa").select_option("present_in_person")
    expect(roll.locator("tr[data-unit=GL-DAKDOA]")).to_have_attribute("data-status", "present_in_person")
    expect_counts(chair, {"present_in_person": 2, "not_called": 131})
    expect(visible_rows(chair)).to_have_count(1)
    chip(chair, "not_called").click()  # the filter again: the list is what it says
    expect(visible_rows(chair)).to_have_count(0)
    expect(shown).to_have_text("Không có điểm cầu nào khớp.")
    search.fill("")
    expect(shown).to_have_text("Đang hiện 131/135 điểm cầu")
    shot(chair, screenshots, "province-roll-call-filter")

    # ---- raised hands: the commune's, then two bots' (each asks for the floor on joining) ------------------
    commune.locator("#btn-hand").click()
    expect(chair.get_by_test_id("hand-queue")).to_be_visible()  # above the tabs: seen from the roll-call
    chair.evaluate(WATCH_JS)
    for username in ("iapuch", "pleiku"):
        bots.append(server.bot(meeting_id, username, BOT_S))
        queue = chair.locator("[data-testid=hand-queue] li")
        expect(queue).to_have_count(1 + len(bots), timeout=JOIN_TIMEOUT_MS)
    expect_counts(chair, {"present_online": 3, "not_called": 129})
    expect(shown).to_have_text("Đang hiện 129/135 điểm cầu")  # the units that joined left the filter's list
    # two joins, two hands raised, microphones asked for: only the two joining units' rows were written
    assert chair.evaluate(TOUCHED_JS) == ["GL-IAPUCH", "GL-PLEIKU"]
    assert queue_names(chair) == ["UBND phường Quy Nhơn", "UBND xã Ia Púch", "UBND phường Pleiku"]
    expect(chair.get_by_test_id("hands-badge")).to_have_text("3")
    expect(commune.locator("[data-testid=hand-queue] li").first).to_contain_text("(bạn)")
    # the chair's wall marks the same: each thumbnail's turn in the queue and its microphone off
    wall = chair.get_by_test_id("wall")
    expect(wall.locator(".wall-tile")).to_have_count(3)
    for unit, turn in (("GL-QUYNHON", 1), ("GL-IAPUCH", 2), ("GL-PLEIKU", 3)):
        tile = wall.locator(f".wall-tile[data-unit={unit}]")
        expect(tile.locator(".flag.hand")).to_have_attribute("aria-label", f"Giơ tay, lượt {turn}")
        expect(tile.locator(".flag.muted")).to_have_attribute("title", "Micrô tắt")

    # the floor from the queue: turn 1, the commune, hears it and its microphone opens
    chair.get_by_role("button", name="Lượt 1 — UBND phường Quy Nhơn: mời phát biểu").click()
    expect(commune.get_by_test_id("room-error")).to_have_text("Chủ trì mời bạn phát biểu: micrô đã mở.")
    expect(commune.locator("#btn-mic")).to_have_attribute("data-state", "on")
    expect(chair.locator("[data-testid=hand-queue] li")).to_have_count(2)
    assert queue_names(chair) == ["UBND xã Ia Púch", "UBND phường Pleiku"]
    expect(chair.get_by_test_id("hands-badge")).to_have_text("2")
    quynhon = wall.locator(".wall-tile[data-unit=GL-QUYNHON]")
    expect(quynhon).to_have_class(re.compile(r"\bfloor\b"))  # the floor holder's outline
    expect(quynhon.locator(".flag.hand, .flag.muted")).to_have_count(0)  # hand lowered, microphone open
    iapuch_hand = wall.locator(".wall-tile[data-unit=GL-IAPUCH] .flag.hand")
    expect(iapuch_hand).to_have_attribute("aria-label", "Giơ tay, lượt 1")
    # a poor link and the loudest speaker, as the socket brings them: in the link indicator's colour
    pleiku = wall.locator(".wall-tile[data-unit=GL-PLEIKU]").get_attribute("data-participant")
    drawn = chair.evaluate(POOR_SPEAKER_JS, pleiku)
    assert drawn["link"] == (
        "Đường truyền của UBND phường Pleiku: Kém — khứ hồi 450 ms · mất gói chiều gửi 7,5 % · "
        "mất gói chiều nhận 0,0 % · nhận 60 kb/s"
    ), drawn
    assert drawn["background"] == "rgb(139, 31, 25)", drawn  # links.js: .flag.link[data-quality=poor]
    assert drawn["speaking"] and drawn["title"] == "UBND phường Pleiku — đang nói", drawn
    shot(chair, screenshots, "province-hand-queue")

    # ---- the people tab: found by name without accents -----------------------------------------------------
    chair.get_by_role("tab", name="Điểm cầu").click()
    people = chair.locator("ul.people > li:visible")
    expect(people).to_have_count(4)
    people_search = chair.get_by_label("Tìm điểm cầu đang dự (gõ không dấu cũng được)")
    people_search.fill("ia puch")
    expect(people).to_have_count(1)
    expect(people).to_contain_text("UBND xã Ia Púch")
    expect(chair.get_by_test_id("people-shown")).to_have_text("Đang hiện 1/4 điểm cầu")
    people_search.fill("chu mo")
    expect(people).to_have_count(0)
    expect(chair.get_by_test_id("people-shown")).to_have_text("Không có điểm cầu nào khớp.")
    people_search.fill("")
    expect(people).to_have_count(4)
    expect(chair.get_by_test_id("people-shown")).to_be_hidden()
    chair.get_by_role("tab", name="Điểm danh").click()

    # ---- the chair on a phone: the badge brings the queue into view; roll-call still works -----------------
    chair.set_viewport_size(PHONE)
    no_horizontal_scroll(chair, "chair's room")
    badge = chair.get_by_test_id("hands-badge")
    expect(badge).to_be_in_viewport()
    badge.click()
    give = chair.get_by_role("button", name="Lượt 1 — UBND xã Ia Púch: mời phát biểu")
    expect(give).to_be_focused()
    expect(give).to_be_in_viewport()
    iapuch = chair.locator("[data-testid=hand-queue] li").first.get_attribute("data-participant")
    give.click()
    expect(chair.locator("[data-testid=hand-queue] li")).to_have_count(1)
    chair.wait_for_function("pid => window.__giaoban.state.floor === pid", arg=iapuch)
    chip(chair, "all").click()
    search.fill("krong")
    expect(visible_rows(chair)).to_have_count(1)
    chair.get_by_label("Trạng thái điểm danh của UBND xã Krong").select_option("absent")
    reason = chair.get_by_label("Lý do vắng của UBND xã Krong")
    reason.fill("Mất điện lưới")
    reason.press("Enter")
    expect_counts(chair, {"absent": 2, "not_called": 128})
    no_horizontal_scroll(chair, "chair's roll-call")
    shot(chair, screenshots, "province-roll-call-phone")

    # ---- the commune's phone stays simple: no roll-call, no wall, no chair controls ------------------------
    expect(commune.get_by_role("tab", name="Điểm danh")).to_be_hidden()
    expect(commune.get_by_test_id("wall")).to_be_hidden()
    expect(commune.get_by_test_id("hands-badge")).to_be_hidden()
    expect(commune.locator("[data-testid=hand-queue] li")).to_have_count(1)
    expect(commune.get_by_role("button", name=re.compile("mời phát biểu"))).to_have_count(0)
    no_horizontal_scroll(commune, "commune's room")
    shot(commune, screenshots, "province-commune-phone")
    for proc in bots:
        assert proc.poll() is None, proc.stdout.read() if proc.stdout else ""

    # how long a mark takes to come back confirmed, with 135 rows on the page (printed; run with -s)
    took = [chair.evaluate(MARK_JS, [unit, "present_in_person"]) for unit in TIMED_UNITS]
    expect_counts(chair, {"present_in_person": 2 + len(TIMED_UNITS), "not_called": 128 - len(TIMED_UNITS)})
    for what, ms in (("entry at the socket", [a for a, _ in took]), ("row shown", [b for _, b in took])):
        print(
            f"\n[province timing] roll-call mark to {what}, 135 rows: median "
            f"{statistics.median(ms):.0f} ms, max {max(ms):.0f} ms, n={len(ms)}"
        )
