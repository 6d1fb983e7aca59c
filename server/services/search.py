"""Search across every meeting: what gets indexed (segments, minutes, tasks), who may find it, and the hits.

Indexing (inside the caller's transaction): :func:`index_segments` (the transcript service calls it on every
store and edit), :func:`index_minutes` (the minutes service, latest version of a meeting), :func:`index_task`
(the tasks service, issue 7: one call after each change of a task; a deleted task is dropped), and
:func:`reindex_meeting` (call it when a meeting's invited units change: they decide who may find its rows).

Querying (:func:`search`): accent-insensitive Vietnamese (đ↔d, hoà/hòa, thuỷ/thủy, NFD input), exact
diacritics first, ``"phrases"`` and ``prefix*`` terms, filters by date, meeting, unit, speaker and kind.
A non-admin finds only what it may open with the same account (issue 19): segments and minutes of meetings
it may see, tasks it may read (``policy.meetings_seen_by`` / ``policy.tasks_seen_by``, the rules of the
routes that open them), checked inside the query against the meetings and tasks tables
(:func:`visible_condition`), so a page is full and a stale scope tag cannot widen it; a task hit names its
meeting only when that meeting may be seen too. Snippets are the original text, HTML-escaped, with the
matched words in ``<mark>``; they are made here (not by the database) so both engines return identical hits.
"""

from __future__ import annotations

import datetime as dt
import enum
import html
import logging
import re
from collections.abc import Iterable, Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from server.documents.canonical import document_from_canonical
from server.documents.model import MinutesDoc
from server.domain.vntext import EmptyQueryError, fold, fold_with_offsets, parse_query
from server.errors import InvalidInput
from server.models import Meeting, MeetingUnit, Task, TaskUnit, TranscriptSegment, Unit
from server.services import policy, units
from server.services.context import Actor
from server.services.search_backends import DocRow, QueryPlan, SearchDoc, backend_for, delete_docs

log = logging.getLogger(__name__)

#: Vietnam's time zone (UTC+7, no daylight saving): calendar days of meetings and date filters.
LOCAL_TZ = dt.timezone(dt.timedelta(hours=7), "ICT")
MAX_LIMIT = 100
MAX_OFFSET = 1000
DEFAULT_LIMIT = 20
SNIPPET_MAX_CHARS = 240
SNIPPET_LEAD_CHARS = 60


class SearchKind(enum.StrEnum):
    SEGMENT = "segment"
    MINUTES = "minutes"
    TASK = "task"
    MEETING = "meeting"


def local_day(value: dt.datetime) -> dt.date:
    """The calendar date of ``value`` in Vietnam."""
    return value.astimezone(LOCAL_TZ).date()


# ---- indexing ---------------------------------------------------------------------------------------------


def _meeting_scope(session: Session, meeting_id: int) -> tuple[frozenset[int], dt.date | None]:
    meeting = session.get(Meeting, meeting_id)
    if meeting is None:
        return frozenset(), None
    invited = session.scalars(select(MeetingUnit.unit_id).where(MeetingUnit.meeting_id == meeting_id))
    scope = frozenset({meeting.chair_unit_id, *invited})
    return scope, local_day(meeting.started_at or meeting.starts_at)


def index_segments(session: Session, meeting_id: int, segment_ids: Iterable[int] | None = None) -> int:
    """(Re)index a meeting's transcript segments (all, or only ``segment_ids``). Returns the row count."""
    scope, day = _meeting_scope(session, meeting_id)
    stmt = select(TranscriptSegment).where(TranscriptSegment.meeting_id == meeting_id)
    if segment_ids is not None:
        stmt = stmt.where(TranscriptSegment.id.in_(list(segment_ids)))
    docs = [
        SearchDoc(
            kind=SearchKind.SEGMENT.value,
            ref_id=seg.id,
            text=seg.text,
            meeting_id=meeting_id,
            unit_id=seg.unit_id,
            speaker=seg.speaker,
            start_s=seg.start_s,
            end_s=seg.end_s,
            day=day,
            scope_unit_ids=scope,
        )
        for seg in session.scalars(stmt.order_by(TranscriptSegment.seq))
    ]
    backend_for(session).upsert(session, docs)
    return len(docs)


