"""Search never shows what the searcher may not open, and shows what it may (issue 19), as a property.

Hypothesis draws meetings (chairing unit, invited units, a unit invited later through the HTTP route),
transcripts, minutes and tasks (assigning, lead and co-ordinating units, with or without a meeting), all made
through the services. Every example carries its own marker word, so a query finds only that example's things.
For each query and every account (several roles and units), through the real HTTP routes:

- every hit opens for that account (segments: ``/api/segments/{id}/history``, minutes:
  ``/api/meetings/{id}/minutes``, tasks: ``/api/tasks/{id}``) with 200, and a hit naming a meeting's title
  comes from a meeting the account may open;
- every thing that matches (what the admin finds, itself checked against the texts written) and that the
  account opens with 200 is among its hits;
- a page is full: ``limit=1&offset=1`` is the second of the account's hits.

Runs on SQLite FTS5 and, with GIAOBAN_TEST_DATABASE_URL, on PostgreSQL. ``-s`` prints how many authorization
requests were tried.
"""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from server.clock import FixedClock
from server.domain.vntext import fold
from server.models import Meeting, MinutesVersion, User
from server.services import accounts, meetings, minutes, search, tasks, transcripts
from server.services.context import Actor
from server.services.minutes_content import DocKind, DocumentRequest
from server.services.transcripts import SegmentInput
from tests.conftest import ACCOUNTS, Account, login_headers, open_app, seed_accounts

TODAY = dt.date(2026, 12, 1)
UNITS = ("IAPA", "CHUMO", "CHURANG", "IATUL", "POTO", "KIMTAN")
CHAIRS = ("IAPA", "CHUMO", "IATUL")
USERS: tuple[Account, ...] = (
    *ACCOUNTS,
    Account("poto", "member", "POTO"),
    Account("churang-viewer", "viewer", "CHURANG"),
)
# distinct accent-folded forms; "hoà" is written with the old tone placement
WORDS = ("thủy", "nghèo", "đất", "giống", "kênh", "hoà", "mương", "lúa")

_markers = itertools.count()
REQUESTS = {"search": 0, "open": 0}


def _marker() -> str:
    """A word no other example uses (letters only, so every engine tokenizes it whole)."""
    n, letters = next(_markers), ""
    while True:
        n, r = divmod(n, 26)
        letters += chr(ord("a") + r)
        if n == 0:
            return f"zq{letters}x"


@dataclass(frozen=True)
class MeetingPlan:
    chair: str
    invited: frozenset[str]
    late_invite: str | None
    segments: tuple[tuple[str, tuple[str, ...]], ...]  # (unit, words)
    with_minutes: bool


@dataclass(frozen=True)
class TaskPlan:
    meeting: int | None  # index into the scenario's meetings
    assigning: str
    lead: str
    co: frozenset[str]
    words: tuple[str, ...]


@dataclass(frozen=True)
class Scenario:
    meetings: tuple[MeetingPlan, ...]
    tasks: tuple[TaskPlan, ...]
    query_words: tuple[str, ...]
    strip_accents: bool


words_st = st.lists(st.sampled_from(WORDS), min_size=0, max_size=3).map(tuple)


@st.composite
def meeting_plans(draw: st.DrawFn) -> MeetingPlan:
    chair = draw(st.sampled_from(CHAIRS))
    others = [u for u in UNITS if u != chair]
    invited = draw(st.frozensets(st.sampled_from(others), max_size=3))
    late = draw(st.none() | st.sampled_from([u for u in others if u not in invited]))
    speakers = sorted({chair, *invited})
    segments = draw(st.lists(st.tuples(st.sampled_from(speakers), words_st), max_size=3))
    return MeetingPlan(chair, invited, late, tuple(segments), draw(st.booleans()))


@st.composite
def scenarios(draw: st.DrawFn) -> Scenario:
    plans = tuple(draw(st.lists(meeting_plans(), min_size=1, max_size=3)))
    task_plans = []
    for _ in range(draw(st.integers(0, 4))):
        meeting = draw(st.none() | st.integers(0, len(plans) - 1))
        assigning = plans[meeting].chair if meeting is not None else draw(st.sampled_from(UNITS))
        lead = draw(st.sampled_from(UNITS))
        co = draw(st.frozensets(st.sampled_from([u for u in UNITS if u != lead]), max_size=2))
        task_plans.append(TaskPlan(meeting, assigning, lead, co, draw(words_st)))
    query_words = tuple(draw(st.lists(st.sampled_from(WORDS), max_size=1)))
    return Scenario(plans, tuple(task_plans), query_words, draw(st.booleans()))


@dataclass
class Thing:
    """Something search may return: (kind, id), the meeting it belongs to and its searchable text."""

    kind: str
    id: int
    meeting_id: int | None
    text: str

    @property
    def key(self) -> tuple[str, int]:
        return (self.kind, self.id)

    def path(self) -> str:
        if self.kind == "segment":
            return f"/api/segments/{self.id}/history"
        if self.kind == "minutes":
            return f"/api/meetings/{self.id}/minutes"
        if self.kind == "meeting":
            return f"/api/meetings/{self.id}"
        return f"/api/tasks/{self.id}"


