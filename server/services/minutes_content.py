"""What goes into the minutes (form 1.9) and the conclusion notice (form 1.4) of a meeting, read from the
database: issuing body and number code, time and place, the chair and clerk, attendees from the roll-call with
their statuses, the content by agenda item with each connection point's contributions, the conclusions, and
the notice's due date (5 working days after the meeting). Versions, sealing and files are
:mod:`server.services.minutes`."""

from __future__ import annotations

import datetime as dt
import enum
import hashlib
import json
import re
from collections.abc import Collection
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from server.config import Settings
from server.documents import model as doc_model
from server.documents.canonical import Document, canonical_bytes
from server.models import (
    Conclusion,
    Meeting,
    Participation,
    Role,
    Transcript,
    TranscriptSegment,
    Unit,
    User,
    utcnow,
)
from server.services.inputs import Text
from server.services.notice_deadline import holidays_of, notice_due
from server.services.search import LOCAL_TZ, local_day

GENERAL_CONTENT_TITLE = "Nội dung cuộc họp"
_ADMIN_PREFIX = re.compile(
    r"^\s*(UBND|Ủy ban nhân dân|Uỷ ban nhân dân)\s+"
    r"(tỉnh|thành phố|huyện|quận|thị xã|xã|phường|thị trấn)?\s*",
    re.IGNORECASE,
)
_COMMITTEE_PREFIX = re.compile(r"^\s*(UBND|Ủy ban nhân dân|Uỷ ban nhân dân)\s+", re.IGNORECASE)
_MEETING_WORD = re.compile(r"^\s*(cuộc\s+)?họp\s+", re.IGNORECASE)
# How the minutes' prefill shows a transcript line the engine doubts and the clerk has not yet settled: kept
# (leaving it out would drop what may be real speech from the record without a trace) but bracketed, so it
# never reads as settled text; the clerk corrects or confirms the line, or deletes it from the contribution.
UNCERTAIN_MARK = "[không chắc chắn: {text}]"


class DocKind(enum.StrEnum):
    MINUTES = "minutes"  # form 1.9
    NOTICE = "notice"  # form 1.4

    @property
    def register(self) -> str:
        return "BB" if self is DocKind.MINUTES else "TB"


class DocumentRequest(BaseModel):
    """What the clerk may set when generating a version; everything else comes from the meeting data."""

    model_config = ConfigDict(extra="forbid")
    title: Annotated[str, Text(500)] | None = None
    location: Annotated[str, Text(300, required=False)] | None = None
    chair_position: Annotated[str, Text(200, required=False)] = ""
    clerk_position: Annotated[str, Text(200, required=False)] = ""
    agenda_contents: list[Annotated[str, Text(5000, multiline=True, required=False)]] = Field(
        default_factory=list, max_length=100
    )
    closing_note: Annotated[str, Text(2000, multiline=True, required=False)] = ""
    recipients: list[Annotated[str, Text(300)]] = Field(default_factory=list, max_length=50)


def place_name(unit_name: str) -> str:
    """ "UBND huyện Ia Pa" → "Ia Pa" (the place in the place-and-date line)."""
    return _ADMIN_PREFIX.sub("", unit_name).strip() or unit_name


def issuing_body(unit: Unit) -> doc_model.IssuingBody:
    name = _COMMITTEE_PREFIX.sub("Ủy ban nhân dân\n", unit.name, count=1)
    return doc_model.IssuingBody(name=name)


def _code(unit: Unit, kind: DocKind) -> str:
    short = "UBND" if _COMMITTEE_PREFIX.match(unit.name) else unit.code
    return f"{kind.register}-{short}"


def _person(user: User | None, position: str) -> doc_model.Person:
    if user is None:
        return doc_model.Person(name="", position=position)
    return doc_model.Person(name=user.full_name or user.username, position=position or user.position)


def _chair_and_clerk(session: Session, meeting: Meeting) -> tuple[User | None, User | None]:
    chair = session.get(User, meeting.chair_user_id) if meeting.chair_user_id else None
    clerk = session.get(User, meeting.clerk_user_id) if meeting.clerk_user_id else None
    for role, current in ((Role.CHAIR, chair), (Role.CLERK, clerk)):
        if current is None:
            found = session.scalar(
                select(User)
                .where(User.unit_id == meeting.chair_unit_id, User.role == role, User.active.is_(True))
                .order_by(User.id)
            )
            if role is Role.CHAIR:
                chair = found
            else:
                clerk = found
    return chair, clerk


def _local(value: dt.datetime) -> dt.datetime:
    return value.astimezone(LOCAL_TZ)


def _times(session: Session, meeting: Meeting) -> tuple[dt.datetime, dt.datetime]:
    started = meeting.started_at or meeting.starts_at
    ended = meeting.ended_at
    if ended is None:
        last = session.scalar(
            select(func.max(TranscriptSegment.end_s)).where(TranscriptSegment.meeting_id == meeting.id)
        )
        ended = started + dt.timedelta(seconds=float(last or 0))
    return _local(started), _local(ended)