def unindex_segments(session: Session, segment_ids: Iterable[int]) -> None:
    delete_docs(session, SearchKind.SEGMENT.value, segment_ids)


def minutes_search_text(content: Mapping[str, Any]) -> str:
    """The searchable text of a stored minutes version: title, agenda, contributions, conclusions."""
    doc = document_from_canonical(content)
    if not isinstance(doc, MinutesDoc):
        return ""
    parts = [doc.title]
    for item in doc.agenda:
        parts.append(item.title)
        if item.content:
            parts.append(item.content)
        parts.extend(f"{c.unit_name}: {c.text}" for c in item.contributions)
    parts.extend(f"{c.number}. {c.text}" for c in doc.conclusions)
    if doc.closing_note:
        parts.append(doc.closing_note)
    return "\n".join(p for p in parts if p)


def index_minutes(session: Session, meeting_id: int, content: Mapping[str, Any]) -> None:
    """Index the latest minutes of a meeting (one row per meeting: a new version replaces the old one)."""
    scope, day = _meeting_scope(session, meeting_id)
    doc = SearchDoc(
        kind=SearchKind.MINUTES.value,
        ref_id=meeting_id,
        text=minutes_search_text(content),
        meeting_id=meeting_id,
        day=day,
        scope_unit_ids=scope,
    )
    backend_for(session).upsert(session, [doc])


def index_task(session: Session, task_id: int) -> None:
    """(Re)index one task (title and description); drops it from the index when the task no longer exists.

    Who finds it: members of its assigning, lead and co-ordinating units — those who may open it (being
    invited to the task's meeting does not let one read the task).
    """
    task = session.get(Task, task_id)
    if task is None:
        delete_docs(session, SearchKind.TASK.value, [task_id])
        return
    co_units = session.scalars(select(TaskUnit.unit_id).where(TaskUnit.task_id == task_id))
    scope = {task.assigning_unit_id, task.lead_unit_id, *co_units}
    text = "\n".join(p for p in (task.title, task.description) if p)
    doc = SearchDoc(
        kind=SearchKind.TASK.value,
        ref_id=task.id,
        text=text,
        meeting_id=task.meeting_id,
        unit_id=task.lead_unit_id,
        day=task.assigned_on,
        scope_unit_ids=frozenset(scope),
    )
    backend_for(session).upsert(session, [doc])


def meeting_text(
    title: str, place: str, chair_name: str, invited: list[tuple[str, str]], agenda: list[str]
) -> str:
    """What a user types to find a meeting itself: its title, place, chairing and invited units (their names
    as the attendance lists them, "UBND xã Ia Tul", with the roll-call reasons) and the agenda."""
    parts = [title, place, chair_name, ", ".join(name for name, _ in invited)]
    parts.extend(f"{name}: {reason}" for name, reason in invited if reason)
    parts.extend(agenda)
    return "\n".join(p for p in parts if p)


def meeting_search_text(session: Session, meeting: Meeting) -> str:
    chair = session.get(Unit, meeting.chair_unit_id)
    rows = session.execute(
        select(Unit.name, MeetingUnit.reason)
        .join(MeetingUnit, MeetingUnit.unit_id == Unit.id)
        .where(MeetingUnit.meeting_id == meeting.id)
        .order_by(MeetingUnit.position)
    ).all()
    invited = [(name, reason) for name, reason in rows]
    agenda = [item.title for item in meeting.agenda]
    return meeting_text(meeting.title, meeting.place, chair.name if chair else "", invited, agenda)


def index_meeting(session: Session, meeting_id: int) -> None:
    """(Re)index a meeting's own metadata (one row per meeting), found by whoever may see the meeting."""
    meeting = session.get(Meeting, meeting_id)
    if meeting is None:
        delete_docs(session, SearchKind.MEETING.value, [meeting_id])
        return
    scope, day = _meeting_scope(session, meeting_id)
    doc = SearchDoc(
        kind=SearchKind.MEETING.value,
        ref_id=meeting_id,
        text=meeting_search_text(session, meeting),
        meeting_id=meeting_id,
        day=day,
        scope_unit_ids=scope,
    )
    backend_for(session).upsert(session, [doc])


