"""Minutes (form 1.9) and conclusion notice (form 1.4) from a seeded meeting: DOCX parsed back, PDF text
through pdftotext, versions, the chair's approval and seal, verification by API and CLI, tampering
detected, and the notice's due date across weekends and holidays (built-in and configured)."""

from __future__ import annotations

import datetime as dt
import io
import subprocess
from pathlib import Path
from typing import Any

import docx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from server.app import create_app
from server.clock import Clock  # 'today' in Vietnam, as the server counts deadlines
from server.config import Settings
from server.models import MinutesVersion, User
from server.services import accounts, minutes, units
from server.services.minutes import server_secret
from server.services.minutes_content import place_name
from tests.conftest import ACCOUNTS, TEST_PASSWORD, Account, login_headers
from tests.server.test_transcripts_api import MEETING, seed_meeting


def _names(client: TestClient) -> None:
    with client.app.state.db.session() as session:  # type: ignore[attr-defined]
        for username, full in (
            ("chair", "Nguyễn Văn Hùng"),
            ("clerk", "Trần Thị Lan"),
            ("chumo", "Siu H'Nhi"),
        ):
            # type: ignore[union-attr]
            session.scalar(select(User).where(User.username == username)).full_name = full


def held_meeting(client: TestClient) -> int:
    """A meeting that ran: roll-call (CHUMO online and joined, CHURANG absent), transcript, 2 conclusions."""
    _names(client)
    chair = login_headers(client, "chair")
    mid, ids = seed_meeting(client, chair)
    assert client.post(f"/api/meetings/{mid}/start", headers=chair).status_code == 200
    joined = client.post(
        f"/api/meetings/{mid}/roll-call", json={"unit": "CHUMO", "status": "present_online"}, headers=chair
    )
    assert joined.status_code == 200
    absent = {"unit": "CHURANG", "status": "absent", "reason": "Mất điện"}
    assert client.post(f"/api/meetings/{mid}/roll-call", json=absent, headers=chair).status_code == 200
    with client.app.state.db.session() as session:  # type: ignore[attr-defined]
        from server.services import meetings

        # type: ignore[arg-type]
        chumo = accounts.actor_of(session.scalar(select(User).where(User.username == "chumo")))
        meetings.record_join(session, chumo, mid)
    assert client.post(f"/api/meetings/{mid}/end", headers=chair).status_code == 200
    for body in (
        {"text": "Các xã chủ động phương án chống hạn cho lúa vụ Đông Xuân", "segment_ids": [ids[0]]},
        {
            "text": "Giao UBND xã Chư Mố rà soát diện tích lúa bị hạn",
            "segment_ids": [ids[4]],
            "assignee_unit": "CHUMO",
            "deadline": "2026-12-15",
        },
    ):
        assert client.post(f"/api/meetings/{mid}/conclusions", json=body, headers=chair).status_code == 201
    return mid


def _docx_text(data: bytes) -> str:
    document = docx.Document(io.BytesIO(data))
    parts = [p.text for p in document.paragraphs]
    for table in document.tables:
        for row in table.rows:
            parts.extend(cell.text for cell in row.cells)
    return " ".join(" ".join(parts).split())


def _pdf_text(data: bytes, tmp_path: Path) -> str:
    path = tmp_path / "doc.pdf"
    path.write_bytes(data)
    out = subprocess.run(["pdftotext", "-enc", "UTF-8", str(path), "-"], check=True, capture_output=True)
    return " ".join(out.stdout.decode("utf-8").split())


MINUTES_FIELDS = (
    "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM",
    "Độc lập - Tự do - Hạnh phúc",
    "ỦY BAN NHÂN DÂN",
    "HUYỆN IA PA",
    "/BB-UBND",
    "BIÊN BẢN",
    "Họp giao ban tháng 12 về phòng, chống hạn",
    "Thời gian bắt đầu:",
    "họp trực tuyến với 02 điểm cầu: UBND xã Chư Mố, UBND xã Chư Răng",
    "Thành phần tham dự:",
    "Có mặt (trực tuyến)",
    "Vắng mặt (lý do: Mất điện)",
    "Siu H'Nhi",
    "Chủ trì (chủ tọa): Nguyễn Văn Hùng",
    "Thư ký (người ghi biên bản): Trần Thị Lan",
    "1. Báo cáo tình hình chống hạn.",
    "2. Kiểm điểm kết luận kỳ trước.",
    "Xã Chư Mố có 120 héc-ta lúa bị thiếu nước. Xã đã huy động máy bơm dã chiến.",
    "Kết luận của chủ tọa:",
    "1. Các xã chủ động phương án chống hạn cho lúa vụ Đông Xuân.",
    "2. Giao UBND xã Chư Mố rà soát diện tích lúa bị hạn.",
    "Đơn vị thực hiện: UBND xã Chư Mố; thời hạn hoàn thành: trước ngày 15/12/2026.",
    "Cuộc họp kết thúc vào",
    "THƯ KÝ",
    "CHỦ TỌA",
)


