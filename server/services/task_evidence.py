"""Evidence files attached to task reports: what is accepted, how it is stored, and how it is found again.

Evidence files (pdf, jpg/png, docx, xlsx, odt) are recognised by their content (:func:`sniff_evidence`) and
must match their extension; each is at most ``settings.max_upload_bytes`` and a report carries at most
``MAX_EVIDENCE_FILES`` (:func:`check_uploads`). They are written to ``settings.evidence_dir`` under a random
name only after every check has passed (:func:`store_evidence`), and removed again if the transaction does not
commit (:func:`removed_unless_committed`). Who may read or add evidence is decided by the task rules in
:mod:`server.services.tasks`; this module only looks a file up within a task the caller may already see.
"""

from __future__ import annotations

import hashlib
import io
import os
import secrets
import zipfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.orm import Session

from server.errors import InvalidInput, NotFound, PayloadTooLarge, UnsupportedMediaType
from server.models import TaskEvidence, TaskReport

MAX_EVIDENCE_FILES = 10


@dataclass(frozen=True)
class EvidenceUpload:
    """One uploaded file, read into memory by the route (bounded by the size limit)."""

    filename: str
    data: bytes


@dataclass(frozen=True)
class EvidenceType:
    extensions: tuple[str, ...]
    content_type: str


EVIDENCE_TYPES: dict[str, EvidenceType] = {
    "pdf": EvidenceType(("pdf",), "application/pdf"),
    "jpeg": EvidenceType(("jpg", "jpeg"), "image/jpeg"),
    "png": EvidenceType(("png",), "image/png"),
    "docx": EvidenceType(
        ("docx",), "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
    ),
    "xlsx": EvidenceType(("xlsx",), "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
    "odt": EvidenceType(("odt",), "application/vnd.oasis.opendocument.text"),
}


class EvidenceView(BaseModel):
    id: int
    filename: str
    content_type: str
    size_bytes: int
    sha256: str
    url: str


@dataclass(frozen=True)
class CheckedUpload:
    """An upload that passed every check; ``kind`` is a key of ``EVIDENCE_TYPES``."""

    filename: str
    data: bytes
    kind: str


@dataclass(frozen=True)
class EvidenceFile:
    path: Path
    filename: str
    content_type: str


# ---- reading -------------------------------------------------------------------------------------------


def evidence_view(task_id: int, ev: TaskEvidence) -> EvidenceView:
    return EvidenceView(
        id=ev.id,
        filename=ev.filename,
        content_type=ev.content_type,
        size_bytes=ev.size_bytes,
        sha256=ev.sha256,
        url=f"/api/tasks/{task_id}/evidence/{ev.id}",
    )


def report_evidence(session: Session, report: TaskReport) -> list[EvidenceView]:
    """The evidence of one report, in upload order."""
    evidence = session.scalars(
        select(TaskEvidence).where(TaskEvidence.report_id == report.id).order_by(TaskEvidence.id)
    )
    return [evidence_view(report.task_id, ev) for ev in evidence]


def find_evidence_file(session: Session, task_id: int, evidence_id: int, evidence_dir: Path) -> EvidenceFile:
    """The stored file of one evidence item of a task (the caller has checked that the task is visible)."""
    row = session.execute(
        select(TaskEvidence)
        .join(TaskReport, TaskReport.id == TaskEvidence.report_id)
        .where(TaskEvidence.id == evidence_id, TaskReport.task_id == task_id)
    ).scalar_one_or_none()
    path = evidence_dir / row.stored_as if row is not None else None
    if row is None or path is None or not path.is_file():
        raise NotFound(f"Không tìm thấy tệp minh chứng {evidence_id}.", details={"evidence": evidence_id})
    return EvidenceFile(path, row.filename, row.content_type)


# ---- checking ------------------------------------------------------------------------------------------


def sniff_evidence(data: bytes) -> str | None:
    """The kind of an evidence file from its content (a key of EVIDENCE_TYPES), or None."""
    if data.startswith(b"%PDF-"):
        return "pdf"
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if data.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if data.startswith(b"PK\x03\x04"):
        try:
            with zipfile.ZipFile(io.BytesIO(data)) as zf:
                names = set(zf.namelist())
                if (
                    "mimetype" in names
                    and zf.read("mimetype").strip() == EVIDENCE_TYPES["odt"].content_type.encode()
                ):
                    return "odt"
                if "word/document.xml" in names:
                    return "docx"
                if "xl/workbook.xml" in names:
                    return "xlsx"
        except zipfile.BadZipFile:
            return None
    return None


def check_uploads(uploads: Sequence[EvidenceUpload], max_bytes: int) -> list[CheckedUpload]:
    if len(uploads) > MAX_EVIDENCE_FILES:
        raise InvalidInput(
            f"Tối đa {MAX_EVIDENCE_FILES} tệp minh chứng mỗi báo cáo.", details={"field": "files"}
        )
    checked: list[CheckedUpload] = []
    for up in uploads:
        name = os.path.basename(up.filename.replace("\\", "/")).strip()[:255] or "minh-chung"
        if len(up.data) > max_bytes:
            raise PayloadTooLarge(
                f"Tệp {name} vượt quá giới hạn {max_bytes} byte.",
                details={"file": name, "max_bytes": max_bytes},
            )
        kind = sniff_evidence(up.data)
        ext = name.rsplit(".", 1)[-1].lower() if "." in name else ""
        if kind is None or ext not in EVIDENCE_TYPES[kind].extensions:
            raise UnsupportedMediaType(
                f"Tệp {name} không thuộc loại được chấp nhận (pdf, jpg, png, docx, xlsx, odt).",
                details={
                    "file": name,
                    "allowed": sorted(e for t in EVIDENCE_TYPES.values() for e in t.extensions),
                },
            )
        checked.append(CheckedUpload(name, up.data, kind))
    return checked


# ---- storing -------------------------------------------------------------------------------------------


def _store_file(evidence_dir: Path, up: CheckedUpload) -> tuple[str, Path]:
    evidence_dir.mkdir(parents=True, exist_ok=True)
    stored_as = f"{secrets.token_hex(16)}.{EVIDENCE_TYPES[up.kind].extensions[0]}"
    final = evidence_dir / stored_as
    tmp = evidence_dir / f".{stored_as}.part"
    with open(tmp, "wb") as fh:
        fh.write(up.data)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, final)
    return stored_as, final


def store_evidence(
    session: Session,
    report_id: int,
    checked: Sequence[CheckedUpload],
    evidence_dir: Path,
    written: list[Path],
) -> None:
    """Write each checked upload under a random name and add its row to the report.

    Every file written is appended to ``written`` at once, so that :func:`removed_unless_committed` can remove
    it again.
    """
    for up in checked:
        stored_as, path = _store_file(evidence_dir, up)
        written.append(path)
        session.add(
            TaskEvidence(
                report_id=report_id,
                filename=up.filename,
                stored_as=stored_as,
                content_type=EVIDENCE_TYPES[up.kind].content_type,
                size_bytes=len(up.data),
                sha256=hashlib.sha256(up.data).hexdigest(),
            )
        )


@contextmanager
def removed_unless_committed() -> Iterator[list[Path]]:
    """A list for the paths of the files written in the block; they are removed if the block raises.

    Open the database session inside the block, so that a failed commit (raised when the session closes)
    removes the files too.
    """
    written: list[Path] = []
    try:
        yield written
    except BaseException:
        for path in written:
            path.unlink(missing_ok=True)
        raise
