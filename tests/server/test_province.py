"""A province as data (issue 15 item 5): `giaoban seed gia-lai` loads UBND tỉnh Gia Lai and its 135
commune-level units; a meeting inviting all 135 is scheduled, started, roll-called through the API and the
signaling socket, and ended; saved invitation groups. Timings are printed (run with -s), not asserted."""

from __future__ import annotations

import json
import re
import statistics
import subprocess
import sys
import time
import unicodedata
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import event, select

from server.config import Settings
from server.models import Unit
from server.services.units import CODE_PATTERN, SEED_DIR
from tests.conftest import TEST_PASSWORD, login_headers, open_app

PROVINCE = "GIALAI"
GROUPS = "/api/invitation-groups"
ACCOUNTS = (  # username, role, unit
    ("tinh-chutri", "chair", PROVINCE),
    ("tinh-thuky", "clerk", PROVINCE),
    ("quynhon", "member", "GL-QUYNHON"),
    ("iapuch", "member", "GL-IAPUCH"),
    ("pleiku", "member", "GL-PLEIKU"),
    ("pleiku-chutri", "chair", "GL-PLEIKU"),
    ("huyen-chutri", "chair", "IAPA"),
)


def report(what: str, seconds: list[float]) -> None:
    ms = sorted(s * 1000 for s in seconds)
    print(
        f"\n[province timing] {what}: median {statistics.median(ms):.1f} ms, max {ms[-1]:.1f} ms, n={len(ms)}"
    )


def timed(call: Callable[[], Any]) -> tuple[Any, float]:
    t0 = time.perf_counter()
    result = call()
    return result, time.perf_counter() - t0


# ---- the seed, as a user runs it --------------------------------------------------------------------------


def test_seed_gia_lai_loads_the_province_and_its_135_units_beside_ia_pa(settings: Settings) -> None:
    def giaoban(*args: str) -> str:
        env = {"GIAOBAN_DATA_DIR": str(settings.data_dir), "PATH": "/usr/bin:/bin"}
        if settings.database_url:
            env["GIAOBAN_DATABASE_URL"] = settings.database_url
        done = subprocess.run(
            [sys.executable, "-m", "server.cli", *args], capture_output=True, text=True, env=env, timeout=120
        )
        assert done.returncode == 0, done.stderr
        return done.stdout.strip()

    assert giaoban("seed", "ia-pa") == "Đã nạp 10 đơn vị."
    assert giaoban("seed", "gia-lai") == "Đã nạp 136 đơn vị."
    assert giaoban("seed", "gia-lai") == "Đã nạp 136 đơn vị."  # loading again updates, never duplicates

    from server.db import Database

    db = Database(settings)
    try:
        with db.session() as session:
            rows = list(session.scalars(select(Unit)))
    finally:
        db.dispose()
    by_code = {u.code: u for u in rows}
    province = by_code[PROVINCE]
    assert (province.name, province.kind, province.parent_id) == ("UBND tỉnh Gia Lai", "province", None)
    children = [u for u in rows if u.parent_id == province.id]
    assert len(children) == 135
    assert sum(u.kind == "commune" for u in children) == 110 and sum(u.kind == "ward" for u in children) == 25
    # codes: unique, ASCII, the loader's pattern; names: Vietnamese with diacritics, NFC, each one once
    codes = [u.code for u in children]
    assert len(set(codes)) == 135 and all(c.isascii() and re.match(CODE_PATTERN, c) for c in codes)
    names = [u.name for u in children]
    assert len(set(names)) == 135
    assert all(unicodedata.is_normalized("NFC", n) for n in names)
    assert all(u.name.startswith({"commune": "UBND xã ", "ward": "UBND phường "}[u.kind]) for u in children)
    for code, name in [
        ("GL-QUYNHON", "UBND phường Quy Nhơn"),
        ("GL-PLEIKU", "UBND phường Pleiku"),
        ("GL-ANNHONTAY", "UBND xã An Nhơn Tây"),  # item 1 of Resolution 1664/NQ-UBTVQH15
        ("GL-AYUNPA", "UBND phường Ayun Pa"),  # item 126, the last new unit
        ("GL-IAPUCH", "UBND xã Ia Púch"),  # one of the 9 xã left as they were
        ("GL-DUCCO", "UBND xã Đức Cơ"),
    ]:
        assert by_code[code].name == name
    # Ia Pa's tree is untouched beside it (the new xã Ia Pa, Pờ Tó, Ia Tul have their own GL- codes)
    iapa = by_code["IAPA"]
    assert (iapa.name, iapa.kind) == ("UBND huyện Ia Pa", "district")
    assert sorted(u.code for u in rows if u.parent_id == iapa.id) == sorted(
        ["CHUMO", "CHURANG", "IABROAI", "IAKDAM", "IAMRON", "IATROK", "IATUL", "KIMTAN", "POTO"]
    )
    assert by_code["GL-IAPA"].name == "UBND xã Ia Pa" and by_code["GL-IAPA"].parent_id == province.id
    assert len(rows) == 146


