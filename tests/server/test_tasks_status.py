"""Computed statuses across deadline boundaries, the lifecycle, extensions, audit, and the per-unit report."""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Iterator
from typing import Any

import pytest
from openpyxl import load_workbook
from sqlalchemy import select

from server.models import AuditEvent, TaskState
from server.services.task_status import StatusCounts, TaskStatus, compute_status
from tests.server.test_tasks_support import (
    DEC,
    World,
    day,
    new_task,
    open_world,
    report,
    review,
    set_today,
    task_json,
)

DEADLINE = day(DEC, 10)
BEFORE, ON, AFTER = day(DEC, 9), DEADLINE, day(DEC, 11)

S, A = TaskState, TaskStatus


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    with open_world(
        tmp_path_factory, "tasks-status", ("admin", "chair", "clerk", "chumo", "chumo-chair", "iatul")
    ) as w:
        yield w


@pytest.mark.parametrize(
    ("state", "completed_on", "today", "expected"),
    [
        (S.ASSIGNED, None, BEFORE, A.NOT_YET_DUE),
        (S.ASSIGNED, None, ON, A.NOT_YET_DUE),
        (S.ASSIGNED, None, AFTER, A.OVERDUE),
        (S.IN_PROGRESS, None, BEFORE, A.IN_PROGRESS),
        (S.IN_PROGRESS, None, ON, A.IN_PROGRESS),
        (S.IN_PROGRESS, None, AFTER, A.OVERDUE),
        (S.RETURNED, None, ON, A.IN_PROGRESS),
        (S.RETURNED, None, AFTER, A.OVERDUE),
        # reported done, awaiting review: judged by the day it was reported, not by today
        (S.REPORTED_DONE, ON, ON, A.IN_PROGRESS),
        (S.REPORTED_DONE, ON, day(DEC, 30), A.IN_PROGRESS),
        (S.REPORTED_DONE, AFTER, AFTER, A.OVERDUE),
        (S.ACCEPTED, BEFORE, day(DEC, 30), A.COMPLETED_ON_TIME),
        (S.ACCEPTED, ON, day(DEC, 30), A.COMPLETED_ON_TIME),
        (S.ACCEPTED, AFTER, AFTER, A.COMPLETED_LATE),
        (S.ACCEPTED, day(DEC, 31), day(DEC, 31), A.COMPLETED_LATE),
    ],
)
def test_compute_status_at_the_deadline_boundaries(
    state: TaskState, completed_on: dt.date | None, today: dt.date, expected: TaskStatus
) -> None:
    assert compute_status(state, DEADLINE, completed_on, today) is expected


def test_status_counts_and_overdue_share() -> None:
    counts = StatusCounts()
    for status in [A.NOT_YET_DUE, A.IN_PROGRESS, A.OVERDUE, A.COMPLETED_ON_TIME, A.COMPLETED_LATE, A.OVERDUE]:
        counts = counts.add(status)
    assert (counts.assigned, counts.completed_on_time, counts.completed_late) == (6, 1, 1)
    assert (counts.in_progress, counts.overdue, counts.overdue_pct) == (2, 2, 33.3)
    assert StatusCounts().overdue_pct == 0.0


def test_lifecycle_reported_late_then_accepted_is_completed_late(world: World) -> None:
    client = world.client
    clerk, chumo = world.h("clerk"), world.h("chumo")
    set_today(client, day(DEC, 1))
    task = new_task(client, clerk, deadline=DEADLINE)
    assert (task["state"], task["status"], task["assigned_on"]) == ("assigned", "not_yet_due", "2026-12-01")
    assert task["status_label"] == "Chưa đến hạn" and task["days_left"] == 9

    r = report(client, chumo, task["id"], "progress", "Đang rà soát thôn 1, 2", progress_pct=40)
    assert r.status_code == 201, r.text
    assert r.json()["progress_pct"] == 40
    set_today(client, ON)
    assert task_json(client, chumo, task["id"])["status"] == "in_progress"
    set_today(client, AFTER)
    got = task_json(client, chumo, task["id"])
    assert (got["state"], got["status"], got["days_left"]) == ("in_progress", "overdue", -1)

    assert report(client, chumo, task["id"], "done", "Đã hoàn thành rà soát").status_code == 201
    got = task_json(client, clerk, task["id"])
    assert (got["state"], got["status"], got["completed_on"]) == ("reported_done", "overdue", "2026-12-11")
    set_today(client, day(DEC, 15))
    accepted = review(client, clerk, task["id"], "accept", "Đạt yêu cầu")
    assert accepted.status_code == 200, accepted.text
    assert (accepted.json()["state"], accepted.json()["status"]) == ("accepted", "completed_late")
    assert accepted.json()["completed_on"] == "2026-12-11"  # the day the unit reported, not the review day

    detail = task_json(client, chumo, task["id"])
    assert [r["kind"] for r in detail["reports"]] == ["progress", "done", "accept"]
    assert [r["unit"] for r in detail["reports"]] == ["CHUMO", "CHUMO", "IAPA"]
    # an accepted task takes no more reports or reviews
    assert report(client, chumo, task["id"], "progress", "thêm").status_code == 409
    assert review(client, clerk, task["id"], "return", "x").status_code == 409