@dataclass
class World:
    client: TestClient
    headers: dict[str, dict[str, str]]
    admin: Actor
    opened: dict[tuple[str, tuple[str, int]], int] = field(default_factory=dict)

    def opens(self, user: str, thing: Thing) -> bool:
        key = (user, thing.key)
        if key not in self.opened:
            REQUESTS["open"] += 1
            r = self.client.get(thing.path(), headers=self.headers[user])
            assert r.status_code in (200, 403, 404), (thing, user, r.status_code, r.text)
            self.opened[key] = r.status_code
        return self.opened[key] == 200

    def search(self, user: str, q: str, **params: Any) -> list[dict[str, Any]]:
        REQUESTS["search"] += 1
        r = self.client.get(
            "/api/search", params={"q": q, "limit": 100, **params}, headers=self.headers[user]
        )
        assert r.status_code == 200, r.text
        hits: list[dict[str, Any]] = r.json()["hits"]
        return hits


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    with open_app(tmp_path_factory, "search-authz") as client:
        client.app.state.clock = FixedClock()  # type: ignore[attr-defined]
        client.app.state.clock.set_today(TODAY)  # type: ignore[attr-defined]
        db = client.app.state.db  # type: ignore[attr-defined]
        seed_accounts(client, USERS)
        with db.session() as session:
            admin = accounts.actor_of(session.scalars(select(User).where(User.username == "admin")).one())
        headers = {a.username: login_headers(client, a.username) for a in USERS}
        yield World(client, headers, admin)
    print(f"\nsearch authz: {REQUESTS['search']} searches, {REQUESTS['open']} open requests")


def build(w: World, scenario: Scenario, marker: str) -> list[Thing]:
    """Make the scenario through the services; return every searchable thing with its indexed text."""
    db = w.client.app.state.db  # type: ignore[attr-defined]
    settings_ = w.client.app.state.settings  # type: ignore[attr-defined]
    things: list[Thing] = []
    meeting_ids: list[int] = []
    with db.session() as session:
        for i, plan in enumerate(scenario.meetings):
            m = meetings.create(
                session,
                w.admin,
                meetings.MeetingCreate(
                    title=f"Họp {marker} số {i}",
                    chair_unit=plan.chair,
                    units=sorted(plan.invited),
                    starts_at=dt.datetime(2026, 12, 1, 8, tzinfo=dt.UTC),
                ),
            )
            meeting_ids.append(m.id)
            texts = [" ".join((marker, *words)) for _, words in plan.segments]
            ids = transcripts.store_segments(
                session,
                m.id,
                [
                    SegmentInput(10.0 * j, 10.0 * j + 5, text, unit)
                    for j, (text, (unit, _)) in enumerate(zip(texts, plan.segments, strict=True))
                ],
            )
            things += [Thing("segment", sid, m.id, t) for sid, t in zip(ids, texts, strict=True)]
            if plan.with_minutes:
                minutes.generate(session, w.admin, settings_, m.id, DocKind.MINUTES, DocumentRequest())
                content = session.scalars(
                    select(MinutesVersion.content).where(MinutesVersion.meeting_id == m.id)
                ).one()
                things.append(Thing("minutes", m.id, m.id, search.minutes_search_text(content)))
        for t in scenario.tasks:
            meeting_id = meeting_ids[t.meeting] if t.meeting is not None else None
            title = " ".join((marker, *t.words))
            task = tasks.create(
                session,
                w.admin,
                tasks.TaskCreate(
                    title=title,
                    lead_unit=t.lead,
                    co_units=sorted(t.co),
                    deadline=TODAY + dt.timedelta(days=20),
                    meeting_id=meeting_id,
                    assigning_unit=None if meeting_id is not None else t.assigning,
                ),
                TODAY,
            )
            things.append(Thing("task", task.id, meeting_id, title))
    for plan, mid in zip(scenario.meetings, meeting_ids, strict=True):
        if plan.late_invite is not None:  # through the route: it re-scopes the meeting's indexed rows
            r = w.client.post(
                f"/api/meetings/{mid}/units", json={"units": [plan.late_invite]}, headers=w.headers["admin"]
            )
            assert r.status_code == 200, r.text
    with db.session() as session:  # each meeting's own row (title, units, agenda), after the late invites
        for mid in meeting_ids:
            meeting = session.get(Meeting, mid)
            assert meeting is not None
            things.append(Thing("meeting", mid, mid, search.meeting_search_text(session, meeting)))
    return things


def matches(thing: Thing, words: list[str]) -> bool:
    present = set(fold(thing.text).split())
    return all(fold(word) in present for word in words)


@settings(
    max_examples=40,
    derandomize=True,
    deadline=None,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
    ],
)
@given(scenario=scenarios())
def test_every_hit_opens_and_every_openable_match_is_found(world: World, scenario: Scenario) -> None:
    marker = _marker()
    things = build(world, scenario, marker)
    by_key = {t.key: t for t in things}
    words = [marker, *scenario.query_words]
    q = " ".join(fold(word) if scenario.strip_accents else word for word in words)

    found = {(h["kind"], h["id"]) for h in world.search("admin", q)}
    assert found == {t.key for t in things if matches(t, words)}, q
    for acc in USERS:
        hits = world.search(acc.username, q)
        keys = [(h["kind"], h["id"]) for h in hits]
        for hit, key in zip(hits, keys, strict=True):
            assert key in by_key, (acc, key)
            assert world.opens(acc.username, by_key[key]), f"{acc.username} finds {key} but cannot open it"
            if hit["meeting_title"] is not None:
                REQUESTS["open"] += 1
                r = world.client.get(
                    f"/api/meetings/{hit['meeting_id']}", headers=world.headers[acc.username]
                )
                assert r.status_code == 200, f"{acc.username} sees the title of meeting {hit['meeting_id']}"
        openable = {k for k in found if world.opens(acc.username, by_key[k])}
        assert set(keys) == openable, acc
        if len(keys) >= 2:
            second = world.search(acc.username, q, limit=1, offset=1)
            assert [(h["kind"], h["id"]) for h in second] == [keys[1]], acc
