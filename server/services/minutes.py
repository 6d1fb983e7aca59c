"""Minutes (Biên bản, Decree 30 form 1.9) and the conclusion notice (Thông báo kết luận, form 1.4) of a
meeting: generated from the database as versions, approved and sealed by the chair, verified, exported. What
goes into each document is :mod:`server.services.minutes_content`.

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
import logging
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from server.config import Settings
from server.documents import model as doc_model
from server.documents import seal as doc_seal
from server.documents.canonical import DOCUMENT_KEY, Document, canonical_bytes, document_from_canonical
from server.documents.pool import RenderFormat, RenderJob
from server.errors import Conflict, InvalidInput, NotFound
from server.models import (
    DocumentRegister,
    Meeting,
    MinutesStatus,
    MinutesVersion,
    Role,
    User,
    utcnow,
)
from server.services import audit, meetings, policy, search
from server.services.context import Actor
from server.services.inputs import MAX_DB_ID, Text
from server.services.minutes_content import (
    DocKind,
    DocumentRequest,
    build_document,
    document_content,
    editable_text,
    source_basis,
)
from server.services.search import LOCAL_TZ, local_day
from server.services.signing_keys import server_secret as server_secret  # re-export: tests import it here
from server.services.signing_keys import signing_key_for, trusted_public_key_b64

log = logging.getLogger(__name__)

DIGITAL_SIGNATURE_NOTE = "(Đã ký số)"
MAX_ITEM_CHARS = 20_000  # one agenda item's text in the clerk's editor


def local_time_text(value: dt.datetime) -> str:
    """ "14:05 ngày 05/12/2026" in the meeting's time zone."""
    local = value.astimezone(LOCAL_TZ)
    return f"{local:%H:%M} ngày {local:%d/%m/%Y}"


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
    # a draft prefilled from a transcript or conclusions that have changed since: not sealed unless confirmed
    stale: bool = False
    changed_at: dt.datetime | None = None  # when the transcript or the conclusions last changed
    editable: list[EditableItem] = []  # minutes: each agenda item's content as the clerk edits it
    document: dict[str, Any]


class EditableItem(BaseModel):
    title: str
    text: str


class DraftEdit(BaseModel):
    """A save of the clerk's editor: the text of each agenda item (paragraphs one a line, list items starting
    "- "), made from version ``based_on`` (None: from the preview, when no version exists yet)."""

    model_config = ConfigDict(extra="forbid")
    based_on: Annotated[int, Field(ge=1, le=MAX_DB_ID)] | None = None
    items: list[Annotated[str, Text(MAX_ITEM_CHARS, multiline=True, required=False)]] = Field(max_length=100)
    closing_note: Annotated[str, Text(2000, multiline=True, required=False)] = ""


class ApproveRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    # the chair saw that the draft predates the latest transcript or conclusion edits and seals it as it is
    confirm_stale: bool = False


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


def _editable(content: dict[str, Any]) -> list[EditableItem]:
    if content.get(DOCUMENT_KEY) != "MinutesDoc":
        return []
    doc = document_from_canonical(content)
    assert isinstance(doc, doc_model.MinutesDoc)
    return [EditableItem(title=item.title, text=editable_text(item)) for item in doc.agenda]


def _view(
    session: Session, row: MinutesVersion, current: tuple[str, dt.datetime | None] | None = None
) -> VersionView:
    """``current``: the meeting's ``source_basis`` when the caller already has it (a list of versions)."""
    kind = DocKind(row.kind)
    due, overdue = _overdue(kind, row.content, row.sealed_at)
    basis, changed_at = current or source_basis(session, row.meeting_id)
    stale = row.status is MinutesStatus.DRAFT and bool(row.basis_sha256) and row.basis_sha256 != basis
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
        stale=stale,
        changed_at=changed_at,
        editable=_editable(row.content),
        document=row.content,
    )


def _preview(session: Session, meeting: Meeting, kind: DocKind, settings: Settings) -> VersionView:
    content = document_content(build_document(session, meeting, kind, DocumentRequest(), settings))
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
        changed_at=source_basis(session, meeting.id)[1],
        editable=_editable(content),
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
    doc = build_document(session, meeting, kind, request, settings)
    existing = _versions(session, meeting_id, kind)
    row = MinutesVersion(
        meeting_id=meeting_id,
        kind=kind.value,
        version=(existing[-1].version if existing else 0) + 1,
        status=MinutesStatus.DRAFT,
        content=document_content(doc),
        created_by_id=actor.id,
        basis_sha256=source_basis(session, meeting_id)[0],
    )
    session.add(row)
    session.flush()
    if kind is DocKind.MINUTES:
        search.index_minutes(session, meeting_id, row.content)
    audit.record(session, actor, f"{kind.value}.generate", "meeting", meeting_id, {"version": row.version})
    return _view(session, row)


