"""Evidence files attached to task reports: what is accepted, how it is stored, and how it is found again.

Evidence files (pdf, jpg/png, docx, xlsx, odt) are recognised by their content (:func:`inspect_evidence`) and
must match their extension; each is at most ``settings.max_upload_bytes`` and a report carries at most
``MAX_EVIDENCE_FILES`` (:func:`check_uploads`). Uploads stay in the files the multipart parser spooled them
to: nothing here holds a whole upload in memory. The zip-based formats (docx, xlsx, odt) are inspected within
fixed bounds of bytes read and of work (:func:`inspect_evidence`): the central directory is parsed here, never
by :mod:`zipfile`, and only the few bytes of ODF's ``mimetype`` entry are ever decompressed. They are written
to ``settings.evidence_dir`` under a random name only after every check has passed (:func:`store_evidence`),
and removed again if the transaction does not commit (:func:`removed_unless_committed`). Who may read or add
evidence is decided by the task rules in :mod:`server.services.tasks`; this module only looks a file up
within a task the caller may already see.
"""

from __future__ import annotations

import hashlib
import io
import os
import secrets
import struct
import zlib
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.orm import Session

from server.errors import InvalidInput, NotFound, PayloadTooLarge, UnsupportedMediaType
from server.models import TaskEvidence, TaskReport

MAX_EVIDENCE_FILES = 10
COPY_CHUNK_BYTES = 1 << 20

# Bounds of the zip inspection (docx, xlsx, odt). A real document has tens to a few hundred entries and a
# central directory of some kilobytes; its parts compress a few times (XML) or not at all (images).
ZIP_MAX_ENTRIES = 2000
ZIP_MAX_CENTRAL_DIRECTORY_BYTES = 1 << 20
ZIP_MAX_NAME_BYTES = 1024
ZIP_MAX_ENTRY_UNCOMPRESSED_BYTES = 512 << 20  # one part, as declared in the central directory
ZIP_MAX_TOTAL_UNCOMPRESSED_BYTES = 1 << 30  # all parts together, as declared
ZIP_MAX_RATIO = 200  # declared uncompressed / compressed size of one part ...
ZIP_RATIO_FLOOR_BYTES = 1 << 20  # ... checked for parts declaring more than this
ZIP_MIMETYPE_MAX_BYTES = 128  # ODF's "mimetype" entry: decompressed at most this far
ZIP_MIMETYPE_MAX_COMPRESSED_BYTES = 1024  # and at most this much of it read
_EOCD = struct.Struct("<4sHHHHIIH")  # end of central directory record
_CDH = struct.Struct("<4sHHHHHHIIIHHHHHII")  # central directory file header
_LFH = struct.Struct("<4sHHHHHIIIHH")  # local file header
_EOCD_SIG, _CDH_SIG, _LFH_SIG = b"PK\x05\x06", b"PK\x01\x02", b"PK\x03\x04"
_ZIP64_LOCATOR_SIG = b"PK\x06\x07"
_ZIP64_MARK_16, _ZIP64_MARK_32 = 0xFFFF, 0xFFFFFFFF
_STORED, _DEFLATED = 0, 8


@dataclass(frozen=True)
class EvidenceUpload:
    """One uploaded file: its name and a seekable binary file holding it (the multipart parser's spooled file;
    :meth:`from_bytes` for bytes already in memory). The file is read in bounded pieces, never whole."""

    filename: str
    file: BinaryIO

    @classmethod
    def from_bytes(cls, filename: str, data: bytes) -> EvidenceUpload:
        return cls(filename, io.BytesIO(data))


