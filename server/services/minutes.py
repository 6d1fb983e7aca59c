"""Minutes (Biên bản, Decree 30 form 1.9) and the conclusion notice (Thông báo kết luận, form 1.4) of a
meeting: generated from the database as versions, approved and sealed by the chair, verified, exported.

==========================  ==================================================================================
ability                     who
==========================  ==================================================================================
read, export, verify        whoever may see the meeting (policy.can_see)
generate a new version      admin; chair or clerk of the chairing unit (policy.can_manage)
approve (number + seal)     the chair of the chairing unit only: the seal is that person's signature
==========================  ==================================================================================

Versions: every ``POST`` makes a new draft version (1, 2, …) from the current meeting data; approving the
latest draft takes a number from the chairing unit's ``DocumentRegister`` (per year and kind: BB minutes,
TB notices; a later approved version of the same meeting keeps the number its first sealed version got) and
seals it: SHA-256 of the canonical JSON and an Ed25519 signature by the approving user
(``server.documents.seal``). A sealed version never changes; any change makes a new version. Verification
recomputes the fingerprint from the stored content and checks the signature against the approver's key.

Keys: one Ed25519 key per approving user, encrypted with the server secret, see
:mod:`server.services.signing_keys`. The notice's due date (5 working days after the meeting) comes from
:mod:`server.services.notice_deadline`.

Reading a document that has no version yet returns a ``preview`` built from the current data (not stored).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
import hashlib
import json
import logging
import re
from collections.abc import Collection
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from server.config import Settings
from server.documents import model as doc_model
from server.documents import seal as doc_seal
from server.documents.canonical import Document, canonical_bytes, document_from_canonical
from server.documents.docx_render import render_minutes_docx, render_notice_docx
from server.documents.pdf_render import render_minutes_pdf, render_notice_pdf
from server.errors import Conflict, InvalidInput, NotFound
from server.models import (
    Conclusion,
    DocumentRegister,
    Meeting,
    MinutesStatus,
    MinutesVersion,
    Participation,
    Role,
    TranscriptSegment,
    Unit,
    User,
    utcnow,
)
from server.services import audit, meetings, policy, search
from server.services.context import Actor
from server.services.notice_deadline import holidays_of, notice_due
from server.services.search import LOCAL_TZ, local_day
from server.services.signing_keys import server_secret as server_secret  # re-export: tests import it here
from server.services.signing_keys import signing_key_for, trusted_public_key_b64

log = logging.getLogger(__name__)

DIGITAL_SIGNATURE_NOTE = "(Đã ký số)"
GENERAL_CONTENT_TITLE = "Nội dung cuộc họp"
_ADMIN_PREFIX = re.compile(
    r"^\s*(UBND|Ủy ban nhân dân|Uỷ ban nhân dân)\s+"
    r"(tỉnh|thành phố|huyện|quận|thị xã|xã|phường|thị trấn)?\s*",
    re.IGNORECASE,
)
_COMMITTEE_PREFIX = re.compile(r"^\s*(UBND|Ủy ban nhân dân|Uỷ ban nhân dân)\s+", re.IGNORECASE)
_MEETING_WORD = re.compile(r"^\s*(cuộc\s+)?họp\s+", re.IGNORECASE)


class DocKind(enum.StrEnum):
    MINUTES = "minutes"  # form 1.9
    NOTICE = "notice"  # form 1.4

    @property
    def register(self) -> str:
        return "BB" if self is DocKind.MINUTES else "TB"


# ---- building the documents from the database ------------------------------------------------------------


class DocumentRequest(BaseModel):
    """What the clerk may set when generating a version; everything else comes from the meeting data."""

    model_config = ConfigDict(extra="forbid")
    title: str | None = Field(None, min_length=1, max_length=500)
    location: str | None = Field(None, max_length=300)
    chair_position: str = Field("", max_length=200)
    clerk_position: str = Field("", max_length=200)
    agenda_contents: list[str] = Field(default_factory=list, max_length=100)
    closing_note: str = Field("", max_length=2000)
    recipients: list[str] = Field(default_factory=list, max_length=50)


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
    return doc_model.Person(name=user.full_name or user.username, position=position)


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
    people: dict[int, list[str]] = {}
    rows = session.execute(
        select(Participation.unit_id, User.full_name, User.username)
        .join(User, User.id == Participation.user_id)
        .where(Participation.meeting_id == meeting.id)
        .order_by(Participation.joined_at)
    ).tuples()
    for unit_id, full_name, username in rows:
        name = full_name or username
        if name not in people.setdefault(unit_id, []):
            people[unit_id].append(name)
    return tuple(
        doc_model.Attendee(
            unit_name=inv.unit.name,
            status=doc_model.AttendanceStatus(inv.status.value),
            representatives=tuple(doc_model.Person(name=n) for n in people.get(inv.unit_id, [])),
            absence_reason=inv.reason,
        )
        for inv in meeting.invitations
    )


def _agenda(session: Session, meeting: Meeting, contents: list[str]) -> tuple[doc_model.AgendaItem, ...]:
    """Agenda items with the speakers' contributions: consecutive segments of one speaker form one
    contribution; a segment belongs to the last item started before it (all to the first when no item has a
    start time on the meeting clock)."""
    names = dict(session.execute(select(Unit.id, Unit.name)).tuples().all())
    items = list(meeting.agenda)
    titles = [a.title for a in items] or [GENERAL_CONTENT_TITLE]
    starts = [a.starts_at_s for a in items] or [None]
    grouped: list[list[doc_model.Contribution]] = [[] for _ in titles]
    current: tuple[int, int | None, str] | None = None
    buffer: list[str] = []
    first_start = 0.0
    segments = session.scalars(
        select(TranscriptSegment)
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
        buffer.append(seg.text)
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
    conclusion_by = f"{request.chair_position or 'chủ tọa'} {chair_name}".strip()
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
        signer=doc_model.SignatureBlock(((request.chair_position or "Chủ tọa").upper(),), chair_name),
        due_on=notice_due(meeting, holidays),
        closing=f"{unit.name} thông báo để các cơ quan, đơn vị biết, thực hiện./.",
        recipients=tuple(request.recipients or points),
    )


def _build(
    session: Session, meeting: Meeting, kind: DocKind, request: DocumentRequest, settings: Settings
) -> Document:
    if kind is DocKind.MINUTES:
        return build_minutes(session, meeting, request)
    return build_notice(session, meeting, request, holidays_of(settings))


def _content(doc: Document) -> dict[str, Any]:
    parsed: dict[str, Any] = json.loads(canonical_bytes(doc))
    return parsed


# ---- versions ---------------------------------------------------------------------------------------------


class VersionView(BaseModel):
    meeting_id: int
    kind: DocKind
    version: int | None  # None: a preview built from the current data, not stored
    status: str  # preview, draft, sealed
    number: str
    created_at: dt.datetime | None
    created_by: str | None
    sealed_at: dt.datetime | None
    sealed_by: str | None
    sha256: str
    signature_b64: str
    public_key_b64: str
    due_on: dt.date | None  # notices: 5 working days after the meeting
    overdue: bool  # notices: not sealed by the due date (or sealed after it)
    document: dict[str, Any]


class VerifyResult(BaseModel):
    meeting_id: int
    kind: DocKind
    version: int
    valid: bool
    reason: str
    sha256_sealed: str
    sha256_actual: str
    sealed_at: dt.datetime | None
    sealed_by: str | None
    public_key_b64: str


def _username(session: Session, user_id: int | None) -> str | None:
    return session.scalar(select(User.username).where(User.id == user_id)) if user_id else None


def _overdue(
    kind: DocKind, content: dict[str, Any], sealed_at: dt.datetime | None
) -> tuple[dt.date | None, bool]:
    if kind is not DocKind.NOTICE or "due_on" not in content:
        return None, False
    due = dt.date.fromisoformat(str(content["due_on"]))
    issued = local_day(sealed_at) if sealed_at is not None else local_day(utcnow())
    return due, issued > due


def _view(session: Session, row: MinutesVersion) -> VersionView:
    kind = DocKind(row.kind)
    due, overdue = _overdue(kind, row.content, row.sealed_at)
    return VersionView(
        meeting_id=row.meeting_id,
        kind=kind,
        version=row.version,
        status=row.status.value,
        number=row.number,
        created_at=row.created_at,
        created_by=_username(session, row.created_by_id),
        sealed_at=row.sealed_at,
        sealed_by=_username(session, row.sealed_by_id),
        sha256=row.sha256,
        signature_b64=row.signature_b64,
        public_key_b64=row.public_key_b64,
        due_on=due,
        overdue=overdue,
        document=row.content,
    )


def _preview(session: Session, meeting: Meeting, kind: DocKind, settings: Settings) -> VersionView:
    content = _content(_build(session, meeting, kind, DocumentRequest(), settings))
    due, overdue = _overdue(kind, content, None)
    return VersionView(
        meeting_id=meeting.id,
        kind=kind,
        version=None,
        status="preview",
        number="",
        created_at=None,
        created_by=None,
        sealed_at=None,
        sealed_by=None,
        sha256="",
        signature_b64="",
        public_key_b64="",
        due_on=due,
        overdue=overdue,
        document=content,
    )


def _versions(session: Session, meeting_id: int, kind: DocKind) -> list[MinutesVersion]:
    return list(
        session.scalars(
            select(MinutesVersion)
            .where(MinutesVersion.meeting_id == meeting_id, MinutesVersion.kind == kind.value)
            .order_by(MinutesVersion.version)
        )
    )


def _version(session: Session, meeting_id: int, kind: DocKind, version: int) -> MinutesVersion:
    row = session.scalar(
        select(MinutesVersion).where(
            MinutesVersion.meeting_id == meeting_id,
            MinutesVersion.kind == kind.value,
            MinutesVersion.version == version,
        )
    )
    if row is None:
        raise NotFound(f"Không tìm thấy phiên bản {version}.", details={"version": version})
    return row


def generate(
    session: Session,
    actor: Actor,
    settings: Settings,
    meeting_id: int,
    kind: DocKind,
    request: DocumentRequest,
) -> VersionView:
    """A new draft version from the current meeting data."""
    meeting = meetings.get_visible(session, actor, meeting_id)
    policy.require(
        policy.can_manage(actor, meeting.chair_unit_id),
        "Chỉ chủ trì hoặc thư ký của đơn vị chủ trì được lập biên bản, thông báo.",
    )
    doc = _build(session, meeting, kind, request, settings)
    existing = _versions(session, meeting_id, kind)
    row = MinutesVersion(
        meeting_id=meeting_id,
        kind=kind.value,
        version=(existing[-1].version if existing else 0) + 1,
        status=MinutesStatus.DRAFT,
        content=_content(doc),
        created_by_id=actor.id,
    )
    session.add(row)
    session.flush()
    if kind is DocKind.MINUTES:
        search.index_minutes(session, meeting_id, row.content)
    audit.record(session, actor, f"{kind.value}.generate", "meeting", meeting_id, {"version": row.version})
    return _view(session, row)


def list_versions(session: Session, actor: Actor, meeting_id: int, kind: DocKind) -> list[VersionView]:
    meetings.get_visible(session, actor, meeting_id)
    return [_view(session, row) for row in _versions(session, meeting_id, kind)]


def get(
    session: Session,
    actor: Actor,
    settings: Settings,
    meeting_id: int,
    kind: DocKind,
    version: int | None = None,
) -> VersionView:
    """One version, or the latest, or (none stored yet) a preview from the current data."""
    meeting = meetings.get_visible(session, actor, meeting_id)
    if version is not None:
        return _view(session, _version(session, meeting_id, kind, version))
    existing = _versions(session, meeting_id, kind)
    return _view(session, existing[-1]) if existing else _preview(session, meeting, kind, settings)


def _next_number(session: Session, unit_id: int, year: int, kind: DocKind) -> int:
    register = session.scalar(
        select(DocumentRegister)
        .where(
            DocumentRegister.unit_id == unit_id,
            DocumentRegister.year == year,
            DocumentRegister.kind == kind.register,
        )
        .with_for_update()
    )
    if register is None:
        register = DocumentRegister(unit_id=unit_id, year=year, kind=kind.register, last_number=0)
        session.add(register)
    register.last_number += 1
    session.flush()
    return register.last_number


def approve(
    session: Session, actor: Actor, settings: Settings, meeting_id: int, kind: DocKind, version: int
) -> VersionView:
    """The chair approves the latest draft: it gets its number and is sealed with the chair's key."""
    meeting = meetings.get_visible(session, actor, meeting_id)
    policy.require(
        actor.role is Role.CHAIR and actor.unit_id == meeting.chair_unit_id,
        "Chỉ chủ tọa (chủ trì của đơn vị chủ trì) được phê duyệt và ký.",
    )
    row = _version(session, meeting_id, kind, version)
    if row.status is MinutesStatus.SEALED:
        raise Conflict("Phiên bản này đã được ký; mọi thay đổi cần lập phiên bản mới.")
    latest = _versions(session, meeting_id, kind)[-1]
    if latest.version != row.version:
        raise Conflict(
            f"Chỉ phê duyệt được phiên bản mới nhất ({latest.version}).", details={"latest": latest.version}
        )
    doc = document_from_canonical(row.content)
    now = utcnow()
    sealed_before = [v for v in _versions(session, meeting_id, kind) if v.status is MinutesStatus.SEALED]
    if sealed_before and sealed_before[-1].content.get("number", {}).get("number") is not None:
        number = int(sealed_before[-1].content["number"]["number"])
    else:
        number = _next_number(session, meeting.chair_unit_id, local_day(now).year, kind)
    numbered = doc_model.DocumentNumber(doc.number.code, number)
    sealed_doc: Document
    if isinstance(doc, doc_model.MinutesDoc):
        sealed_doc = dataclasses.replace(doc, number=numbered, chair_signature_note=DIGITAL_SIGNATURE_NOTE)
    else:
        signer = dataclasses.replace(doc.signer, note=DIGITAL_SIGNATURE_NOTE)
        sealed_doc = dataclasses.replace(doc, number=numbered, signer=signer, issued_on=local_day(now))
    content = _content(sealed_doc)
    made = doc_seal.seal(
        canonical_bytes(content), signing_key_for(session, settings, actor.id), sealed_at=now
    )
    row.content = content
    row.number = numbered.text().removeprefix("Số: ")
    row.status = MinutesStatus.SEALED
    row.sha256, row.signature_b64, row.public_key_b64 = (
        made.sha256_hex,
        made.signature_b64,
        made.public_key_b64,
    )
    row.sealed_at, row.sealed_by_id = made.sealed_at, actor.id
    session.flush()
    if kind is DocKind.MINUTES:
        search.index_minutes(session, meeting_id, row.content)
    audit.record(
        session,
        actor,
        f"{kind.value}.approve",
        "meeting",
        meeting_id,
        {"version": row.version, "number": row.number, "sha256": row.sha256},
        actor.ip,
    )
    return _view(session, row)