def test_the_shipped_file_is_the_contract_format() -> None:
    tree = json.loads((SEED_DIR / "gia-lai.json").read_text(encoding="utf-8"))
    assert set(tree) == {"code", "name", "kind", "children"}
    assert all(set(c) == {"code", "name", "kind"} for c in tree["children"])


# ---- one app with the province, for the meeting and the groups -------------------------------------------


@dataclass
class Province:
    client: TestClient
    headers: dict[str, dict[str, str]]
    tokens: dict[str, str]
    units: list[str]  # the 135 codes, in tree order


@pytest.fixture(scope="module")
def province(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Province]:
    from server.services import accounts, units

    with open_app(tmp_path_factory, "province") as client:
        with client.app.state.db.session() as session:  # type: ignore[attr-defined]
            units.seed_ia_pa(session)
            units.load_tree(session, units.parse_tree_file(SEED_DIR / "gia-lai.json"))
            for username, role, unit in ACCOUNTS:
                accounts.create_user(
                    session, username=username, password=TEST_PASSWORD, role=role, unit_code=unit
                )
        headers = {name: login_headers(client, name) for name, _, _ in ACCOUNTS}
        tokens = {name: h["Authorization"].removeprefix("Bearer ") for name, h in headers.items()}
        tree = client.get("/api/units", headers=headers["tinh-chutri"]).json()["units"]
        root = next(n for n in tree if n["code"] == PROVINCE)
        yield Province(client, headers, tokens, [c["code"] for c in root["children"]])