class ContainerRefused(Exception):
    """A zip-based upload outside the inspection bounds or malformed; ``too_large`` picks 413 over 415."""

    def __init__(self, reason: str, *, too_large: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.too_large = too_large


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
    file: BinaryIO
    size_bytes: int
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


def inspect_evidence(fh: BinaryIO) -> str | None:
    """The kind of an evidence file from its content (a key of EVIDENCE_TYPES), or None if it is none.

    pdf, png and jpeg are told by their first bytes. A zip (docx, xlsx, odt) is inspected within fixed bounds
    (:data:`ZIP_MAX_ENTRIES`, :data:`ZIP_MAX_CENTRAL_DIRECTORY_BYTES`, declared sizes and ratios, at most
    :data:`ZIP_MIMETYPE_MAX_COMPRESSED_BYTES` decompressed): at most about 1 MiB is read and about as much
    allocated whatever the file holds. Raises :class:`ContainerRefused` for a zip past a bound, with entries
    overlapping or nested in one another, duplicated names, zip64 or several disks.
    """
    fh.seek(0)
    head = fh.read(8)
    if head.startswith(b"%PDF-"):
        return "pdf"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if head.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if not head.startswith(_LFH_SIG):
        return None
    entries = _zip_entries(fh)
    if "mimetype" in entries and _zip_mimetype(fh, entries["mimetype"]) == EVIDENCE_TYPES["odt"].content_type:
        return "odt"
    if "word/document.xml" in entries:
        return "docx"
    if "xl/workbook.xml" in entries:
        return "xlsx"
    return None


@dataclass(frozen=True)
class _ZipEntry:
    method: int
    compressed_bytes: int
    data_at: int  # where the entry's (compressed) data starts


def _size(fh: BinaryIO) -> int:
    return fh.seek(0, os.SEEK_END)


def _zip_entries(fh: BinaryIO) -> dict[str, _ZipEntry]:
    """The entries of a zip by name, read from its central directory within the bounds; checks the layout."""
    size = _size(fh)
    tail_at = max(0, size - _EOCD.size - 0xFFFF)
    fh.seek(tail_at)
    tail = fh.read(size - tail_at)
    pos = tail.rfind(_EOCD_SIG)
    if pos < 0 or len(tail) - pos < _EOCD.size:
        raise ContainerRefused("không tìm thấy mục lục của tệp nén")
    _sig, disk, cd_disk, n_disk, n_total, cd_bytes, cd_at, _comment = _EOCD.unpack_from(tail, pos)
    eocd_at = tail_at + pos
    if (
        _ZIP64_LOCATOR_SIG in tail[max(0, pos - 20) : pos]
        or _ZIP64_MARK_16 in (n_total, n_disk)
        or _ZIP64_MARK_32 in (cd_bytes, cd_at)
    ):
        raise ContainerRefused("tệp nén dạng zip64 không được chấp nhận")
    if disk or cd_disk or n_disk != n_total:
        raise ContainerRefused("tệp nén chia nhiều phần không được chấp nhận")
    if n_total > ZIP_MAX_ENTRIES:
        raise ContainerRefused(f"tệp nén có {n_total} mục, tối đa {ZIP_MAX_ENTRIES}", too_large=True)
    if cd_bytes > ZIP_MAX_CENTRAL_DIRECTORY_BYTES:
        raise ContainerRefused("mục lục của tệp nén quá lớn", too_large=True)
    if cd_at + cd_bytes > eocd_at:
        raise ContainerRefused("mục lục của tệp nén nằm ngoài tệp")
    fh.seek(cd_at)
    cd = fh.read(cd_bytes)
    entries: dict[str, _ZipEntry] = {}
    spans: list[tuple[int, int, str]] = []
    total_declared = 0
    p = 0
    for _ in range(n_total):
        if p + _CDH.size > len(cd) or cd[p : p + 4] != _CDH_SIG:
            raise ContainerRefused("mục lục của tệp nén bị hỏng")
        (_s, _made, _need, flags, method, _t, _d, _crc, csize, usize, name_len, extra_len, comment_len,
         start_disk, _ia, _ea, local_at) = _CDH.unpack_from(cd, p)  # fmt: skip
        if name_len > ZIP_MAX_NAME_BYTES:
            raise ContainerRefused("tên một mục trong tệp nén quá dài")
        raw_name = cd[p + _CDH.size : p + _CDH.size + name_len]
        p += _CDH.size + name_len + extra_len + comment_len
        if p > len(cd):
            raise ContainerRefused("mục lục của tệp nén bị hỏng")
        if _ZIP64_MARK_32 in (csize, usize, local_at) or start_disk == _ZIP64_MARK_16:
            raise ContainerRefused("tệp nén dạng zip64 không được chấp nhận")
        name = raw_name.decode("utf-8" if flags & 0x800 else "cp437", errors="replace")
        if name in entries:
            raise ContainerRefused(f"tệp nén có hai mục cùng tên {name[:80]}")
        if usize > ZIP_MAX_ENTRY_UNCOMPRESSED_BYTES:
            raise ContainerRefused(f"mục {name[:80]} giải nén ra {usize} byte", too_large=True)
        if usize > ZIP_RATIO_FLOOR_BYTES and usize > ZIP_MAX_RATIO * max(csize, 1):
            raise ContainerRefused(
                f"mục {name[:80]} nén {usize // max(csize, 1)} lần, tối đa {ZIP_MAX_RATIO} lần",
                too_large=True,
            )
        total_declared += usize
        if total_declared > ZIP_MAX_TOTAL_UNCOMPRESSED_BYTES:
            raise ContainerRefused(
                f"tệp nén giải nén ra hơn {ZIP_MAX_TOTAL_UNCOMPRESSED_BYTES} byte", too_large=True
            )
        data_at = _local_data_at(fh, local_at, cd_at)
        spans.append((local_at, data_at + csize, name))  # header and data; a data descriptor may follow
        entries[name] = _ZipEntry(method, csize, data_at)
    spans.sort()
    for (_a, a_end, a_name), (b_at, _b, b_name) in zip(spans, spans[1:], strict=False):
        if b_at < a_end:
            raise ContainerRefused(f"các mục {a_name[:80]} và {b_name[:80]} chồng lên nhau trong tệp nén")
    if spans and spans[-1][1] > cd_at:
        raise ContainerRefused("một mục của tệp nén chồng lên mục lục")
    return entries


def _local_data_at(fh: BinaryIO, local_at: int, cd_at: int) -> int:
    """Where the data of the entry whose local header is at ``local_at`` starts (the header checked)."""
    if local_at + _LFH.size > cd_at:
        raise ContainerRefused("một mục của tệp nén nằm ngoài tệp")
    fh.seek(local_at)
    header = fh.read(_LFH.size)
    if len(header) < _LFH.size or header[:4] != _LFH_SIG:
        raise ContainerRefused("một mục của tệp nén bị hỏng")
    name_len, extra_len = _LFH.unpack(header)[9:11]
    return local_at + _LFH.size + name_len + extra_len


def _zip_mimetype(fh: BinaryIO, entry: _ZipEntry) -> str | None:
    """ODF's ``mimetype`` entry, decompressed at most :data:`ZIP_MIMETYPE_MAX_BYTES` far; None if longer."""
    fh.seek(entry.data_at)
    raw = fh.read(min(entry.compressed_bytes, ZIP_MIMETYPE_MAX_COMPRESSED_BYTES))
    if entry.method == _STORED:
        text = raw[: ZIP_MIMETYPE_MAX_BYTES + 1]
    elif entry.method == _DEFLATED:
        try:
            text = zlib.decompressobj(-zlib.MAX_WBITS).decompress(raw, ZIP_MIMETYPE_MAX_BYTES + 1)
        except zlib.error:
            return None
    else:
        return None
    if len(text) > ZIP_MIMETYPE_MAX_BYTES:
        return None
    return text.strip().decode("ascii", errors="replace")


def size_label(n_bytes: int) -> str:
    """A size as people read it: 20971520 → "20 MB", 1572864 → "1,5 MB", 512000 → "500 KB"."""
    for unit, size in (("MB", 1024 * 1024), ("KB", 1024)):
        if n_bytes >= size:
            value = n_bytes / size
            text = f"{value:.0f}" if value == int(value) else f"{value:.1f}".replace(".", ",")
            return f"{text} {unit}"
    return f"{n_bytes} byte"


def check_uploads(uploads: Sequence[EvidenceUpload], max_bytes: int) -> list[CheckedUpload]:
    if len(uploads) > MAX_EVIDENCE_FILES:
        raise InvalidInput(
            f"Tối đa {MAX_EVIDENCE_FILES} tệp minh chứng mỗi báo cáo.", details={"field": "files"}
        )
    checked: list[CheckedUpload] = []
    allowed = sorted(e for t in EVIDENCE_TYPES.values() for e in t.extensions)
    for up in uploads:
        name = os.path.basename(up.filename.replace("\\", "/")).strip()[:255] or "minh-chung"
        size = _size(up.file)
        if size > max_bytes:
            raise PayloadTooLarge(
                f"Tệp {name} vượt quá giới hạn {size_label(max_bytes)}.",
                details={"file": name, "max_bytes": max_bytes},
            )
        try:
            kind = inspect_evidence(up.file)
        except ContainerRefused as exc:
            details = {"file": name, "reason": exc.reason}
            if exc.too_large:
                raise PayloadTooLarge(
                    f"Tệp {name} bị từ chối: {exc.reason} (nghi là bom giải nén).", details=details
                ) from exc
            raise UnsupportedMediaType(
                f"Tệp {name} bị từ chối: {exc.reason}.", details={**details, "allowed": allowed}
            ) from exc
        ext = name.rsplit(".", 1)[-1].lower() if "." in name else ""
        if kind is None or ext not in EVIDENCE_TYPES[kind].extensions:
            raise UnsupportedMediaType(
                f"Tệp {name} không thuộc loại được chấp nhận (pdf, jpg, png, docx, xlsx, odt).",
                details={"file": name, "allowed": allowed},
            )
        checked.append(CheckedUpload(name, up.file, size, kind))
    return checked


# ---- storing -------------------------------------------------------------------------------------------


def _store_file(evidence_dir: Path, up: CheckedUpload) -> tuple[str, Path, str]:
    evidence_dir.mkdir(parents=True, exist_ok=True)
    stored_as = f"{secrets.token_hex(16)}.{EVIDENCE_TYPES[up.kind].extensions[0]}"
    final = evidence_dir / stored_as
    tmp = evidence_dir / f".{stored_as}.part"
    digest = hashlib.sha256()
    up.file.seek(0)
    with open(tmp, "wb") as fh:
        while chunk := up.file.read(COPY_CHUNK_BYTES):
            digest.update(chunk)
            fh.write(chunk)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, final)
    return stored_as, final, digest.hexdigest()


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
        stored_as, path, sha256 = _store_file(evidence_dir, up)
        written.append(path)
        session.add(
            TaskEvidence(
                report_id=report_id,
                filename=up.filename,
                stored_as=stored_as,
                content_type=EVIDENCE_TYPES[up.kind].content_type,
                size_bytes=up.size_bytes,
                sha256=sha256,
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