def verify_row(session: Session, row: MinutesVersion) -> VerifyResult:
    """Recompute the fingerprint of the stored content and check the signature with the approver's key."""
    if row.status is not MinutesStatus.SEALED or row.sealed_at is None:
        raise Conflict("Phiên bản này chưa được ký.", details={"version": row.version})
    trusted = trusted_public_key_b64(session, row.sealed_by_id)
    reason = "ok"
    actual = ""
    try:
        data = canonical_bytes(row.content)
        actual = hashlib.sha256(data).hexdigest()
        seal = doc_seal.Seal(
            sha256_hex=row.sha256,
            signature_b64=row.signature_b64,
            public_key_b64=row.public_key_b64,
            sealed_at=row.sealed_at,
        )
        valid = doc_seal.verify(data, seal, public_key=trusted) if trusted else False
        if not valid:
            reason = "content_changed" if actual != row.sha256 else "bad_signature"
            if not trusted:
                reason = "unknown_signer"
    except (TypeError, ValueError) as exc:
        valid, reason = False, f"unreadable_content: {exc}"
    return VerifyResult(
        meeting_id=row.meeting_id,
        kind=DocKind(row.kind),
        version=row.version,
        valid=valid,
        reason=reason,
        sha256_sealed=row.sha256,
        sha256_actual=actual,
        sealed_at=row.sealed_at,
        sealed_by=_username(session, row.sealed_by_id),
        public_key_b64=row.public_key_b64,
    )