def test_minutes_from_the_meeting_as_docx_and_pdf(
    client: TestClient, seeded: dict[str, Account], tmp_path: Path
) -> None:
    mid = held_meeting(client)
    clerk = login_headers(client, "clerk")
    preview = client.get(f"/api/meetings/{mid}/minutes", headers=clerk).json()
    assert preview["status"] == "preview" and preview["version"] is None
    # agenda item 2 started at 60 s on the meeting clock: later speech belongs to it
    with client.app.state.db.session() as session:  # type: ignore[attr-defined]
        from server.models import Meeting

        session.get(Meeting, mid).agenda[1].starts_at_s = 60.0  # type: ignore[union-attr]
    r = client.post(
        f"/api/meetings/{mid}/minutes", json={"location": "Hội trường UBND huyện Ia Pa"}, headers=clerk
    )
    assert r.status_code == 201, r.text
    doc = r.json()["document"]
    assert r.json()["status"] == "draft" and r.json()["version"] == 1
    first, second = doc["agenda"]
    assert [c["text"] for c in first["contributions"]][
        1
    ] == "Xã Chư Mố có 120 héc-ta lúa bị thiếu nước. Xã đã huy động máy bơm dã chiến."
    assert [c["recording_offset_s"] for c in first["contributions"]] == [0, 7]
    assert [c["unit_name"] for c in second["contributions"]] == ["UBND xã Chư Răng", "UBND huyện Ia Pa"]
    assert {a["unit_name"]: a["status"] for a in doc["attendees"]} == {
        "UBND xã Chư Mố": "present_online",
        "UBND xã Chư Răng": "absent",
    }

    docx_r = client.get(f"/api/meetings/{mid}/minutes.docx", headers=login_headers(client, "chumo"))
    assert docx_r.status_code == 200 and docx_r.headers["content-type"].startswith("application/vnd.openxml")
    assert 'filename="bien-ban-' in docx_r.headers["content-disposition"]
    pdf_r = client.get(f"/api/meetings/{mid}/minutes.pdf", headers=clerk)
    assert pdf_r.status_code == 200 and pdf_r.content.startswith(b"%PDF")
    docx_text, pdf_text = _docx_text(docx_r.content), _pdf_text(pdf_r.content, tmp_path)
    for field in (*MINUTES_FIELDS, "Hội trường UBND huyện Ia Pa"):
        assert field in docx_text, field
        assert field in pdf_text, field