class Statements:
    """SQL statements the app sends while in the block (the N+1 check)."""

    def __init__(self, client: TestClient) -> None:
        self.engine = client.app.state.db.engine  # type: ignore[attr-defined]
        self.seen: list[str] = []

    def _on(self, _conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        self.seen.append(statement)

    def __enter__(self) -> Statements:
        event.listen(self.engine, "before_cursor_execute", self._on)
        return self

    def __exit__(self, *_: Any) -> None:
        event.remove(self.engine, "before_cursor_execute", self._on)

    def selects_from(self, table: str) -> int:
        return sum(1 for s in self.seen if s.lstrip().upper().startswith("SELECT") and f"FROM {table}" in s)


def meeting_body(units: list[str], title: str = "Giao ban cấp xã tháng 12") -> dict[str, Any]:
    return {
        "title": title,
        "chair_unit": PROVINCE,
        "units": units,
        "starts_at": "2026-12-01T08:00:00+07:00",
        "record": False,
        "agenda": ["Tình hình kinh tế - xã hội", "Kiểm điểm kết luận kỳ trước"],
    }


def test_a_135_unit_meeting_is_scheduled_quickly_without_a_query_per_unit(province: Province) -> None:
    c, chair = province.client, province.headers["tinh-thuky"]
    posts, gets = [], []
    for i in range(5):
        with Statements(c) as sql:
            r, took = timed(lambda: c.post("/api/meetings", json=meeting_body(province.units), headers=chair))
        posts.append(took)
        assert r.status_code == 201, r.text
        m = r.json()
        assert m["units"] == province.units and len(m["roll_call"]) == 135
        assert {e["status"] for e in m["roll_call"]} == {"not_called"}
        # one lookup for all invited units, not one per unit (it was 139 SELECTs on units for 135 units)
        assert sql.selects_from("units") < 10, sql.selects_from("units")
        got, took = timed(lambda: c.get(f"/api/meetings/{m['id']}", headers=province.headers["iapuch"]))  # noqa: B023
        gets.append(took)
        assert got.status_code == 200 and got.json()["units"] == province.units
        if i == 0:
            print(f"\n[province] POST /api/meetings with 135 units: {len(sql.seen)} SQL statements")
    report("POST /api/meetings, 135 units (SQLite)", posts)
    report("GET /api/meetings/{id}, 135 units (SQLite)", gets)
    # a unit of another tree is invited as well, and an unknown code is a 404 naming it
    bad = c.post("/api/meetings", json=meeting_body([*province.units, "KHONGCO"]), headers=chair)
    assert bad.status_code == 404 and bad.json()["error"]["details"] == {"unit": "KHONGCO"}
    own = c.post("/api/meetings", json=meeting_body([PROVINCE, *province.units]), headers=chair)
    assert own.status_code == 422


def test_a_135_unit_meeting_started_roll_called_over_api_and_socket_and_ended(province: Province) -> None:
    c, h = province.client, province.headers
    mid = c.post("/api/meetings", json=meeting_body(province.units), headers=h["tinh-chutri"]).json()["id"]
    started, start_s = timed(lambda: c.post(f"/api/meetings/{mid}/start", headers=h["tinh-chutri"]))
    assert started.status_code == 200 and started.json()["status"] == "live"
    report("POST /api/meetings/{id}/start, 135 units", [start_s])

    # roll-call through the API: the clerk calls three units
    calls = [
        ("GL-ANNHONTAY", "present_in_person", ""),
        ("GL-KRONG", "absent", "Mất điện lưới"),
        ("GL-HOAINHONBAC", "present_online", ""),
    ]
    api_times = []
    for unit, status, reason in calls:
        body = {"unit": unit, "status": status, "reason": reason}
        r, took = timed(lambda: c.post(f"/api/meetings/{mid}/roll-call", json=body, headers=h["tinh-thuky"]))  # noqa: B023
        api_times.append(took)
        assert r.status_code == 200, r.text
        assert r.json()["status"] == status and r.json()["unit"] == unit
    report("POST /api/meetings/{id}/roll-call (135 entries refreshed)", api_times)

    def ws(user: str) -> Any:
        return c.websocket_connect(f"/ws/meetings/{mid}?token={province.tokens[user]}")

    def until(sock: Any, predicate: Callable[[dict[str, Any]], bool], limit: int = 50) -> dict[str, Any]:
        for _ in range(limit):
            msg = sock.receive_json()
            if predicate(msg):
                return msg
        raise AssertionError("message not received")

    def statuses(entries: list[dict[str, Any]]) -> dict[str, str]:
        return {e["unit"]: e["status"] for e in entries}

    # a join's snapshot: from opening the socket to its welcome holding the 135 entries
    snapshot_times = []
    t0 = time.perf_counter()
    with ws("tinh-chutri") as chair_sock:
        welcome = until(chair_sock, lambda m: m["type"] == "welcome")
        snapshot_times.append(time.perf_counter() - t0)
        assert len(welcome["roll_call"]) == 135
        assert statuses(welcome["roll_call"])["GL-KRONG"] == "absent"
        # three connection points join: each is marked present online, the chair sees it in the roll-call
        t0 = time.perf_counter()
        with ws("quynhon") as s1, ws("iapuch") as s2, ws("pleiku") as s3:
            for sock in (s1, s2, s3):
                assert len(until(sock, lambda m: m["type"] == "welcome")["roll_call"]) == 135
            snapshot_times.append((time.perf_counter() - t0) / 3)  # three joins, one after the other
            seen = until(
                chair_sock,
                lambda m: (
                    m["type"] == "roll_call"
                    and all(
                        statuses(m["entries"])[u] == "present_online"
                        for u in ("GL-QUYNHON", "GL-IAPUCH", "GL-PLEIKU")
                    )
                ),
            )
            assert len(seen["entries"]) == 135
            # the chair calls two more over the socket; every connection point receives the 135 entries
            socket_times = []
            for unit, status, reason in [
                ("GL-IAMO", "absent", "Đi công tác"),
                ("GL-DEGI", "present_in_person", ""),
            ]:
                t0 = time.perf_counter()
                chair_sock.send_json({"type": "roll_call", "unit": unit, "status": status, "reason": reason})
                update = until(
                    chair_sock,
                    lambda m: m["type"] == "roll_call" and statuses(m["entries"])[unit] == status,  # noqa: B023
                )
                socket_times.append(time.perf_counter() - t0)
                assert len(update["entries"]) == 135
                at_commune = until(
                    s2,
                    lambda m: m["type"] == "roll_call" and statuses(m["entries"])[unit] == status,  # noqa: B023
                )
                assert next(e for e in at_commune["entries"] if e["unit"] == unit)["reason"] == reason
            report("roll_call over the socket, round trip to the chair (135 entries)", socket_times)
            # a connection point may not take the roll-call
            s1.send_json({"type": "roll_call", "unit": "GL-IAMO", "status": "present_online", "reason": ""})
            assert until(s1, lambda m: m["type"] == "error")["code"] == "forbidden"
            # the snapshot read through the API holds every call
            meeting, get_s = timed(lambda: c.get(f"/api/meetings/{mid}", headers=h["tinh-thuky"]).json())
            final = statuses(meeting["roll_call"])
            assert len(final) == 135
            assert {
                u: final[u] for u in ("GL-ANNHONTAY", "GL-KRONG", "GL-HOAINHONBAC", "GL-IAMO", "GL-DEGI")
            } == {
                "GL-ANNHONTAY": "present_in_person",
                "GL-KRONG": "absent",
                "GL-HOAINHONBAC": "present_online",
                "GL-IAMO": "absent",
                "GL-DEGI": "present_in_person",
            }
            assert {final[u] for u in ("GL-QUYNHON", "GL-IAPUCH", "GL-PLEIKU")} == {"present_online"}
            assert sum(s == "not_called" for s in final.values()) == 135 - 8
            report("135-entry snapshot: socket open to welcome (chair; mean of 3 communes)", snapshot_times)
            report("roll-call snapshot of 135: GET /api/meetings/{id}", [get_s])

            ended, end_s = timed(lambda: c.post(f"/api/meetings/{mid}/end", headers=h["tinh-chutri"]))
            assert ended.status_code == 200 and ended.json()["status"] == "ended"
            report("POST /api/meetings/{id}/end, 4 sockets open", [end_s])
            for sock in (s1, s2, s3, chair_sock):
                until(sock, lambda m: m["type"] == "meeting_ended")
    attendance = c.get(f"/api/meetings/{mid}/attendance", headers=h["tinh-thuky"]).json()
    assert {a["unit"] for a in attendance} == {PROVINCE, "GL-QUYNHON", "GL-IAPUCH", "GL-PLEIKU"}
    assert all(a["left_at"] for a in attendance)


# ---- saved invitation groups ------------------------------------------------------------------------------


def test_invitation_groups_are_kept_per_chairing_unit(province: Province) -> None:
    c, h = province.client, province.headers
    wards = [u for u in province.units if u in WARDS]
    assert len(wards) == 25
    r = c.post(GROUPS, json={"name": "Các phường", "units": wards}, headers=h["tinh-thuky"])
    assert r.status_code == 201, r.text
    group = r.json()
    assert group["unit"] == PROVINCE and group["units"] == wards and group["name"] == "Các phường"
    gid = group["id"]
    # the chair of the same unit sees it; and schedules with it in one request
    listed = c.get(GROUPS, headers=h["tinh-chutri"]).json()
    assert [g["id"] for g in listed if g["name"] == "Các phường"] == [gid]
    m = c.post(
        "/api/meetings", json=meeting_body(group["units"], "Giao ban các phường"), headers=h["tinh-chutri"]
    )
    assert m.status_code == 201 and m.json()["units"] == wards
    # same name in the same unit: 409; the same name for another unit is fine
    again = c.post(GROUPS, json={"name": "Các phường", "units": wards[:2]}, headers=h["tinh-chutri"])
    assert again.status_code == 409 and again.json()["error"]["code"] == "conflict"
    other = c.post(GROUPS, json={"name": "Các phường", "units": ["GL-HOIPHU"]}, headers=h["pleiku-chutri"])
    assert other.status_code == 201 and other.json()["unit"] == "GL-PLEIKU"
    # rename and change its units (order kept, duplicates dropped)
    patched = c.patch(
        f"{GROUPS}/{gid}",
        json={"name": "Cụm Quy Nhơn", "units": ["GL-QUYNHONBAC", "GL-QUYNHON", "GL-QUYNHON"]},
        headers=h["tinh-chutri"],
    )
    assert patched.status_code == 200, patched.text
    assert patched.json()["name"] == "Cụm Quy Nhơn" and patched.json()["units"] == [
        "GL-QUYNHONBAC",
        "GL-QUYNHON",
    ]
    assert c.get(f"{GROUPS}/{gid}", headers=h["tinh-thuky"]).json()["units"] == [
        "GL-QUYNHONBAC",
        "GL-QUYNHON",
    ]
    # bad input: an unknown unit (404 naming it), the owner itself, an empty list, an empty name
    unknown = c.post(GROUPS, json={"name": "X", "units": ["KHONGCO"]}, headers=h["tinh-thuky"])
    assert unknown.status_code == 404 and unknown.json()["error"]["details"] == {"unit": "KHONGCO"}
    itself = c.post(GROUPS, json={"name": "X", "units": [PROVINCE]}, headers=h["tinh-thuky"])
    assert itself.status_code == 422
    for body in (
        {"name": "X", "units": []},
        {"name": "  ", "units": wards},
        {"name": "X", "units": wards, "k": 1},
    ):
        assert c.post(GROUPS, json=body, headers=h["tinh-thuky"]).status_code == 422
    # others: a commune member may not list; another unit's chair neither sees nor changes the group
    assert c.get(GROUPS, headers=h["quynhon"]).status_code == 403
    assert c.get(f"{GROUPS}?unit={PROVINCE}", headers=h["pleiku-chutri"]).status_code == 403
    assert c.get(f"{GROUPS}/{gid}", headers=h["huyen-chutri"]).status_code == 404
    assert c.delete(f"{GROUPS}/{gid}", headers=h["pleiku-chutri"]).status_code == 404
    mine = c.post(
        GROUPS,
        json={"name": "Của tỉnh", "unit": PROVINCE, "units": ["GL-IAPUCH"]},
        headers=h["pleiku-chutri"],
    )
    assert mine.status_code == 403
    assert [g["unit"] for g in c.get(GROUPS, headers=h["pleiku-chutri"]).json()] == ["GL-PLEIKU"]
    # delete
    assert c.delete(f"{GROUPS}/{gid}", headers=h["tinh-thuky"]).status_code == 204
    assert c.get(f"{GROUPS}/{gid}", headers=h["tinh-thuky"]).status_code == 404


WARDS = frozenset(
    c["code"]
    for c in json.loads((SEED_DIR / "gia-lai.json").read_text(encoding="utf-8"))["children"]
    if c["kind"] == "ward"
)