def test_reported_on_the_deadline_stays_in_time_while_awaiting_review(world: World) -> None:
    client = world.client
    chair, chumo = world.h("chair"), world.h("chumo-chair")
    set_today(client, day(DEC, 1))
    task = new_task(client, chair, deadline=DEADLINE)
    set_today(client, ON)
    assert report(client, chumo, task["id"], "done", "Xong").status_code == 201
    set_today(client, day(DEC, 20))  # the review comes late: not the unit's fault
    assert task_json(client, chair, task["id"])["status"] == "in_progress"
    assert review(client, chair, task["id"], "accept").json()["status"] == "completed_on_time"


def test_returned_task_goes_back_to_in_progress_and_loses_its_completion_date(world: World) -> None:
    client = world.client
    clerk, chumo = world.h("clerk"), world.h("chumo")
    set_today(client, day(DEC, 1))
    task = new_task(client, clerk, deadline=DEADLINE)
    set_today(client, day(DEC, 5))
    assert report(client, chumo, task["id"], "done", "Xong").status_code == 201
    assert review(client, clerk, task["id"], "return").status_code == 422  # a reason is required
    returned = review(client, clerk, task["id"], "return", "Thiếu danh sách hộ")
    assert returned.status_code == 200
    body = returned.json()
    assert (body["state"], body["status"], body["completed_on"]) == ("returned", "in_progress", None)
    set_today(client, AFTER)
    assert task_json(client, clerk, task["id"])["status"] == "overdue"
    assert report(client, chumo, task["id"], "progress", "Bổ sung danh sách").status_code == 201
    assert task_json(client, clerk, task["id"])["state"] == "in_progress"
    assert report(client, chumo, task["id"], "done", "Đã bổ sung").status_code == 201
    assert review(client, clerk, task["id"], "accept").json()["status"] == "completed_late"
    # a review of a task that is not reported done is a state conflict
    other = new_task(client, clerk, deadline=day(DEC, 31))
    r = review(client, clerk, other["id"], "accept")
    assert r.status_code == 409 and r.json()["error"]["code"] == "conflict"


def test_extension_approved_moves_the_deadline_refused_does_not(world: World) -> None:
    client = world.client
    clerk, chumo = world.h("clerk"), world.h("chumo")
    set_today(client, day(DEC, 1))
    task = new_task(client, clerk, deadline=DEADLINE)
    tid = task["id"]
    set_today(client, AFTER)
    assert task_json(client, chumo, tid)["status"] == "overdue"

    not_later = client.post(
        f"/api/tasks/{tid}/extensions", json={"new_deadline": "2026-12-10", "reason": "x"}, headers=chumo
    )
    assert not_later.status_code == 422 and not_later.json()["error"]["details"] == {"field": "new_deadline"}
    ask = client.post(
        f"/api/tasks/{tid}/extensions", json={"new_deadline": "2026-12-20", "reason": "Mưa lũ"}, headers=chumo
    )
    assert ask.status_code == 201 and ask.json()["decision"] == "pending"
    twice = client.post(
        f"/api/tasks/{tid}/extensions", json={"new_deadline": "2026-12-21", "reason": "x"}, headers=chumo
    )
    assert twice.status_code == 409
    xid = ask.json()["id"]
    approved = client.post(
        f"/api/tasks/{tid}/extensions/{xid}/decision", json={"decision": "approve"}, headers=clerk
    )
    assert approved.status_code == 200 and approved.json()["decision"] == "approved"
    got = task_json(client, chumo, tid)
    assert (got["deadline"], got["status"]) == ("2026-12-20", "not_yet_due")
    again = client.post(
        f"/api/tasks/{tid}/extensions/{xid}/decision", json={"decision": "refuse"}, headers=clerk
    )
    assert again.status_code == 409

    ask2 = client.post(
        f"/api/tasks/{tid}/extensions", json={"new_deadline": "2027-01-20", "reason": "Thêm"}, headers=chumo
    ).json()
    refused = client.post(
        f"/api/tasks/{tid}/extensions/{ask2['id']}/decision",
        json={"decision": "refuse", "note": "Không có căn cứ"},
        headers=clerk,
    )
    assert refused.json()["decision"] == "refused"
    assert task_json(client, chumo, tid)["deadline"] == "2026-12-20"
    assert [x["decision"] for x in task_json(client, chumo, tid)["extensions"]] == ["approved", "refused"]

    with client.app.state.db.session() as session:  # type: ignore[attr-defined]
        events = list(
            session.scalars(
                select(AuditEvent)
                .where(AuditEvent.object_type == "task", AuditEvent.object_id == str(tid))
                .order_by(AuditEvent.id)
            )
        )
    assert [e.action for e in events] == [
        "task.create",
        "task.extension.request",
        "task.extension.approve",
        "task.extension.request",
        "task.extension.refuse",
    ]
    assert (
        events[2].details["old_deadline"] == "2026-12-10"
        and events[2].details["new_deadline"] == "2026-12-20"
    )
    assert events[2].actor == "clerk"