def save_draft(
    session: Session, actor: Actor, settings: Settings, meeting_id: int, edit: DraftEdit
) -> VersionView:
    """The clerk's editor saved: a new draft version of the minutes whose agenda items hold the edited text.

    It is made from version ``edit.based_on`` (which must still be the latest: two editors never overwrite
    each other silently) or, with no version yet, from the preview; it keeps what its parent was prefilled
    from (``basis_sha256``), so an edited draft of stale data stays stale."""
    meeting = meetings.get_visible(session, actor, meeting_id)
    policy.require(
        policy.can_manage(actor, meeting.chair_unit_id),
        "Chỉ chủ trì hoặc thư ký của đơn vị chủ trì được soạn biên bản.",
    )
    kind = DocKind.MINUTES
    existing = _versions(session, meeting_id, kind)
    latest = existing[-1] if existing else None
    if (latest.version if latest else None) != edit.based_on:
        raise Conflict(
            f"Biên bản đã có phiên bản mới hơn ({latest.version if latest else 'chưa có'}); "
            "hãy tải lại trang trước khi sửa tiếp.",
            code="draft_outdated",
            details={"latest": latest.version if latest else None, "based_on": edit.based_on},
        )
    if latest is None:
        parent = build_document(session, meeting, kind, DocumentRequest(), settings)
        basis = source_basis(session, meeting_id)[0]
    else:
        parent = document_from_canonical(latest.content)
        basis = latest.basis_sha256
    assert isinstance(parent, doc_model.MinutesDoc)
    if len(edit.items) != len(parent.agenda):
        raise InvalidInput(
            f"Biên bản có {len(parent.agenda)} mục nội dung, nhận được {len(edit.items)}.",
            details={"field": "items", "expected": len(parent.agenda)},
        )
    agenda = tuple(
        doc_model.AgendaItem(title=item.title, content=text.strip(), contributions=())
        for item, text in zip(parent.agenda, edit.items, strict=True)
    )
    doc = dataclasses.replace(
        parent,
        number=doc_model.DocumentNumber(parent.number.code),  # a new draft: no number, no signature yet
        chair_signature_note="",
        clerk_signature_note="",
        agenda=agenda,
        closing_note=edit.closing_note.strip(),
    )
    row = MinutesVersion(
        meeting_id=meeting_id,
        kind=kind.value,
        version=(latest.version if latest else 0) + 1,
        status=MinutesStatus.DRAFT,
        content=document_content(doc),
        created_by_id=actor.id,
        basis_sha256=basis,
    )
    session.add(row)
    session.flush()
    search.index_minutes(session, meeting_id, row.content)
    audit.record(session, actor, "minutes.edit", "meeting", meeting_id, {"version": row.version})
    return _view(session, row)


def list_versions(session: Session, actor: Actor, meeting_id: int, kind: DocKind) -> list[VersionView]:
    meetings.get_visible(session, actor, meeting_id)
    current = source_basis(session, meeting_id)
    return [_view(session, row, current) for row in _versions(session, meeting_id, kind)]


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
    session: Session,
    actor: Actor,
    settings: Settings,
    meeting_id: int,
    kind: DocKind,
    version: int,
    request: ApproveRequest | None = None,
) -> VersionView:
    """The chair approves the latest draft: it gets its number and is sealed with the chair's key. A stale
    draft (its transcript or conclusions changed since it was prefilled) needs ``confirm_stale``."""
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
    basis, changed_at = source_basis(session, meeting_id)
    if row.basis_sha256 and row.basis_sha256 != basis and not (request and request.confirm_stale):
        when = f" (lúc {local_time_text(changed_at)})" if changed_at is not None else ""
        raise Conflict(
            f"Bản nháp phiên bản {row.version} được lập trước lần sửa gỡ băng hoặc kết luận gần nhất{when}. "
            "Hãy lập lại bản nháp từ dữ liệu mới, hoặc xác nhận ký phiên bản này như đang hiển thị.",
            code="stale_draft",
            details={"version": row.version, "changed_at": changed_at.isoformat() if changed_at else None},
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
    content = document_content(sealed_doc)
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
RENDER_FORMATS: dict[FileFormat, RenderFormat] = {FileFormat.DOCX: "docx", FileFormat.PDF: "pdf"}
FILE_STEMS = {DocKind.MINUTES: "bien-ban", DocKind.NOTICE: "thong-bao-ket-luan"}


@dataclasses.dataclass(frozen=True)
class Export:
    """A file to render: what the render pool needs (the version's canonical content, gathered from the
    database here) and how the file is served."""

    job: RenderJob
    sealed: bool  # a sealed version never changes: its rendering can be kept
    media_type: str
    filename: str


def export(
    session: Session,
    actor: Actor,
    settings: Settings,
    meeting_id: int,
    kind: DocKind,
    fmt: FileFormat,
    version: int | None = None,
) -> Export:
    """Everything read from the database for one DOCX/PDF export; the rendering itself is the caller's
    (``server.documents.pool``: in a worker process, off the media loop's GIL)."""
    meeting = meetings.get_visible(session, actor, meeting_id)
    row: MinutesVersion | None
    if version is not None:
        row = _version(session, meeting_id, kind, version)
    else:
        existing = _versions(session, meeting_id, kind)
        row = existing[-1] if existing else None
    job: RenderJob
    if row is None:  # no version yet: the preview, shipped as dataclasses (no canonical JSON to build)
        doc = build_document(session, meeting, kind, DocumentRequest(), settings)
        job = RenderJob(content=doc, fmt=RENDER_FORMATS[fmt])
    else:
        stamp = row.sealed_at or row.created_at
        job = RenderJob(content=row.content, fmt=RENDER_FORMATS[fmt], created_at=stamp)
    suffix = f"-v{row.version}" if row is not None else "-du-thao"
    return Export(
        job=job,
        sealed=row is not None and row.status is MinutesStatus.SEALED,
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
