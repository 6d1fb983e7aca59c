"""The search index table ``search_docs`` and its two full-text engines: SQLite FTS5 and PostgreSQL tsvector.

The table is created by migration 0002 (not an ORM model: it is written and read with SQL here). One row per
searchable thing, generic over ``kind`` (segment, minutes, task) and ``ref_id`` (the id of that thing):

- ``text`` is the original (NFC) text; ``canon``/``fold`` its two search forms (``server.domain.vntext``);
- ``tags`` holds filter tokens matched by the full-text engine itself, so filters cost an index intersection
  rather than a scan: ``k<kind>``, ``m<meeting id>``, ``u<unit id>`` and ``s<unit id>`` for every unit allowed
  to see the row (the meeting's chairing and invited units, or a task's units);
- ``day`` is the local calendar date (meeting day, or the day a task was assigned) for the date filters.

Both engines answer a query the same way, in two tiers: rows whose ``canon`` form matches (the exact
diacritics, old or new tone placement), then rows matching only the accent-folded form; inside a tier the
most recently indexed row first (``id`` descending, i.e. newest transcripts first). Each tier is a
``LIMIT``-ed walk in ``id`` order, which both engines stop early: a common word stays cheap on a large index.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from sqlalchemy import bindparam, text
from sqlalchemy.orm import Session

from server.domain.vntext import build_fts5_query, build_tsquery, canon, fold

log = logging.getLogger(__name__)

INSERT_BATCH_ROWS = 500
# PostgreSQL: rows examined in id order before a query turns to the GIN index (≈ 1–3 ms at 1 M rows).
RECENT_SCAN_ROWS = 3000
# PostgreSQL: the most rows walked in id order past the newest ones when the matches seen there predict that
# the page fills within them (≈ 1.7 µs a row at 1 M rows, stopped as soon as the page is full).
NEXT_SCAN_ROWS = 10_000

COLUMNS = "d.id, d.kind, d.ref_id, d.meeting_id, d.unit_id, d.speaker, d.start_s, d.end_s, d.day, d.text"


@dataclass(frozen=True)
class SearchDoc:
    """One row to index. ``scope_unit_ids`` are the units whose members may find it (admins find all)."""

    kind: str
    ref_id: int
    text: str
    meeting_id: int | None = None
    unit_id: int | None = None
    speaker: str = ""
    start_s: float | None = None
    end_s: float | None = None
    day: dt.date | None = None
    scope_unit_ids: frozenset[int] = field(default_factory=frozenset)

    def tags(self) -> str:
        tokens = [f"k{self.kind}"]
        if self.meeting_id is not None:
            tokens.append(f"m{self.meeting_id}")
        if self.unit_id is not None:
            tokens.append(f"u{self.unit_id}")
        tokens.extend(f"s{u}" for u in sorted(self.scope_unit_ids))
        return " ".join(tokens)

    def row(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "ref_id": self.ref_id,
            "meeting_id": self.meeting_id,
            "unit_id": self.unit_id,
            "speaker": self.speaker,
            "speaker_fold": fold(self.speaker),
            "start_s": self.start_s,
            "end_s": self.end_s,
            "day": self.day,
            "text": self.text,
            "canon": canon(self.text),
            "fold": fold(self.text),
            "tags": self.tags(),
        }


@dataclass(frozen=True)
class QueryPlan:
    """What to look for: the user's query, filter tags that must all be present, a date range, a speaker.

    ``visible`` is an SQL condition on the row ``d`` that every hit must meet (the searcher's visibility,
    made by ``server.services.search`` from ``server.services.policy``; empty for admins). It is checked in
    the query, before ``LIMIT``, so a page is never cut short by it. The ``s<unit>`` scope tags narrow the
    walk; this condition, read from the meetings and tasks tables themselves, is the judge.
    """

    query: str
    tags: tuple[str, ...] = ()
    day_from: dt.date | None = None
    day_to: dt.date | None = None
    speaker_fold: str = ""
    limit: int = 50
    visible: str = ""


@dataclass(frozen=True)
class DocRow:
    id: int
    kind: str
    ref_id: int
    meeting_id: int | None
    unit_id: int | None
    speaker: str
    start_s: float | None
    end_s: float | None
    day: dt.date | None
    text: str
    exact: bool


def _like_pattern(value: str) -> str:
    escaped = value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def _as_date(value: Any) -> dt.date | None:
    if value is None or isinstance(value, dt.date):
        return value
    return dt.date.fromisoformat(str(value))


class SearchBackend(Protocol):
    name: str

    def upsert(self, session: Session, docs: Sequence[SearchDoc]) -> None: ...

    def query(self, session: Session, plan: QueryPlan) -> list[DocRow]: ...


class _Common:
    """Writing rows (the same SQL on both engines; SQLite's triggers and PostgreSQL's generated columns keep
    the full-text side in step) and the shared filter clauses."""

    name = "common"
    # appended to a subquery that the planner must not flatten into the outer query
    _subquery_fence = ""

    def _bind_day(self, day: dt.date | None) -> Any:
        return day

    def upsert(self, session: Session, docs: Sequence[SearchDoc]) -> None:
        """Insert new rows, update rows whose (kind, ref_id) is indexed already (their id, and so their
        place in the order, is kept)."""
        if not docs:
            return
        for start in range(0, len(docs), INSERT_BATCH_ROWS):
            batch = docs[start : start + INSERT_BATCH_ROWS]
            by_key = {(d.kind, d.ref_id): d for d in batch}
            existing = self._existing_ids(session, list(by_key))
            rows = []
            for key, doc in by_key.items():
                values = doc.row()
                values["day"] = self._bind_day(doc.day)
                if key in existing:
                    values["id"] = existing[key]
                    session.execute(
                        text(
                            "UPDATE search_docs SET meeting_id = :meeting_id, unit_id = :unit_id,"
                            " speaker = :speaker, speaker_fold = :speaker_fold, start_s = :start_s,"
                            " end_s = :end_s, day = :day, text = :text, canon = :canon, fold = :fold,"
                            " tags = :tags WHERE id = :id"
                        ),
                        values,
                    )
                else:
                    rows.append(values)
            if rows:
                session.execute(
                    text(
                        "INSERT INTO search_docs (kind, ref_id, meeting_id, unit_id, speaker, speaker_fold,"
                        " start_s, end_s, day, text, canon, fold, tags) VALUES (:kind, :ref_id, :meeting_id,"
                        " :unit_id, :speaker, :speaker_fold, :start_s, :end_s, :day, :text, :canon, :fold,"
                        " :tags)"
                    ),
                    rows,
                )

    def _existing_ids(self, session: Session, keys: list[tuple[str, int]]) -> dict[tuple[str, int], int]:
        found: dict[tuple[str, int], int] = {}
        kinds: dict[str, list[int]] = {}
        for kind, ref in keys:
            kinds.setdefault(kind, []).append(ref)
        for kind, refs in kinds.items():
            stmt = text("SELECT kind, ref_id, id FROM search_docs WHERE kind = :kind AND ref_id IN :refs")
            stmt = stmt.bindparams(bindparam("refs", expanding=True))
            for k, ref, doc_id in session.execute(stmt, {"kind": kind, "refs": refs}):
                found[(k, int(ref))] = int(doc_id)
        return found

    def _filters(self, plan: QueryPlan, params: dict[str, Any]) -> str:
        clauses = []
        if plan.day_from is not None:
            clauses.append("d.day >= :day_from")
            params["day_from"] = self._bind_day(plan.day_from)
        if plan.day_to is not None:
            clauses.append("d.day <= :day_to")
            params["day_to"] = self._bind_day(plan.day_to)
        if plan.speaker_fold:
            clauses.append("d.speaker_fold LIKE :speaker ESCAPE '\\'")
            params["speaker"] = _like_pattern(plan.speaker_fold)
        if plan.visible:
            clauses.append(f"({plan.visible})")
        return "".join(f" AND {c}" for c in clauses)

    def _day_ids(self, session: Session, plan: QueryPlan) -> tuple[int, int] | None:
        """The lowest and highest id of the rows inside the plan's date range (from the day index, migration
        0005): both engines start their newest-first walk at the highest and stop at the lowest. None without
        a date range; (0, -1) when no row is inside it."""
        if plan.day_from is None and plan.day_to is None:
            return None
        params: dict[str, Any] = {}
        where = self._filters(QueryPlan(query="", day_from=plan.day_from, day_to=plan.day_to), params)
        in_range = f"SELECT d.id FROM search_docs d WHERE 1 = 1{where}{self._subquery_fence}"
        low, high = session.execute(text(f"SELECT min(r.id), max(r.id) FROM ({in_range}) r"), params).one()
        return (0, -1) if low is None else (int(low), int(high))

    @staticmethod
    def _two_tiers(
        limit: int, exact: Callable[[int], list[DocRow]], folded: Callable[[int], list[DocRow]]
    ) -> list[DocRow]:
        """Exact-diacritic rows first, then accent-folded ones. The folded tier runs only when the exact tier
        came back short, i.e. held every exact match: dropping those ids is then the same as ``NOT canon``,
        without making the engine subtract one posting list from the other."""
        first = exact(limit)
        if len(first) >= limit:
            return first
        seen = {r.id for r in first}
        rest = [r for r in folded(limit + len(first)) if r.id not in seen]
        return first + rest[: limit - len(first)]

    @staticmethod
    def _rows(result: Iterable[Any], exact: bool) -> list[DocRow]:
        return [
            DocRow(
                id=int(r[0]),
                kind=r[1],
                ref_id=int(r[2]),
                meeting_id=r[3],
                unit_id=r[4],
                speaker=r[5],
                start_s=r[6],
                end_s=r[7],
                day=_as_date(r[8]),
                text=r[9],
                exact=exact,
            )
            for r in result
        ]


def delete_docs(session: Session, kind: str, ref_ids: Iterable[int]) -> None:
    refs = list(ref_ids)
    if not refs:
        return
    stmt = text("DELETE FROM search_docs WHERE kind = :kind AND ref_id IN :refs").bindparams(
        bindparam("refs", expanding=True)
    )
    session.execute(stmt, {"kind": kind, "refs": refs})


class Fts5Backend(_Common):
    """SQLite: ``search_fts_canon`` and ``search_fts_fold`` (FTS5, external content over ``search_docs``,
    unicode61 keeping diacritics), one per form."""

    name = "sqlite-fts5"

    def _bind_day(self, day: dt.date | None) -> Any:
        return day.isoformat() if day is not None else None

    def query(self, session: Session, plan: QueryPlan) -> list[DocRow]:
        q = build_fts5_query(plan.query)
        tags = ""
        if plan.tags:
            tags = " AND tags : (" + " ".join(f'"{t}"' for t in plan.tags) + ")"
        # FTS5 walks its matches newest first and the day is checked on each: for a date range the walk is
        # narrowed to the ids of that range's rows instead of starting at the newest row (rows inside the ids
        # but outside the days are still filtered out).
        ids = self._day_ids(session, plan)
        if ids is not None and ids[0] > ids[1]:
            return []

        def run(table: str, match: str, limit: int, exact: bool) -> list[DocRow]:
            params: dict[str, Any] = {"match": match + tags, "limit": limit}
            where = self._filters(plan, params)
            if ids is not None:
                where += " AND f.rowid BETWEEN :low_id AND :high_id"
                params.update(low_id=ids[0], high_id=ids[1])
            sql = (
                f"SELECT {COLUMNS} FROM {table} f JOIN search_docs d ON d.id = f.rowid"
                f" WHERE {table} MATCH :match{where} ORDER BY f.rowid DESC LIMIT :limit"
            )
            return self._rows(session.execute(text(sql), params), exact)

        return self._two_tiers(
            plan.limit,
            lambda n: run("search_fts_canon", f"(canon : ({q.canon}))", n, True),
            lambda n: run("search_fts_fold", f"(fold : ({q.fold}))", n, False),
        )


class PostgresBackend(_Common):
    """PostgreSQL: generated tsvector columns with GIN; ``giaoban_fold`` = ``simple`` + unaccent.

    The planner cannot be trusted with ``WHERE tsv @@ q ORDER BY id DESC LIMIT n``: it walks the primary key
    backwards when it believes the term common and scans the GIN index when it believes it rare, and its
    belief is a guess for words outside its statistics and for phrases (measured at 1 M rows: 1.6 s for an
    absent name, 2 s for a phrase whose words are common but never adjacent). Each tier therefore runs in two
    bounded steps: the newest :data:`RECENT_SCAN_ROWS` rows in ``id`` order (a common word fills the page
    there), then, only if the page is not full, the older rows through the GIN index (few matches by then),
    the ``id + 0`` ordering keeping the planner off the primary-key walk. Phrases are narrowed first by the
    ``pairs`` column (adjacent folded word pairs, GIN-indexed); the tsvector test stays the judge.

    Between the two, when the newest rows held some matches but not a page, their density predicts how far an
    id-order walk must go: within :data:`NEXT_SCAN_ROWS` more rows, that walk runs first. Matches of middling
    density (a page in more than 3 000 rows but not many more: a word in 3 % of a member's rows, which are a
    fifth of the table) are where the GIN step is slowest — thousands of rows to fetch and sort, 170–250 ms at
    1 M rows — and the walk finds a page in a few ms.
    The older step's ``id + 0 <`` bound keeps the planner from turning the boundary into a bitmap of the
    whole primary key.
    """

    name = "postgresql-tsvector"
    # flattened, min(id) over a date range's rows is answered by walking the primary key from its start until
    # a row of the range turns up (half the table for a middle month: 0.7–0.9 s at 1 M rows)
    _subquery_fence = " OFFSET 0"

    def query(self, session: Session, plan: QueryPlan) -> list[DocRow]:
        q = build_tsquery(plan.query)
        canon_q = "d.canon_tsv @@ to_tsquery('simple', :canon_q)"
        fold_q = "d.fold_tsv @@ to_tsquery('giaoban_fold', :fold_q)"
        # a date range: the walks start at its highest id, the index step stops at its lowest
        ids = self._day_ids(session, plan)
        if ids is not None and ids[0] > ids[1]:
            return []
        top = " WHERE id <= :high_id" if ids is not None else ""
        bottom = " AND d.id >= :low_id" if ids is not None else ""

        def run(condition: str, limit: int, exact: bool) -> list[DocRow]:
            params: dict[str, Any] = {
                "canon_q": q.canon,
                "fold_q": q.fold,
                "limit": limit,
                "recent": RECENT_SCAN_ROWS,
            }
            if ids is not None:
                params.update(low_id=ids[0], high_id=ids[1])
            where = condition + self._filters(plan, params)
            if plan.tags:
                where += " AND d.tags_tsv @@ to_tsquery('simple', :tags_q)"
                params["tags_q"] = " & ".join(f"'{t}'" for t in plan.tags)
            if q.phrases:
                # Every adjacent word pair of each phrase (migration 0004): a selective GIN test that spares
                # the positional recheck of every row merely holding the phrase's words.
                pairs = " || ".join(f"giaoban_pairs(:phrase{i})" for i in range(len(q.phrases)))
                where += f" AND d.pairs @> ({pairs})"
                params.update({f"phrase{i}": phrase for i, phrase in enumerate(q.phrases)})
            newest = f"SELECT * FROM search_docs{top} ORDER BY id DESC LIMIT :recent"
            recent_sql = f"SELECT {COLUMNS} FROM ({newest}) d WHERE {where} ORDER BY d.id DESC LIMIT :limit"
            rows = self._rows(session.execute(text(recent_sql), params), exact)
            if len(rows) >= limit:
                return rows
            # the id below which rows were not walked yet
            walked = f"SELECT id FROM search_docs{top} ORDER BY id DESC LIMIT :walked"
            boundary = f"(SELECT min(r.id) FROM ({walked}) r)"
            params["walked"] = RECENT_SCAN_ROWS
            if rows and (limit - len(rows)) * RECENT_SCAN_ROWS <= len(rows) * NEXT_SCAN_ROWS:
                following = f"SELECT * FROM search_docs WHERE id < {boundary} ORDER BY id DESC LIMIT :next"
                next_sql = (
                    f"SELECT {COLUMNS} FROM ({following}) d WHERE {where} ORDER BY d.id DESC LIMIT :limit"
                )
                params.update(limit=limit - len(rows), next=NEXT_SCAN_ROWS)
                rows += self._rows(session.execute(text(next_sql), params), exact)
                if len(rows) >= limit:
                    return rows
                params["walked"] = RECENT_SCAN_ROWS + NEXT_SCAN_ROWS
            older_sql = (
                f"SELECT {COLUMNS} FROM search_docs d WHERE {where}{bottom}"
                f" AND d.id + 0 < {boundary} ORDER BY d.id + 0 DESC LIMIT :limit"
            )
            params["limit"] = limit - len(rows)
            return rows + self._rows(session.execute(text(older_sql), params), exact)

        return self._two_tiers(plan.limit, lambda n: run(canon_q, n, True), lambda n: run(fold_q, n, False))


def backend_for(session: Session) -> SearchBackend:
    """The engine matching the session's database."""
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        return PostgresBackend()
    if dialect == "sqlite":
        return Fts5Backend()
    raise ValueError(f"no search backend for the {dialect} database")