def verify(session: Session, actor: Actor, meeting_id: int, kind: DocKind, version: int) -> VerifyResult:
    meetings.get_visible(session, actor, meeting_id)
    result = verify_row(session, _version(session, meeting_id, kind, version))
    if not result.valid:
        log.warning(
            "meeting %s: %s version %s fails verification (%s)", meeting_id, kind, version, result.reason
        )
    return result


# ---- files ------------------------------------------------------------------------------------------------


class FileFormat(enum.StrEnum):
    DOCX = "docx"
    PDF = "pdf"


MEDIA_TYPES = {
    FileFormat.DOCX: "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    FileFormat.PDF: "application/pdf",
}
FILE_STEMS = {DocKind.MINUTES: "bien-ban", DocKind.NOTICE: "thong-bao-ket-luan"}


class RenderedFile(BaseModel):
    content: bytes
    media_type: str
    filename: str


def render(
    session: Session,
    actor: Actor,
    settings: Settings,
    meeting_id: int,
    kind: DocKind,
    fmt: FileFormat,
    version: int | None = None,
) -> RenderedFile:
    view = get(session, actor, settings, meeting_id, kind, version)
    doc = document_from_canonical(view.document)
    stamp = view.sealed_at or view.created_at
    if isinstance(doc, doc_model.MinutesDoc):
        data = (
            render_minutes_docx(doc) if fmt is FileFormat.DOCX else render_minutes_pdf(doc, created_at=stamp)
        )
    else:
        data = render_notice_docx(doc) if fmt is FileFormat.DOCX else render_notice_pdf(doc, created_at=stamp)
    suffix = f"-v{view.version}" if view.version is not None else "-du-thao"
    return RenderedFile(
        content=data,
        media_type=MEDIA_TYPES[fmt],
        filename=f"{FILE_STEMS[kind]}-{meeting_id}{suffix}.{fmt.value}",
    )