def test_seal_verify_tamper(client: TestClient, seeded: dict[str, Account], settings: Settings) -> None:
    mid = held_meeting(client)
    clerk, chair = login_headers(client, "clerk"), login_headers(client, "chair")
    assert client.post(f"/api/meetings/{mid}/minutes", json={}, headers=clerk).json()["version"] == 1
    assert client.get(f"/api/meetings/{mid}/minutes/1/verify", headers=chair).status_code == 409  # a draft
    assert client.post(f"/api/meetings/{mid}/minutes/1/approve", headers=clerk).status_code == 403
    sealed = client.post(f"/api/meetings/{mid}/minutes/1/approve", headers=chair)
    assert sealed.status_code == 200, sealed.text
    s = sealed.json()
    assert (s["status"], s["number"], s["sealed_by"]) == ("sealed", "01/BB-UBND", "chair")
    assert len(s["sha256"]) == 64 and s["signature_b64"] and s["public_key_b64"]
    assert s["document"]["number"]["number"] == 1 and s["document"]["chair_signature_note"] == "(Đã ký số)"
    assert client.post(f"/api/meetings/{mid}/minutes/1/approve", headers=chair).status_code == 409
    ok = client.get(f"/api/meetings/{mid}/minutes/1/verify", headers=login_headers(client, "chumo")).json()
    assert ok["valid"] is True and ok["reason"] == "ok" and ok["sha256_actual"] == s["sha256"]
    sealed_docx = _docx_text(client.get(f"/api/meetings/{mid}/minutes.docx?version=1", headers=chair).content)
    assert "Số: 01/BB-UBND" in sealed_docx and "(Đã ký số)" in sealed_docx
    assert minutes.verify_cli(settings, mid, None) == 0

    # any later change is a new version, which keeps the meeting's number when approved
    client.post(f"/api/meetings/{mid}/conclusions", json={"text": "Bổ sung kết luận thứ ba"}, headers=chair)
    v2 = client.post(f"/api/meetings/{mid}/minutes", json={}, headers=clerk).json()
    assert v2["version"] == 2 and v2["status"] == "draft" and len(v2["document"]["conclusions"]) == 3
    assert (
        client.post(f"/api/meetings/{mid}/minutes/2/approve", headers=chair).json()["number"] == "01/BB-UBND"
    )
    v3 = client.post(f"/api/meetings/{mid}/minutes", json={}, headers=clerk).json()["version"]
    assert client.post(f"/api/meetings/{mid}/minutes/2/approve", headers=chair).status_code == 409
    assert [
        v["status"] for v in client.get(f"/api/meetings/{mid}/minutes/versions", headers=chair).json()
    ] == [
        "sealed",
        "sealed",
        "draft",
    ]
    assert v3 == 3

    # tamper with one byte of the stored content of version 1
    with client.app.state.db.session() as session:  # type: ignore[attr-defined]
        row = session.scalar(
            select(MinutesVersion).where(MinutesVersion.meeting_id == mid, MinutesVersion.version == 1)
        )
        assert row is not None
        content: dict[str, Any] = dict(row.content)
        content["title"] = content["title"].replace("tháng 12", "tháng 11")
        row.content = content
    bad = client.get(f"/api/meetings/{mid}/minutes/1/verify", headers=chair).json()
    assert (
        bad["valid"] is False
        and bad["reason"] == "content_changed"
        and bad["sha256_actual"] != bad["sha256_sealed"]
    )
    assert minutes.verify_cli(settings, mid, 1) == 1
    assert minutes.verify_cli(settings, mid, None) == 0  # version 2 is untouched
    # a forged signature is caught too
    with client.app.state.db.session() as session:  # type: ignore[attr-defined]
        row = session.scalar(
            select(MinutesVersion).where(MinutesVersion.meeting_id == mid, MinutesVersion.version == 2)
        )
        assert row is not None
        sig = bytearray(row.signature_b64.encode())
        sig[5] = ord("A") if sig[5] != ord("A") else ord("B")
        row.signature_b64 = sig.decode()
    assert (
        client.get(f"/api/meetings/{mid}/minutes/2/verify", headers=chair).json()["reason"] == "bad_signature"
    )
    assert minutes.verify_cli(settings, mid, None) == 1
    assert minutes.verify_cli(settings, 999, None) == 2


def test_register_numbers_meetings_in_turn(client: TestClient, seeded: dict[str, Account]) -> None:
    chair, clerk = login_headers(client, "chair"), login_headers(client, "clerk")
    numbers = []
    for _ in range(2):
        mid, _ids = seed_meeting(client, chair)
        client.post(f"/api/meetings/{mid}/minutes", json={}, headers=clerk)
        numbers.append(client.post(f"/api/meetings/{mid}/minutes/1/approve", headers=chair).json()["number"])
        client.post(f"/api/meetings/{mid}/notice", json={}, headers=clerk)
        numbers.append(client.post(f"/api/meetings/{mid}/notice/1/approve", headers=chair).json()["number"])
    assert numbers == ["01/BB-UBND", "01/TB-UBND", "02/BB-UBND", "02/TB-UBND"]


def _app_with(settings: Settings) -> TestClient:
    client = TestClient(create_app(settings))
    client.__enter__()
    with client.app.state.db.session() as session:  # type: ignore[attr-defined]
        units.seed_ia_pa(session)
        for acc in ACCOUNTS:
            accounts.create_user(
                session, username=acc.username, password=TEST_PASSWORD, role=acc.role, unit_code=acc.unit
            )
    return client