def test_every_change_is_audited(world: World) -> None:
    client = world.client
    clerk, chumo = world.h("clerk"), world.h("chumo")
    set_today(client, day(DEC, 1))
    tid = new_task(client, clerk, deadline=DEADLINE)["id"]
    report(client, chumo, tid, "progress", "50%")
    report(client, chumo, tid, "done", "Xong")
    review(client, clerk, tid, "return", "Chưa đạt")
    report(client, chumo, tid, "done", "Xong lần 2")
    review(client, clerk, tid, "accept")
    with client.app.state.db.session() as session:  # type: ignore[attr-defined]
        actions = list(
            session.scalars(
                select(AuditEvent.action)
                .where(AuditEvent.object_type == "task", AuditEvent.object_id == str(tid))
                .order_by(AuditEvent.id)
            )
        )
    assert actions == [
        "task.create",
        "task.report.progress",
        "task.report.done",
        "task.return",
        "task.report.done",
        "task.accept",
    ]


# ---- the per-unit report on a seeded scenario ----------------------------------------------------------

HEADERS_VI = [
    "Mã đơn vị",
    "Đơn vị",
    "Được giao",
    "Hoàn thành đúng hạn",
    "Hoàn thành quá hạn",
    "Đang thực hiện trong hạn",
    "Quá hạn",
    "Tỷ lệ quá hạn (%)",
]
PERIOD = "?from=2025-11-01&to=2025-11-30"


def _scenario(world: World) -> None:
    """Tasks of 2025 (no other test uses that year), their reports on the days given, seen on 25/11/2025."""
    client = world.client
    clerk, chumo, iatul, admin = world.h("clerk"), world.h("chumo"), world.h("iatul"), world.h("admin")
    nov = lambda d: dt.date(2025, 11, d)  # noqa: E731
    set_today(client, nov(2))
    a = new_task(client, clerk, lead="CHUMO", deadline=nov(10), title="A")
    b = new_task(client, clerk, lead="CHUMO", deadline=nov(20), title="B")
    c = new_task(client, clerk, lead="CHUMO", deadline=nov(30), title="C")
    new_task(client, clerk, lead="CHUMO", deadline=dt.date(2025, 12, 31), title="D")
    e = new_task(client, clerk, lead="IATUL", deadline=nov(10), title="E")
    new_task(client, clerk, lead="IATUL", deadline=nov(12), title="F")
    g = new_task(client, clerk, lead="POTO", deadline=nov(15), title="G")
    new_task(client, clerk, lead="IATUL", deadline=dt.date(2025, 10, 31), title="H", assigned_on="2025-10-01")
    set_today(client, nov(9))
    assert report(client, chumo, a["id"], "done", "A xong").status_code == 201
    assert report(client, iatul, e["id"], "done", "E xong").status_code == 201
    assert report(client, chumo, c["id"], "progress", "C 50%", progress_pct=50).status_code == 201
    set_today(client, nov(20))
    assert report(client, admin, g["id"], "done", "G xong, báo hộ").status_code == 201
    set_today(client, nov(22))
    assert report(client, chumo, b["id"], "done", "B xong").status_code == 201
    set_today(client, nov(24))
    assert review(client, clerk, a["id"], "accept").status_code == 200
    assert review(client, clerk, b["id"], "accept").status_code == 200
    set_today(client, nov(25))


