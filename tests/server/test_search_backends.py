"""The engines' walk through the index — the newest rows, then further back in id order, then the full-text
index — on the test's database (SQLite; PostgreSQL in the PostgreSQL run), with the walk's steps made small so
that a few hundred rows cross every boundary. Whatever step finds them, a page is the newest matching rows."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator

import pytest
from sqlalchemy.orm import Session

from server.config import Settings
from server.db import Database, migrate
from server.services import search_backends
from server.services.search_backends import QueryPlan, SearchDoc, backend_for

ROWS = 600
PAGE = 20
SCOPED_UNIT = 4
FIRST_DAY = dt.date(2026, 1, 5)
ROWS_PER_DAY = 50

# k: a row's place counted from the newest (0). With 30 newest rows and 100 more (below):
WORDS: dict[str, Callable[[int], bool]] = {
    "lúa": lambda k: True,  # the newest rows fill the page
    "mía": lambda k: k % 5 == 0,  # 6 in the newest 30 predict the page within the next 100: it fills there
    # predicted within the next 100 too, but sparse there: the index finishes the page
    "ngô": lambda k: (k < 30 and k % 3 == 0) or k % 40 == 0,
    "sắn": lambda k: k % 100 == 50,  # none among the newest: straight to the index
}


@pytest.fixture
def index(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Session, list[SearchDoc]]]:
    monkeypatch.setattr(search_backends, "RECENT_SCAN_ROWS", 30)
    monkeypatch.setattr(search_backends, "NEXT_SCAN_ROWS", 100)
    migrate(settings)
    db = Database(settings)
    docs = []
    for i in range(ROWS):
        k = ROWS - 1 - i
        words = [w for w, has in WORDS.items() if has(k)]
        scope = frozenset({1, SCOPED_UNIT}) if k % 2 == 0 else frozenset({1})
        day = FIRST_DAY + dt.timedelta(days=i // ROWS_PER_DAY)
        text = " ".join(["báo cáo", *words, "xã"])
        docs.append(SearchDoc("segment", i + 1, text, day=day, scope_unit_ids=scope))
    with Session(db.engine) as session:
        backend_for(session).upsert(session, docs)
        session.commit()
        yield session, docs
    db.dispose()


@pytest.mark.parametrize("word", list(WORDS))
@pytest.mark.parametrize("scoped", [False, True])
@pytest.mark.parametrize("accents", [True, False])
def test_a_page_is_the_newest_matching_rows_whichever_step_finds_them(
    index: tuple[Session, list[SearchDoc]], word: str, scoped: bool, accents: bool
) -> None:
    session, docs = index
    query = word if accents else {"lúa": "lua", "mía": "mia", "ngô": "ngo", "sắn": "san"}[word]
    tags = (f"s{SCOPED_UNIT}",) if scoped else ()
    rows = backend_for(session).query(session, QueryPlan(query=query, tags=tags, limit=PAGE))
    matching = [
        d.ref_id
        for d in reversed(docs)
        if word in d.text.split() and (not scoped or SCOPED_UNIT in d.scope_unit_ids)
    ]
    assert [r.ref_id for r in rows] == matching[:PAGE]
    assert all(r.exact == accents for r in rows)


@pytest.mark.parametrize("word", list(WORDS))
def test_a_date_range_keeps_the_newest_matching_rows_of_those_days(
    index: tuple[Session, list[SearchDoc]], word: str
) -> None:
    session, docs = index
    first, last = FIRST_DAY + dt.timedelta(days=3), FIRST_DAY + dt.timedelta(days=5)
    plan = QueryPlan(query=word, day_from=first, day_to=last, limit=PAGE)
    rows = backend_for(session).query(session, plan)
    matching = [
        d.ref_id
        for d in reversed(docs)
        if word in d.text.split() and d.day is not None and first <= d.day <= last
    ]
    assert matching  # every word has rows in those days
    assert [r.ref_id for r in rows] == matching[:PAGE]
    assert all(r.day is not None and first <= r.day <= last for r in rows)