@pytest.mark.parametrize(
    ("meeting_day", "extra_holidays", "due"),
    [
        ("2026-12-04", [], "2026-12-11"),  # Friday: the weekend is skipped
        ("2026-12-04", ["2026-12-09"], "2026-12-14"),  # a configured holiday on top
        ("2026-04-24", [], "2026-05-06"),  # Giỗ Tổ (27/4), 30/4 and 1/5 plus a weekend
        ("2026-02-12", [], "2026-02-26"),  # Tết: 16–20/2
    ],
)
def test_notice_due_date_skips_weekends_and_holidays(
    tmp_path: Path, database_url: str | None, meeting_day: str, extra_holidays: list[str], due: str
) -> None:
    settings = Settings(
        data_dir=tmp_path / "d", database_url=database_url, secret_key="s", holidays=extra_holidays
    )
    client = _app_with(settings)
    try:
        chair = login_headers(client, "chair")
        body = MEETING | {"starts_at": f"{meeting_day}T08:00:00+07:00"}
        mid = client.post("/api/meetings", json=body, headers=chair).json()["id"]
        preview = client.get(f"/api/meetings/{mid}/notice", headers=chair).json()
        assert preview["due_on"] == due
        assert preview["overdue"] is (dt.date.fromisoformat(due) < Clock().today())
    finally:
        client.__exit__(None, None, None)


def test_notice_document_and_overdue_flag(
    client: TestClient, seeded: dict[str, Account], tmp_path: Path
) -> None:
    _names(client)
    chair, clerk = login_headers(client, "chair"), login_headers(client, "clerk")
    past = client.post(
        "/api/meetings", json=MEETING | {"starts_at": "2026-04-24T08:00:00+07:00"}, headers=chair
    ).json()["id"]
    client.post(
        f"/api/meetings/{past}/conclusions",
        json={
            "text": "Giao UBND xã Chư Mố rà soát diện tích lúa bị hạn",
            "assignee_unit": "CHUMO",
            "deadline": "2026-05-15",
        },
        headers=chair,
    )
    draft = client.post(
        f"/api/meetings/{past}/notice", json={"chair_position": "Chủ tịch UBND huyện"}, headers=clerk
    )
    assert (
        draft.status_code == 201
        and draft.json()["due_on"] == "2026-05-06"
        and draft.json()["overdue"] is True
    )
    sealed = client.post(f"/api/meetings/{past}/notice/1/approve", headers=chair).json()
    assert sealed["overdue"] is True and sealed["number"] == "01/TB-UBND"  # issued after its due date
    assert client.get(f"/api/meetings/{past}/notice/1/verify", headers=chair).json()["valid"] is True
    text = _docx_text(client.get(f"/api/meetings/{past}/notice.docx", headers=chair).content)
    pdf = _pdf_text(client.get(f"/api/meetings/{past}/notice.pdf", headers=chair).content, tmp_path)
    for field in (
        "THÔNG BÁO",
        "Kết luận của Chủ tịch UBND huyện Nguyễn Văn Hùng tại cuộc họp giao ban tháng 12 về phòng, chống hạn",
        "Số: 01/TB-UBND",
        "Ia Pa, ngày",
        "1. Giao UBND xã Chư Mố rà soát diện tích lúa bị hạn.",
        "Nơi nhận:",
        "UBND xã Chư Mố",
        "Lưu: VT.",
        "CHỦ TỊCH UBND HUYỆN",
        "Nguyễn Văn Hùng",
    ):
        assert field in text, field
        assert field in pdf, field

    future = client.post(
        "/api/meetings", json=MEETING | {"starts_at": "2026-12-21T08:00:00+07:00"}, headers=chair
    )
    upcoming = client.get(f"/api/meetings/{future.json()['id']}/notice", headers=clerk).json()
    assert (upcoming["status"], upcoming["due_on"], upcoming["overdue"]) == ("preview", "2026-12-28", False)


def test_server_secret_is_made_once(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "d")
    first = server_secret(settings)
    assert len(first) >= 40 and server_secret(settings) == first
    assert (tmp_path / "d" / "secret.key").stat().st_mode & 0o777 == 0o600
    assert server_secret(Settings(data_dir=tmp_path / "d", secret_key="given")) == "given"


def test_place_names() -> None:
    assert place_name("UBND huyện Ia Pa") == "Ia Pa"
    assert place_name("Ủy ban nhân dân xã Chư Mố") == "Chư Mố"
    assert place_name("UBND tỉnh Gia Lai") == "Gia Lai"
    assert place_name("Phòng Nông nghiệp") == "Phòng Nông nghiệp"