def reindex_meeting(session: Session, meeting_id: int) -> None:
    """Refresh every row of a meeting (itself, segments, minutes, tasks): after its invited units, title or
    date change."""
    from server.models import MinutesVersion

    index_meeting(session, meeting_id)
    index_segments(session, meeting_id)
    latest = session.scalar(
        select(MinutesVersion)
        .where(MinutesVersion.meeting_id == meeting_id, MinutesVersion.kind == "minutes")
        .order_by(MinutesVersion.version.desc())
        .limit(1)
    )
    if latest is not None:
        index_minutes(session, meeting_id, latest.content)
    for task_id in session.scalars(select(Task.id).where(Task.meeting_id == meeting_id)):
        index_task(session, task_id)


# ---- querying ---------------------------------------------------------------------------------------------


class SearchParams(BaseModel):
    """``GET /api/search`` (contract): ``q`` plus optional filters."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    q: str = Field(max_length=500)
    day_from: dt.date | None = Field(None, alias="from")
    day_to: dt.date | None = Field(None, alias="to")
    unit: str | None = None
    meeting: int | None = None
    kind: SearchKind | None = None
    speaker: str | None = Field(None, max_length=200)
    limit: int = Field(DEFAULT_LIMIT, ge=1, le=MAX_LIMIT)
    offset: int = Field(0, ge=0, le=MAX_OFFSET)


class SearchHit(BaseModel):
    kind: SearchKind
    id: int  # segment id, meeting id (minutes) or task id
    meeting_id: int | None
    meeting_title: str | None
    start: float | None  # seconds on the meeting clock (segments): play the recording from here
    end: float | None
    unit: str | None
    speaker: str
    day: dt.date | None
    exact: bool  # the query's diacritics matched as typed
    snippet: str


class SearchResults(BaseModel):
    query: str
    hits: list[SearchHit]
    limit: int
    offset: int
    backend: str


_WORD = r"[^\W_]"
_NOT_WORD = r"[\W_]"


def _term_pattern(words: list[str], prefix: bool) -> str:
    body = f"{_NOT_WORD}+".join(re.escape(w) for w in words)
    tail = f"{_WORD}*" if prefix else f"(?!{_WORD})"
    return f"(?<!{_WORD}){body}{tail}"


def match_spans(text: str, query: str) -> list[tuple[int, int]]:
    """Where the query's terms occur in ``text`` (any accents), as spans of the original string; spans that
    overlap or are only whitespace apart are merged ("<mark>thuỷ lợi</mark>", not one mark per word)."""
    folded = fold_with_offsets(text)
    spans: list[tuple[int, int]] = []
    for term in parse_query(query).terms:
        words = [w for w in (fold(word) for word in term.words) if w]
        if not words:
            continue
        for m in re.finditer(_term_pattern(words, term.prefix), folded.folded):
            spans.append(folded.span_in_original(m.start(), m.end()))
    spans.sort()
    merged: list[tuple[int, int]] = []
    for start, end in spans:
        if merged and (start <= merged[-1][1] or not text[merged[-1][1] : start].strip()):
            merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
        else:
            merged.append((start, end))
    return merged


def snippet(text: str, query: str, max_chars: int = SNIPPET_MAX_CHARS) -> str:
    """``text`` (cut around the first match when long), HTML-escaped, matches wrapped in ``<mark>``."""
    spans = match_spans(text, query)
    start, end = 0, len(text)
    if len(text) > max_chars:
        first = spans[0][0] if spans else 0
        start = max(0, first - SNIPPET_LEAD_CHARS)
        while 0 < start < first and not text[start - 1].isspace():
            start += 1
        end = min(len(text), start + max_chars)
        while start < end < len(text) and not text[end].isspace():
            end -= 1
        end = end if end > start else min(len(text), start + max_chars)
    out: list[str] = ["…" if start > 0 else ""]
    pos = start
    for s, e in spans:
        if e <= start or s >= end:
            continue
        s, e = max(s, start), min(e, end)
        out.append(html.escape(text[pos:s]))
        out.append(f"<mark>{html.escape(text[s:e])}</mark>")
        pos = e
    out.append(html.escape(text[pos:end]))
    if end < len(text):
        out.append("…")
    return "".join(out)


def search(session: Session, actor: Actor, params: SearchParams) -> SearchResults:
    try:
        parse_query(params.q)
    except EmptyQueryError as exc:
        raise InvalidInput(exc.message, details={"field": "q"}) from exc
    if params.day_from and params.day_to and params.day_from > params.day_to:
        raise InvalidInput("Ngày bắt đầu phải trước ngày kết thúc.", details={"field": "from"})
    tags: list[str] = []
    if params.kind is not None:
        tags.append(f"k{params.kind.value}")
    if params.meeting is not None:
        tags.append(f"m{params.meeting}")
    if params.unit:
        tags.append(f"u{units.get_by_code(session, params.unit).id}")
    if not actor.is_admin:
        tags.append(f"s{actor.unit_id}")
    visible = "" if actor.is_admin else visible_condition(session, actor.unit_id)
    backend = backend_for(session)
    plan = QueryPlan(
        query=params.q,
        tags=tuple(tags),
        day_from=params.day_from,
        day_to=params.day_to,
        speaker_fold=fold(params.speaker or "").strip(),
        limit=params.offset + params.limit,
        visible=visible,
    )
    rows = backend.query(session, plan)[params.offset :]
    log.info("search by %s: %r → %d hits (%s)", actor.username, params.q, len(rows), backend.name)
    return SearchResults(
        query=params.q,
        hits=_hits(session, actor, rows, params.q),
        limit=params.limit,
        offset=params.offset,
        backend=backend.name,
    )


def visible_condition(session: Session, unit_id: int) -> str:
    """SQL over a ``search_docs`` row ``d``: true when a non-admin of ``unit_id`` may open it (a segment or
    minutes of a meeting it may see, a task it may read). Kinds not named here are seen by admins only."""
    dialect = session.get_bind().dialect

    def sql(stmt: Any) -> str:
        # the one value bound in is an int: inlining it is safe, and the backends keep their SQL text
        return str(stmt.compile(dialect=dialect, compile_kwargs={"literal_binds": True}))

    meetings = sql(policy.meetings_seen_by(int(unit_id)))
    tasks = sql(policy.tasks_seen_by(int(unit_id)))
    of_meeting = (SearchKind.SEGMENT, SearchKind.MINUTES, SearchKind.MEETING)
    on_meeting = ", ".join(f"'{k.value}'" for k in of_meeting)
    return (
        f"(d.kind IN ({on_meeting}) AND d.meeting_id IN ({meetings}))"
        f" OR (d.kind = '{SearchKind.TASK.value}' AND d.ref_id IN ({tasks}))"
    )


def _hits(session: Session, actor: Actor, rows: list[DocRow], query: str) -> list[SearchHit]:
    meeting_ids = {r.meeting_id for r in rows if r.meeting_id is not None}
    stmt = select(Meeting.id, Meeting.title).where(Meeting.id.in_(meeting_ids))
    if not actor.is_admin:
        # a task may be read by a unit that may not see its meeting: its hit keeps the id (the task shows it
        # too) but not the meeting's title
        stmt = stmt.where(Meeting.id.in_(policy.meetings_seen_by(actor.unit_id)))
    titles = dict(session.execute(stmt).tuples().all()) if meeting_ids else {}
    unit_ids = {r.unit_id for r in rows if r.unit_id is not None}
    codes = (
        dict(session.execute(select(Unit.id, Unit.code).where(Unit.id.in_(unit_ids))).tuples().all())
        if unit_ids
        else {}
    )
    return [
        SearchHit(
            kind=SearchKind(r.kind),
            id=r.ref_id,
            meeting_id=r.meeting_id,
            meeting_title=titles.get(r.meeting_id) if r.meeting_id is not None else None,
            start=r.start_s,
            end=r.end_s,
            unit=codes.get(r.unit_id) if r.unit_id is not None else None,
            speaker=r.speaker,
            day=r.day,
            exact=r.exact,
            snippet=snippet(r.text, query),
        )
        for r in rows
    ]
