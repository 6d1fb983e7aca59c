"""A generated matrix: every task route × every account (role and unit) and an anonymous caller.

The expected outcome is written from the product rules (the table in server/services/tasks.py), not from the
implementation. Each task is assigned by IAPA, led by CHUMO, co-ordinated by CHURANG; IATUL and POTO have no
part in it. The meeting is chaired by IAPA and invites CHUMO and CHURANG.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from tests.conftest import Account
from tests.server.test_tasks_support import (
    ALL_ACCOUNTS,
    DEC,
    World,
    day,
    make_meeting,
    new_task,
    open_world,
    png_bytes,
    report,
    set_today,
)

ASSIGNING, LEAD, CO = "IAPA", "CHUMO", "CHURANG"
WORKERS = ("chair", "clerk", "member")


def involved(a: Account) -> bool:
    return a.role == "admin" or a.unit in (ASSIGNING, LEAD, CO)


def assigns(a: Account) -> bool:
    return a.role == "admin" or (a.role in ("chair", "clerk") and a.unit == ASSIGNING)


def reports(a: Account) -> bool:
    return a.role == "admin" or (a.role in WORKERS and a.unit == LEAD)


def notes(a: Account) -> bool:
    return reports(a) or (a.role in WORKERS and a.unit == CO)


def anyone(a: Account) -> bool:
    return True


@dataclass(frozen=True)
class Route:
    name: str
    method: str
    path: str  # {task}: a fresh task in the state `setup` leaves it; {meeting}: the module's meeting
    ok_status: int
    allowed: Callable[[Account], bool]
    json: dict[str, Any] | None = None
    form: dict[str, str] | None = None
    setup: str = "assigned"  # assigned | evidence | reported_done | extension_pending
    files: list[tuple[str, bytes, str]] = field(default_factory=list)


ROUTES = (
    Route("read", "GET", "/api/tasks/{task}", 200, involved),
    Route("evidence", "GET", "/api/tasks/{task}/evidence/{evidence}", 200, involved, setup="evidence"),
    Route("list", "GET", "/api/tasks", 200, anyone),
    Route(
        "create",
        "POST",
        "/api/tasks",
        201,
        assigns,
        json={
            "title": "Mới",
            "lead_unit": LEAD,
            "co_units": [CO],
            "deadline": "2026-12-30",
            "assigning_unit": ASSIGNING,
        },
    ),
    Route(
        "progress", "POST", "/api/tasks/{task}/reports", 201, notes, form={"kind": "progress", "note": "50%"}
    ),
    Route(
        "done",
        "POST",
        "/api/tasks/{task}/reports",
        201,
        reports,
        form={"kind": "done", "note": "Xong"},
        files=[("anh.png", png_bytes(), "image/png")],
    ),
    Route(
        "accept",
        "POST",
        "/api/tasks/{task}/review",
        200,
        assigns,
        json={"decision": "accept"},
        setup="reported_done",
    ),
    Route(
        "return",
        "POST",
        "/api/tasks/{task}/review",
        200,
        assigns,
        json={"decision": "return", "note": "Bổ sung"},
        setup="reported_done",
    ),
    Route(
        "extension",
        "POST",
        "/api/tasks/{task}/extensions",
        201,
        reports,
        json={"new_deadline": "2027-01-15", "reason": "Mưa lũ"},
    ),
    Route(
        "decide",
        "POST",
        "/api/tasks/{task}/extensions/{extension}/decision",
        200,
        assigns,
        json={"decision": "approve"},
        setup="extension_pending",
    ),
    Route("scoreboard", "GET", "/api/reports/units", 200, anyone),
    Route("scoreboard.csv", "GET", "/api/reports/units?format=csv", 200, anyone),
    Route("suggestions", "GET", "/api/meetings/{meeting}/suggestions", 200, assigns),
    Route("agenda", "POST", "/api/meetings/{meeting}/agenda/open-tasks", 200, assigns),
    Route("notifications", "GET", "/api/notifications", 200, anyone),
)


@dataclass
class Matrix:
    world: World
    meeting_id: int


@pytest.fixture(scope="module")
def matrix(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Matrix]:
    with open_world(tmp_path_factory, "tasks-matrix") as world:
        set_today(world.client, day(DEC, 1))
        yield Matrix(world, make_meeting(world.client, world.h("admin"), units=[LEAD, CO]))


def _fresh(m: Matrix, setup: str) -> dict[str, int]:
    client, admin = m.world.client, m.world.h("admin")
    task = new_task(client, admin, lead=LEAD, co_units=[CO], deadline=day(DEC, 20), assigning_unit=ASSIGNING)
    ids = {"task": int(task["id"])}
    if setup == "evidence":
        r = report(client, admin, task["id"], "progress", "Ảnh", files=[("a.png", png_bytes(), "image/png")])
        ids["evidence"] = int(r.json()["evidence"][0]["id"])
    elif setup == "reported_done":
        assert report(client, admin, task["id"], "done", "Xong").status_code == 201
    elif setup == "extension_pending":
        r = client.post(
            f"/api/tasks/{task['id']}/extensions",
            json={"new_deadline": "2027-01-10", "reason": "Thiếu kinh phí"},
            headers=admin,
        )
        ids["extension"] = int(r.json()["id"])
    return ids


CASES = list(itertools.product(ROUTES, [*ALL_ACCOUNTS, None]))


@pytest.mark.parametrize(
    ("route", "account"), CASES, ids=[f"{r.name}-{a.username if a else 'anonymous'}" for r, a in CASES]
)
def test_task_permission_matrix(matrix: Matrix, route: Route, account: Account | None) -> None:
    client = matrix.world.client
    path = route.path.replace("{meeting}", str(matrix.meeting_id))
    if "{task}" in path:
        for key, value in _fresh(matrix, route.setup).items():
            path = path.replace("{" + key + "}", str(value))
    headers = matrix.world.h(account.username) if account else {}
    client.cookies.clear()
    if route.form is not None:
        files = [("files", (n, c, t)) for n, c, t in route.files] or None
        r = client.request(route.method, path, data=route.form, files=files, headers=headers)
    else:
        r = client.request(route.method, path, json=route.json, headers=headers)
    expected = 401 if account is None else (route.ok_status if route.allowed(account) else 403)
    assert r.status_code == expected, r.text
    if expected >= 400:
        assert set(r.json()["error"]) == {"code", "message", "details"}
