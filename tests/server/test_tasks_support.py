"""Helpers shared by the tests/server/test_tasks_*.py files: clock, meetings, tasks, segments, evidence files.

(No tests here; the name keeps it next to the files that use it.)"""

from __future__ import annotations

import datetime as dt
import io
import struct
import zipfile
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from fastapi.testclient import TestClient

from server.clock import FixedClock
from server.models import TranscriptSegment
from tests.conftest import ACCOUNTS, TEST_PASSWORD, Account, World
from tests.conftest import open_world as shared_open_world

NOV = 11
DEC = 12

#: Beside tests.conftest.ACCOUNTS: a co-ordinating unit (CHURANG), viewers, a member of an uninvolved commune.
EXTRA_ACCOUNTS: tuple[Account, ...] = (
    Account("churang", "member", "CHURANG"),
    Account("churang-viewer", "viewer", "CHURANG"),
    Account("chumo-viewer", "viewer", "CHUMO"),
    Account("poto", "member", "POTO"),
)
ALL_ACCOUNTS = (*ACCOUNTS, *EXTRA_ACCOUNTS)


@contextmanager
def open_world(
    tmp_path_factory: pytest.TempPathFactory, name: str, usernames: tuple[str, ...] | None = None
) -> Iterator[World]:
    """The shared module world (tests.conftest.open_world) with the tasks tests' accounts."""
    chosen = [a for a in ALL_ACCOUNTS if usernames is None or a.username in usernames]
    with shared_open_world(tmp_path_factory, name, chosen) as world:
        yield world


def day(month: int, d: int, year: int = 2026) -> dt.date:
    return dt.date(year, month, d)


def set_today(client: TestClient, today: dt.date) -> FixedClock:
    """Swap in (or move) the app's FixedClock so that 'today' in Vietnam is ``today``."""
    clock = client.app.state.clock  # type: ignore[attr-defined]
    if not isinstance(clock, FixedClock):
        clock = FixedClock()
        client.app.state.clock = clock  # type: ignore[attr-defined]
    clock.set_today(today)
    return clock


def add_user(client: TestClient, username: str, role: str, unit: str) -> None:
    from server.services import accounts

    with client.app.state.db.session() as session:  # type: ignore[attr-defined]
        accounts.create_user(session, username=username, password=TEST_PASSWORD, role=role, unit_code=unit)


def make_meeting(
    client: TestClient,
    headers: dict[str, str],
    *,
    chair_unit: str = "IAPA",
    units: list[str] | None = None,
    starts_at: str = "2026-12-01T08:00:00+07:00",
    title: str = "Họp giao ban",
) -> int:
    body = {
        "title": title,
        "chair_unit": chair_unit,
        "units": units if units is not None else ["CHUMO", "IATUL", "POTO"],
        "starts_at": starts_at,
    }
    r = client.post("/api/meetings", json=body, headers=headers)
    assert r.status_code == 201, r.text
    return int(r.json()["id"])


def new_task(
    client: TestClient,
    headers: dict[str, str],
    *,
    lead: str = "CHUMO",
    deadline: dt.date,
    co_units: list[str] | None = None,
    title: str = "Rà soát hộ nghèo",
    **extra: Any,
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "title": title,
        "lead_unit": lead,
        "co_units": co_units or [],
        "deadline": deadline.isoformat(),
        **extra,
    }
    r = client.post("/api/tasks", json=body, headers=headers)
    assert r.status_code == 201, r.text
    result: dict[str, Any] = r.json()
    return result


def report(
    client: TestClient,
    headers: dict[str, str],
    task_id: int,
    kind: str,
    note: str = "Đã thực hiện",
    files: list[tuple[str, bytes, str]] | None = None,
    progress_pct: int | None = None,
) -> Any:
    data: dict[str, str] = {"kind": kind, "note": note}
    if progress_pct is not None:
        data["progress_pct"] = str(progress_pct)
    multipart = [("files", (name, content, ctype)) for name, content, ctype in files or []]
    return client.post(f"/api/tasks/{task_id}/reports", data=data, files=multipart or None, headers=headers)


def review(client: TestClient, headers: dict[str, str], task_id: int, decision: str, note: str = "") -> Any:
    return client.post(
        f"/api/tasks/{task_id}/review", json={"decision": decision, "note": note}, headers=headers
    )


def task_json(client: TestClient, headers: dict[str, str], task_id: int) -> dict[str, Any]:
    r = client.get(f"/api/tasks/{task_id}", headers=headers)
    assert r.status_code == 200, r.text
    result: dict[str, Any] = r.json()
    return result


def add_segments(
    client: TestClient, meeting_id: int, texts: list[str], seconds_apart: float = 20.0
) -> list[int]:
    """Transcript segments written straight into the database (what the transcription worker stores)."""
    ids: list[int] = []
    with client.app.state.db.session() as session:  # type: ignore[attr-defined]
        for seq, text in enumerate(texts):
            seg = TranscriptSegment(
                meeting_id=meeting_id,
                seq=seq,
                start_s=seq * seconds_apart + 3.5,
                end_s=seq * seconds_apart + 18.0,
                speaker="Chủ tọa",
                text=text,
                asr_text=text,
            )
            session.add(seg)
            session.flush()
            ids.append(seg.id)
    return ids


# ---- real evidence files, made by the libraries that write them ------------------------------------------


def pdf_bytes() -> bytes:
    from fpdf import FPDF

    pdf = FPDF()
    pdf.add_page()
    pdf.set_font("helvetica", size=12)
    pdf.cell(text="Bien ban nghiem thu")
    return bytes(pdf.output())


def png_bytes(width: int = 4, height: int = 3) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    raw = b"".join(b"\x00" + bytes([200, 30, 30] * width) for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(raw))
        + chunk(b"IEND", b"")
    )


def jpeg_bytes() -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (8, 8), (10, 120, 200)).save(buf, format="JPEG")
    return buf.getvalue()


def docx_bytes() -> bytes:
    import docx

    doc = docx.Document()
    doc.add_paragraph("Báo cáo kết quả rà soát hộ nghèo")
    buf = io.BytesIO()
    doc.save(buf)
    return buf.getvalue()


def xlsx_bytes() -> bytes:
    from openpyxl import Workbook

    wb = Workbook()
    ws = wb.active
    assert ws is not None
    ws.append(["Thôn", "Số hộ"])
    ws.append(["Thôn 1", 12])
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def odt_bytes() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr(zipfile.ZipInfo("mimetype"), "application/vnd.oasis.opendocument.text")
        zf.writestr(
            "META-INF/manifest.xml",
            '<?xml version="1.0" encoding="UTF-8"?><manifest:manifest '
            'xmlns:manifest="urn:oasis:names:tc:opendocument:xmlns:manifest:1.0"/>',
        )
        zf.writestr("content.xml", '<?xml version="1.0" encoding="UTF-8"?><office:document-content/>')
    return buf.getvalue()
