"""search: index the meetings themselves (kind 'meeting': title, place, chairing and invited units, agenda)

Meetings scheduled from now on are indexed by the meetings service (issue 18: "Ia Tul", "Broai" find the
meetings those communes were invited to); this fills the rows of the meetings made before. The tables are
read by reflection, not through the ORM models, so later columns of those models do not break this step; the
text is made by the same function the service uses. Downgrade removes the meeting rows.

Revision ID: 0012
Revises: 0011
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.orm import Session

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BATCH = 500


def _utc(value: dt.datetime | None) -> dt.datetime | None:
    if value is None:
        return None
    return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value  # SQLite keeps naive UTC


def upgrade() -> None:
    from server.services.search import SearchKind, local_day, meeting_text
    from server.services.search_backends import SearchDoc, backend_for

    bind = op.get_bind()
    md = sa.MetaData()
    meetings = sa.Table("meetings", md, autoload_with=bind)
    invitations = sa.Table("meeting_units", md, autoload_with=bind)
    units = sa.Table("units", md, autoload_with=bind)
    agenda = sa.Table("agenda_items", md, autoload_with=bind)
    names: dict[int, str] = {row.id: row.name for row in bind.execute(sa.select(units.c.id, units.c.name))}
    invited: dict[int, list[tuple[int, str]]] = {}
    for row in bind.execute(
        sa.select(invitations.c.meeting_id, invitations.c.unit_id, invitations.c.reason).order_by(
            invitations.c.meeting_id, invitations.c.position, invitations.c.id
        )
    ):
        invited.setdefault(row.meeting_id, []).append((row.unit_id, row.reason or ""))
    items: dict[int, list[str]] = {}
    for row in bind.execute(
        sa.select(agenda.c.meeting_id, agenda.c.title).order_by(agenda.c.meeting_id, agenda.c.position)
    ):
        items.setdefault(row.meeting_id, []).append(row.title)
    session = Session(bind=bind)
    backend = backend_for(session)
    docs: list[SearchDoc] = []
    columns = (meetings.c.id, meetings.c.title, meetings.c.place, meetings.c.chair_unit_id)
    for row in bind.execute(sa.select(*columns, meetings.c.starts_at, meetings.c.started_at)):
        guests = invited.get(row.id, [])
        when = _utc(row.started_at) or _utc(row.starts_at)
        text = meeting_text(
            row.title,
            row.place or "",
            names.get(row.chair_unit_id, ""),
            [(names.get(unit_id, ""), reason) for unit_id, reason in guests],
            items.get(row.id, []),
        )
        docs.append(
            SearchDoc(
                kind=SearchKind.MEETING.value,
                ref_id=row.id,
                text=text,
                meeting_id=row.id,
                day=local_day(when) if when is not None else None,
                scope_unit_ids=frozenset({row.chair_unit_id, *(unit_id for unit_id, _ in guests)}),
            )
        )
        if len(docs) >= BATCH:
            backend.upsert(session, docs)
            docs = []
    if docs:
        backend.upsert(session, docs)
    session.flush()


def downgrade() -> None:
    op.execute("DELETE FROM search_docs WHERE kind = 'meeting'")