def _attendees(session: Session, meeting: Meeting) -> tuple[doc_model.Attendee, ...]:
    people: dict[int, list[doc_model.Person]] = {}
    rows = session.execute(
        select(Participation.unit_id, User.full_name, User.username, User.position)
        .join(User, User.id == Participation.user_id)
        .where(Participation.meeting_id == meeting.id)
        .order_by(Participation.joined_at)
    ).tuples()
    for unit_id, full_name, username, position in rows:
        person = doc_model.Person(name=full_name or username, position=position or "")
        if person not in people.setdefault(unit_id, []):
            people[unit_id].append(person)
    return tuple(
        doc_model.Attendee(
            unit_name=inv.unit.name,
            status=doc_model.AttendanceStatus(inv.status.value),
            representatives=tuple(people.get(inv.unit_id, [])),
            absence_reason=inv.reason,
        )
        for inv in meeting.invitations
    )


def _agenda(session: Session, meeting: Meeting, contents: list[str]) -> tuple[doc_model.AgendaItem, ...]:
    """Agenda items with the speakers' contributions: consecutive segments of one speaker form one
    contribution; a segment belongs to the last item started before it (all to the first when no item has a
    start time on the meeting clock). A line still uncertain is bracketed (``UNCERTAIN_MARK``)."""
    names = dict(session.execute(select(Unit.id, Unit.name)).tuples().all())
    items = list(meeting.agenda)
    titles = [a.title for a in items] or [GENERAL_CONTENT_TITLE]
    starts = [a.starts_at_s for a in items] or [None]
    grouped: list[list[doc_model.Contribution]] = [[] for _ in titles]
    current: tuple[int, int | None, str] | None = None
    buffer: list[str] = []
    first_start = 0.0
    segments = session.execute(  # plain rows: hydrating 3 000 ORM objects held the GIL ~0.25 s
        select(
            TranscriptSegment.start_s,
            TranscriptSegment.unit_id,
            TranscriptSegment.speaker,
            TranscriptSegment.text,
            TranscriptSegment.uncertain,
        )
        .where(TranscriptSegment.meeting_id == meeting.id)
        .order_by(TranscriptSegment.seq)
    )

    def flush() -> None:
        if current is None or not buffer:
            return
        index, unit_id, speaker = current
        unit_name = names.get(unit_id, "") if unit_id is not None else meeting.chair_unit.name
        grouped[index].append(
            doc_model.Contribution(
                unit_name=unit_name,
                text=" ".join(buffer),
                speaker=doc_model.Person(name=speaker) if speaker else None,
                recording_offset_s=first_start,
            )
        )

    for seg in segments:
        index = 0
        for i, start in enumerate(starts):
            if start is not None and start <= seg.start_s:
                index = i
        key = (index, seg.unit_id, seg.speaker)
        if key != current:
            flush()
            current, buffer, first_start = key, [], seg.start_s
        buffer.append(UNCERTAIN_MARK.format(text=seg.text) if seg.uncertain else seg.text)
    flush()
    return tuple(
        doc_model.AgendaItem(
            title=title,
            content=contents[i].strip() if i < len(contents) else "",
            contributions=tuple(grouped[i]),
        )
        for i, title in enumerate(titles)
    )


def _conclusions(session: Session, meeting_id: int) -> tuple[doc_model.Conclusion, ...]:
    names = dict(session.execute(select(Unit.id, Unit.name)).tuples().all())
    rows = session.scalars(
        select(Conclusion).where(Conclusion.meeting_id == meeting_id).order_by(Conclusion.number)
    )
    return tuple(
        doc_model.Conclusion(
            number=c.number,
            text=c.text,
            assignee_unit=names.get(c.assignee_unit_id, "") if c.assignee_unit_id is not None else "",
            deadline=c.deadline,
        )
        for c in rows
    )


def build_minutes(session: Session, meeting: Meeting, request: DocumentRequest) -> doc_model.MinutesDoc:
    chair, clerk = _chair_and_clerk(session, meeting)
    started, ended = _times(session, meeting)
    unit = meeting.chair_unit
    return doc_model.MinutesDoc(
        issuing_body=issuing_body(unit),
        number=doc_model.DocumentNumber(_code(unit, DocKind.MINUTES)),
        place_name=place_name(unit.name),
        issued_on=started.date(),
        title=request.title or meeting.title,
        started_at=started,
        ended_at=ended,
        location=request.location or meeting.place or f"Trụ sở {unit.name} (điểm cầu chính)",
        online=True,
        connection_points=tuple(inv.unit.name for inv in meeting.invitations),
        chair=_person(chair, request.chair_position),
        clerk=_person(clerk, request.clerk_position),
        attendees=_attendees(session, meeting),
        agenda=_agenda(session, meeting, request.agenda_contents),
        conclusions=_conclusions(session, meeting.id),
        closing_note=request.closing_note,
        recipients=tuple(request.recipients),
    )