# every commune of the district is listed, those given no task with zeros (issue 18 item 4)
EXPECTED_ROWS = [
    ["CHUMO", "UBND xã Chư Mố", 4, 1, 1, 2, 0, 0.0],
    ["CHURANG", "UBND xã Chư Răng", 0, 0, 0, 0, 0, 0.0],
    ["IABROAI", "UBND xã Ia Broăi", 0, 0, 0, 0, 0, 0.0],
    ["IAKDAM", "UBND xã Ia Kdăm", 0, 0, 0, 0, 0, 0.0],
    ["IAMRON", "UBND xã Ia Mrơn", 0, 0, 0, 0, 0, 0.0],
    ["IATROK", "UBND xã Ia Trốk", 0, 0, 0, 0, 0, 0.0],
    ["IATUL", "UBND xã Ia Tul", 2, 0, 0, 1, 1, 50.0],
    ["KIMTAN", "UBND xã Kim Tân", 0, 0, 0, 0, 0, 0.0],
    ["POTO", "UBND xã Pờ Tó", 1, 0, 0, 0, 1, 100.0],
    ["", "Tổng cộng", 7, 1, 1, 3, 2, 28.6],
]


def _rows(body: dict[str, Any]) -> list[list[Any]]:
    return [
        [r["unit"], r["unit_name"], r["assigned"], r["completed_on_time"], r["completed_late"],
         r["in_progress"], r["overdue"], r["overdue_pct"]]
        for r in [*body["rows"], body["total"]]
    ]  # fmt: skip


def test_scoreboard_counts_csv_and_xlsx(world: World) -> None:
    client = world.client
    _scenario(world)
    clerk = world.h("clerk")
    r = client.get(f"/api/reports/units{PERIOD}", headers=clerk)
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["from_date"], body["to_date"], body["as_of"]) == ("2025-11-01", "2025-11-30", "2025-11-25")
    assert _rows(body) == EXPECTED_ROWS

    # a longer period takes in H (assigned in October, overdue)
    wider = client.get("/api/reports/units?from=2025-10-01&to=2025-11-30", headers=clerk).json()
    assert _rows(wider)[6] == ["IATUL", "UBND xã Ia Tul", 3, 0, 0, 1, 2, 66.7]
    # a commune sees only the tasks involving it
    own = client.get(f"/api/reports/units{PERIOD}", headers=world.h("chumo")).json()
    assert _rows(own) == [EXPECTED_ROWS[0], ["", "Tổng cộng", 4, 1, 1, 2, 0, 0.0]]

    csv_r = client.get(f"/api/reports/units{PERIOD}&format=csv", headers=clerk)
    assert csv_r.status_code == 200 and csv_r.headers["content-type"].startswith("text/csv")
    assert 'filename="bao-cao-nhiem-vu_2025-11-01_2025-11-30.csv"' in csv_r.headers["content-disposition"]
    # Vietnamese Excel: a byte-order mark, ";" between fields, decimal commas
    assert csv_r.content.startswith(b"\xef\xbb\xbf")
    text = csv_r.content.decode("utf-8-sig")
    assert text.splitlines()[0] == ";".join(HEADERS_VI)
    parsed = list(csv.reader(io.StringIO(text), delimiter=";"))
    assert parsed[0] == HEADERS_VI
    decimal_comma = [[*map(str, row[:-1]), f"{row[-1]:.1f}".replace(".", ",")] for row in EXPECTED_ROWS]
    assert parsed[1:] == decimal_comma
    assert parsed[-1][-1] == "28,6"

    xlsx_r = client.get(f"/api/reports/units{PERIOD}&format=xlsx", headers=clerk)
    assert xlsx_r.status_code == 200
    assert (
        xlsx_r.headers["content-type"] == "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    )
    sheet = load_workbook(io.BytesIO(xlsx_r.content)).active
    assert sheet is not None and sheet.title == "Nhiệm vụ theo đơn vị"
    values = [list(row) for row in sheet.iter_rows(values_only=True)]
    assert values[0][0] == "BÁO CÁO TÌNH HÌNH THỰC HIỆN NHIỆM VỤ THEO ĐƠN VỊ"
    assert values[1][0] == (
        "Kỳ báo cáo: từ ngày 01/11/2025 đến ngày 30/11/2025 (số liệu tính đến ngày 25/11/2025)"
    )
    assert values[3] == HEADERS_VI
    assert [[v if v is not None else "" for v in row] for row in values[4:]] == EXPECTED_ROWS
    assert sheet.column_dimensions["B"].width >= max(len(r[1]) for r in EXPECTED_ROWS)
    assert sheet["H5"].number_format == "0.0"
    assert sheet["B14"].font.bold and not sheet["B5"].font.bold

    bad = client.get("/api/reports/units?from=2025-12-01&to=2025-11-01", headers=clerk)
    assert bad.status_code == 422 and bad.json()["error"]["details"] == {"field": "from"}
    assert client.get("/api/reports/units?format=pdf", headers=clerk).status_code == 422
    assert client.get("/api/reports/units?from=hôm-qua", headers=clerk).status_code == 422
