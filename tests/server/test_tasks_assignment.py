"""Who may assign a task to whom (issue 19), the whole matrix through ``POST /api/tasks``.

The rule (server/services/tasks.py, README "Who may do what"): only an admin, or the chair or clerk of the
assigning unit, creates tasks; the lead and co-ordinating units must be the assigning unit itself or below it
in the unit tree; a task of a meeting is assigned by the meeting's chairing unit, and an invitation to the
meeting grants nothing. Expected outcomes are written from that rule, not from the implementation.

Tree used: IAPA (district) → CHUMO, IATUL, POTO (communes); CHUMO → CHUMO-T1 (a village added here).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from server.models import Unit
from server.services import units
from tests.conftest import ACCOUNTS, Account, World, open_world

VILLAGE = "CHUMO-T1"
TARGETS = ("IAPA", "CHUMO", VILLAGE, "IATUL", "POTO")
SUBTREE = {
    "IAPA": {"IAPA", "CHUMO", VILLAGE, "IATUL", "POTO"},
    "CHUMO": {"CHUMO", VILLAGE},
    "IATUL": {"IATUL"},
}
USERS = (*ACCOUNTS, Account("poto", "member", "POTO"), Account("chumo-clerk", "clerk", "CHUMO"))


@dataclass(frozen=True)
class Mode:
    """How the task is made: on its own (assigned by the caller's unit) or from a meeting (by its chair)."""

    name: str
    meeting_chair: str | None = None  # the meeting's chairing unit; None: a task without a meeting
    invited: tuple[str, ...] = ()


MODES = (
    Mode("own-unit"),
    Mode("iapa-meeting", "IAPA", ("CHUMO", "IATUL")),
    # a commune's meeting with the district and another commune invited
    Mode("chumo-meeting", "CHUMO", ("IAPA", "POTO")),
)


def assigning_unit(account: Account, mode: Mode) -> str:
    return mode.meeting_chair or account.unit


def expected(account: Account, mode: Mode, target: str) -> int:
    if account.role == "admin":
        return 201
    assigning = assigning_unit(account, mode)
    if account.role not in ("chair", "clerk") or account.unit != assigning:
        return 403
    return 201 if target in SUBTREE.get(assigning, {assigning}) else 403


@dataclass
class Setup:
    world: World
    meetings: dict[str, int]


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Setup]:
    with open_world(tmp_path_factory, "tasks-assignment", USERS) as world:
        with world.client.app.state.db.session() as session:  # type: ignore[attr-defined]
            chumo = units.get_by_code(session, "CHUMO")
            session.add(Unit(code=VILLAGE, name="Thôn 1 xã Chư Mố", kind="village", parent_id=chumo.id))
        ids: dict[str, int] = {}
        for mode in MODES:
            if mode.meeting_chair is None:
                continue
            body = {
                "title": f"Họp {mode.name}",
                "chair_unit": mode.meeting_chair,
                "units": list(mode.invited),
                "starts_at": "2026-12-01T08:00:00+07:00",
            }
            r = world.client.post("/api/meetings", json=body, headers=world.h("admin"))
            assert r.status_code == 201, r.text
            ids[mode.name] = int(r.json()["id"])
        yield Setup(world, ids)


def create(s: Setup, account: Account, mode: Mode, lead: str, co: list[str] | None = None) -> Any:
    body: dict[str, Any] = {"title": "Rà soát hộ nghèo", "lead_unit": lead, "deadline": "2027-01-30"}
    if co:
        body["co_units"] = co
    if mode.name in s.meetings:
        body["meeting_id"] = s.meetings[mode.name]
    return s.world.client.post("/api/tasks", json=body, headers=s.world.h(account.username))


CASES = list(itertools.product(USERS, MODES, TARGETS))


@pytest.mark.parametrize(
    ("account", "mode", "target"), CASES, ids=[f"{a.username}-{m.name}-{t}" for a, m, t in CASES]
)
def test_who_may_assign_to_whom(setup: Setup, account: Account, mode: Mode, target: str) -> None:
    r = create(setup, account, mode, target)
    want = expected(account, mode, target)
    assert r.status_code == want, r.text
    if want == 201:
        task = r.json()
        assert (task["assigning_unit"], task["lead_unit"]) == (
            "IAPA"
            if account.role == "admin" and mode.meeting_chair is None
            else assigning_unit(account, mode),
            target,
        )
        return
    error = r.json()["error"]
    assert set(error) == {"code", "message", "details"} and error["code"] == "forbidden"
    role_allowed = account.role in ("chair", "clerk") and account.unit == assigning_unit(account, mode)
    if role_allowed:  # refused for the target, not the role: the message and details say which unit
        assert error["details"] == {
            "field": "lead_unit",
            "unit": target,
            "assigning_unit": assigning_unit(account, mode),
        }
        assert "cấp dưới" in error["message"]


COMMUNE_MODES = [m for m in MODES if m.meeting_chair in (None, "CHUMO")]  # IAPA's subtree is every unit


@pytest.mark.parametrize("mode", COMMUNE_MODES, ids=[m.name for m in COMMUNE_MODES])
def test_co_ordinating_units_follow_the_same_rule(setup: Setup, mode: Mode) -> None:
    clerk = next(a for a in USERS if a.role == "clerk" and a.unit == (mode.meeting_chair or "CHUMO"))
    own = assigning_unit(clerk, mode)
    outside = next(t for t in TARGETS if t not in SUBTREE[own])
    inside = sorted(SUBTREE[own] - {own})
    if inside:
        r = create(setup, clerk, mode, own, co=inside)
        assert r.status_code == 201, r.text
        assert r.json()["co_units"] == inside
    before = setup.world.client.get("/api/tasks", headers=setup.world.h("admin")).json()
    r = create(setup, clerk, mode, own, co=[*inside, outside])
    assert r.status_code == 403, r.text
    assert r.json()["error"]["details"] == {"field": "co_units", "unit": outside, "assigning_unit": own}
    # nothing was written
    assert setup.world.client.get("/api/tasks", headers=setup.world.h("admin")).json() == before