def build_notice(
    session: Session, meeting: Meeting, request: DocumentRequest, holidays: Collection[dt.date]
) -> doc_model.NoticeDoc:
    chair, _clerk = _chair_and_clerk(session, meeting)
    unit = meeting.chair_unit
    chair_name = chair.full_name or chair.username if chair is not None else ""
    position = request.chair_position or (chair.position if chair is not None else "")
    conclusion_by = f"{position or 'chủ tọa'} {chair_name}".strip()
    subject = _MEETING_WORD.sub("", request.title or meeting.title).strip()
    day = local_day(meeting.started_at or meeting.starts_at)
    points = [inv.unit.name for inv in meeting.invitations]
    body = (
        f"Ngày {day.day:02d}/{day.month:02d}/{day.year}, {unit.name} tổ chức cuộc họp trực tuyến {subject}"
        + (f" với {len(points):02d} điểm cầu: {', '.join(points)}." if points else ".")
        + f" Sau khi nghe báo cáo và ý kiến phát biểu của các đại biểu, {conclusion_by} kết luận như sau:",
    )
    return doc_model.NoticeDoc(
        issuing_body=issuing_body(unit),
        number=doc_model.DocumentNumber(_code(unit, DocKind.NOTICE)),
        place_name=place_name(unit.name),
        issued_on=local_day(utcnow()),
        conclusion_by=conclusion_by,
        meeting_subject=subject,
        body=body,
        conclusions=_conclusions(session, meeting.id),
        signer=doc_model.SignatureBlock(((position or "Chủ tọa").upper(),), chair_name),
        due_on=notice_due(meeting, holidays),
        closing=f"{unit.name} thông báo để các cơ quan, đơn vị biết, thực hiện./.",
        recipients=tuple(request.recipients or points),
    )


def build_document(
    session: Session, meeting: Meeting, kind: DocKind, request: DocumentRequest, settings: Settings
) -> Document:
    if kind is DocKind.MINUTES:
        return build_minutes(session, meeting, request)
    return build_notice(session, meeting, request, holidays_of(settings))


def document_content(doc: Document) -> dict[str, Any]:
    parsed: dict[str, Any] = json.loads(canonical_bytes(doc))
    return parsed


# ---- what a draft was made from ---------------------------------------------------------------------------


def source_basis(session: Session, meeting_id: int) -> tuple[str, dt.datetime | None]:
    """The SHA-256 of what a draft is prefilled from (every transcript line as corrected, with its doubt mark,
    and every conclusion), and when that data last changed (None when nothing is known)."""
    segments = session.execute(
        select(
            TranscriptSegment.id,
            TranscriptSegment.unit_id,
            TranscriptSegment.speaker,
            TranscriptSegment.text,
            TranscriptSegment.uncertain,
        )
        .where(TranscriptSegment.meeting_id == meeting_id)
        .order_by(TranscriptSegment.seq)
    ).tuples()
    conclusions = session.execute(
        select(Conclusion.number, Conclusion.text, Conclusion.assignee_unit_id, Conclusion.deadline)
        .where(Conclusion.meeting_id == meeting_id)
        .order_by(Conclusion.number)
    ).tuples()
    data = {
        "segments": [list(row) for row in segments],
        "conclusions": [
            [n, text, unit, deadline.isoformat() if deadline else None]
            for n, text, unit, deadline in conclusions
        ],
    }
    digest = hashlib.sha256(json.dumps(data, ensure_ascii=False, sort_keys=True).encode("utf-8")).hexdigest()
    stamps = [
        session.scalar(
            select(func.max(TranscriptSegment.edited_at)).where(TranscriptSegment.meeting_id == meeting_id)
        ),
        session.scalar(select(Transcript.finished_at).where(Transcript.meeting_id == meeting_id)),
        session.scalar(select(func.max(Conclusion.created_at)).where(Conclusion.meeting_id == meeting_id)),
        session.scalar(select(func.max(Conclusion.updated_at)).where(Conclusion.meeting_id == meeting_id)),
    ]
    known = [_aware(s) for s in stamps if s is not None]
    return digest, max(known) if known else None


def _aware(value: dt.datetime) -> dt.datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=dt.UTC)


# ---- the clerk's text -------------------------------------------------------------------------------------


def contribution_line(contribution: doc_model.Contribution) -> str:
    who = contribution.unit_name
    if contribution.speaker is not None and contribution.speaker.name:
        who = f"{contribution.speaker.name} ({contribution.unit_name})"
    return f"- {who}: {contribution.text}"


def editable_text(item: doc_model.AgendaItem) -> str:
    """An agenda item's content as the clerk edits it: paragraphs one a line, list items starting "- ".
    The prefill is the item's summary followed by each contribution from the corrected transcript."""
    parts = [item.content.strip()] if item.content.strip() else []
    parts.extend(contribution_line(c) for c in item.contributions)
    return "\n".join(parts)