# ---- command line -----------------------------------------------------------------------------------------


def verify_cli(settings: Settings, meeting_id: int, version: int | None) -> int:
    """``giaoban minutes verify MEETING_ID [--version N]``: 0 valid, 1 invalid, 2 nothing sealed to verify.

    Without ``--version`` the latest sealed version is checked. Prints the result as JSON.
    """
    from server.db import Database

    db = Database(settings)
    try:
        with db.session() as session:
            stmt = select(MinutesVersion).where(
                MinutesVersion.meeting_id == meeting_id,
                MinutesVersion.kind == DocKind.MINUTES.value,
                MinutesVersion.status == MinutesStatus.SEALED,
            )
            if version is not None:
                stmt = stmt.where(MinutesVersion.version == version)
            row = session.scalar(stmt.order_by(MinutesVersion.version.desc()).limit(1))
            if row is None:
                print(
                    f"Cuộc họp {meeting_id} không có biên bản đã ký"
                    + (f" ở phiên bản {version}." if version else ".")
                )
                return 2
            result = verify_row(session, row)
    except InvalidInput as exc:
        print(exc.message)
        return 2
    finally:
        db.dispose()
    print(result.model_dump_json(indent=2))
    print(
        "Biên bản hợp lệ: nội dung và chữ ký số khớp."
        if result.valid
        else "BIÊN BẢN KHÔNG HỢP LỆ: " + result.reason
    )
    return 0 if result.valid else 1
