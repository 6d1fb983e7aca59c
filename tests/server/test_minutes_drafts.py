"""The clerk's minutes drafts: every save a version, the history kept, two editors never overwrite each other;
a draft older than the latest transcript or conclusion edits is stale and is sealed only after the chair
confirms (409 ``stale_draft`` in the one JSON error shape otherwise) or after regenerating; the sealed files
hold exactly the edited text; accounts' positions printed with the names; the recording answers 409 while
its mixed file is being made."""

from __future__ import annotations

import datetime as dt
import time
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import select

from server.config import Settings
from server.db import Database
from server.models import Meeting, MeetingStatus, Unit, User
from server.services import recordings, transcripts
from tests.conftest import Account, login_headers
from tests.server.test_minutes_api import _docx_text, _pdf_text, held_meeting
from tests.server.test_transcripts_api import SPEECH

TRANSCRIPTION_WAIT_S = 60.0

EDITED_FIRST = (
    "Đồng chí Chủ tịch UBND xã Chư Mố báo cáo: 120 ha lúa thiếu nước, xã đã huy động 6 máy bơm dã chiến.\n"
    "- Đã nạo vét 3 kênh mương nội đồng;\n"
    "- Đề nghị huyện hỗ trợ kinh phí điện bơm tưới."
)


def settled_meeting(client: TestClient) -> int:
    """``held_meeting`` once the in-process worker has run the transcription that ending it queued (with no
    recording it stores no line), its transcript then stored again as a finished transcription stores it: the
    data a draft is made from stays put for the rest of the test."""
    mid = held_meeting(client)
    chair = login_headers(client, "chair")
    deadline = time.monotonic() + TRANSCRIPTION_WAIT_S
    while client.get(f"/api/meetings/{mid}/transcript", headers=chair).json()["status"] not in (
        "done",
        "failed",
    ):
        assert time.monotonic() < deadline, "the queued transcription never finished"
        time.sleep(0.2)
    with client.app.state.db.session() as session:  # type: ignore[attr-defined]
        transcripts.store_segments(session, mid, list(SPEECH))
    return mid


def _minutes(client: TestClient, mid: int, headers: dict[str, str]) -> dict[str, Any]:
    r = client.get(f"/api/meetings/{mid}/minutes", headers=headers)
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


def _save(
    client: TestClient, mid: int, headers: dict[str, str], based_on: int | None, items: list[str]
) -> Any:
    return client.post(
        f"/api/meetings/{mid}/minutes/drafts",
        json={"based_on": based_on, "items": items, "closing_note": ""},
        headers=headers,
    )


def test_every_save_is_a_version_and_the_history_keeps_them(
    client: TestClient, seeded: dict[str, Account], tmp_path: Path
) -> None:
    mid = settled_meeting(client)
    clerk, chair = login_headers(client, "clerk"), login_headers(client, "chair")
    preview = _minutes(client, mid, clerk)
    assert preview["status"] == "preview" and preview["stale"] is False
    prefill = [item["text"] for item in preview["editable"]]
    assert [item["title"] for item in preview["editable"]] == [
        "Báo cáo tình hình chống hạn",
        "Kiểm điểm kết luận kỳ trước",
    ]
    # prefilled from the corrected transcript: each contribution a list line with its unit
    assert "- Siu H'Nhi (UBND xã Chư Mố):" in prefill[0] and "120 héc-ta lúa bị thiếu nước" in prefill[0]

    first = _save(client, mid, clerk, None, [EDITED_FIRST, prefill[1]])
    assert first.status_code == 201, first.text
    assert first.json()["version"] == 1 and first.json()["status"] == "draft"
    second = _save(client, mid, clerk, 1, [EDITED_FIRST + "\n- Giao phòng Nông nghiệp theo dõi.", prefill[1]])
    assert second.status_code == 201 and second.json()["version"] == 2
    # an editor still on version 1 cannot overwrite version 2
    late = _save(client, mid, chair, 1, ["Bản cũ", ""])
    assert late.status_code == 409
    assert late.json()["error"]["code"] == "draft_outdated" and late.json()["error"]["details"]["latest"] == 2
    wrong = _save(client, mid, clerk, 2, ["chỉ một mục"])
    assert wrong.status_code == 422 and wrong.json()["error"]["details"]["expected"] == 2
    # a member of a commune cannot write the minutes
    assert _save(client, mid, login_headers(client, "chumo"), 2, ["x", "y"]).status_code == 403

    history = client.get(f"/api/meetings/{mid}/minutes/versions", headers=clerk).json()
    assert [v["version"] for v in history] == [1, 2]
    assert [v["editable"][0]["text"] for v in history] == [
        EDITED_FIRST,
        EDITED_FIRST + "\n- Giao phòng Nông nghiệp theo dõi.",
    ]
    assert all(v["created_by"] == "clerk" for v in history)
    # the edited text replaced the machine's contributions in the document itself
    item = history[1]["document"]["agenda"][0]
    assert item["contributions"] == [] and item["content"].startswith("Đồng chí Chủ tịch UBND xã Chư Mố")

    # the draft's files carry the mark and the text; sealing prints exactly version 2's text
    draft_pdf = client.get(f"/api/meetings/{mid}/minutes.pdf?version=2", headers=clerk)
    assert "DỰ THẢO" in _pdf_text(draft_pdf.content, tmp_path)
    sealed = client.post(f"/api/meetings/{mid}/minutes/2/approve", headers=chair)
    assert sealed.status_code == 200, sealed.text
    pdf = _pdf_text(client.get(f"/api/meetings/{mid}/minutes.pdf?version=2", headers=chair).content, tmp_path)
    docx_text = _docx_text(client.get(f"/api/meetings/{mid}/minutes.docx?version=2", headers=chair).content)
    for text in (pdf, docx_text):
        assert "xã đã huy động 6 máy bơm dã chiến." in text
        assert "- Đã nạo vét 3 kênh mương nội đồng;" in text
        assert "- Giao phòng Nông nghiệp theo dõi." in text
        assert "Số: 01/BB-UBND" in text and "DỰ THẢO" not in text
        assert "héc-ta lúa bị thiếu nước" not in text  # the machine's words the clerk replaced are gone
    # a sealed version is edited into a new, unnumbered draft
    again = _save(client, mid, clerk, 2, ["Sửa sau khi ký", ""])
    assert again.status_code == 201 and again.json()["version"] == 3
    assert again.json()["document"]["number"]["number"] is None


def test_a_stale_draft_is_flagged_and_sealed_only_when_confirmed_or_regenerated(
    client: TestClient, seeded: dict[str, Account]
) -> None:
    mid = settled_meeting(client)
    clerk, chair = login_headers(client, "clerk"), login_headers(client, "chair")
    assert client.post(f"/api/meetings/{mid}/minutes", json={}, headers=clerk).status_code == 201
    assert _minutes(client, mid, chair)["stale"] is False

    # the clerk corrects a transcript line after the draft was made: the draft is stale
    segment = client.get(f"/api/meetings/{mid}/transcript", headers=clerk).json()["segments"][0]
    patched = client.patch(f"/api/segments/{segment['id']}", json={"text": "Câu đã sửa."}, headers=clerk)
    assert patched.status_code == 200
    view = _minutes(client, mid, chair)
    assert view["stale"] is True and view["changed_at"] is not None
    # the clerk's further edits of that draft keep it stale (its text still comes from the old transcript)
    edited = _save(client, mid, clerk, 1, [item["text"] + "\nThêm một dòng." for item in view["editable"]])
    assert edited.status_code == 201 and edited.json()["stale"] is True
    refused = client.post(f"/api/meetings/{mid}/minutes/2/approve", headers=chair)
    assert refused.status_code == 409
    error = refused.json()["error"]
    assert error["code"] == "stale_draft" and error["details"]["version"] == 2
    assert "phiên bản 2" in error["message"] and "lập lại bản nháp" in error["message"]

    # regenerating makes a fresh draft from the current data: not stale, sealed without confirmation
    regenerated = client.post(f"/api/meetings/{mid}/minutes", json={}, headers=clerk).json()
    assert regenerated["version"] == 3 and regenerated["stale"] is False
    assert "Câu đã sửa." in regenerated["editable"][0]["text"]
    # then a conclusion changes: stale again; the chair confirms and seals it as shown
    conclusion = client.get(f"/api/meetings/{mid}/conclusions", headers=clerk).json()[0]
    changed = client.patch(
        f"/api/meetings/{mid}/conclusions/{conclusion['id']}", json={"text": "Kết luận đã sửa"}, headers=clerk
    )
    assert changed.status_code == 200
    assert _minutes(client, mid, chair)["stale"] is True
    assert client.post(f"/api/meetings/{mid}/minutes/3/approve", headers=chair).status_code == 409
    confirmed = client.post(
        f"/api/meetings/{mid}/minutes/3/approve", json={"confirm_stale": True}, headers=chair
    )
    assert confirmed.status_code == 200, confirmed.text
    sealed = confirmed.json()
    assert sealed["status"] == "sealed" and sealed["stale"] is False
    # sealed as shown: the old conclusion text, not the one edited afterwards
    assert sealed["document"]["conclusions"][0]["text"] != "Kết luận đã sửa"


def test_positions_are_printed_with_the_names(
    client: TestClient, seeded: dict[str, Account], tmp_path: Path
) -> None:
    admin = login_headers(client, "admin")
    made = client.post(
        "/api/users",
        json={
            "username": "ctxchumo",
            "password": "mat-khau-du-dai-1",
            "role": "member",
            "unit": "CHUMO",
            "full_name": "Ksor Y Hiếu",
            "position": "Chủ tịch UBND xã",
        },
        headers=admin,
    )
    assert made.status_code == 201, made.text
    mid = settled_meeting(client)
    with client.app.state.db.session() as session:  # type: ignore[attr-defined]
        for username, position in (("chumo", "Phó Chủ tịch UBND xã"), ("chair", "Chủ tịch UBND huyện")):
            user = session.scalar(select(User).where(User.username == username))
            assert user is not None
            user.position = position
    clerk = login_headers(client, "clerk")
    assert client.post(f"/api/meetings/{mid}/minutes", json={}, headers=clerk).status_code == 201
    text = _docx_text(client.get(f"/api/meetings/{mid}/minutes.docx", headers=clerk).content)
    assert "Siu H'Nhi - Phó Chủ tịch UBND xã" in text
    assert "Chủ trì (chủ tọa): Nguyễn Văn Hùng - Chủ tịch UBND huyện" in text
    assert "Người dự" in text
    with client.app.state.db.session() as session:  # type: ignore[attr-defined]
        user = session.scalar(select(User).where(User.username == "ctxchumo"))
        assert user is not None and user.position == "Chủ tịch UBND xã"


def test_recording_answers_409_while_the_mix_is_made(
    client: TestClient, seeded: dict[str, Account], tmp_path: Path
) -> None:
    chair = login_headers(client, "chair")
    db = client.app.state.db  # type: ignore[attr-defined]
    with db.session() as session:
        iapa = session.scalar(select(Unit).where(Unit.code == "IAPA"))
        assert iapa is not None
        meeting = Meeting(title="Họp vừa kết thúc", chair_unit_id=iapa.id, starts_at=dt.datetime.now(dt.UTC))
        meeting.record, meeting.status = True, MeetingStatus.LIVE
        session.add(meeting)
        session.flush()
        mid = meeting.id
        recordings.begin(session, mid, tmp_path / "rec")
    # while the meeting runs there is nothing to play yet
    assert client.get(f"/api/meetings/{mid}/recording", headers=chair).status_code == 404
    with db.session() as session:
        row = session.get(Meeting, mid)
        assert row is not None
        row.status = MeetingStatus.ENDED
    busy = client.get(f"/api/meetings/{mid}/recording", headers=chair)
    assert busy.status_code == 409
    error = busy.json()["error"]
    assert error["code"] == "recording_processing" and "đang xử lý" in error["message"]
    # the recorder finishes: the file plays
    folder = tmp_path / "rec"
    folder.mkdir()
    (folder / "mix.ogg").write_bytes(b"OggS" + bytes(60))
    with db.session() as session:
        recordings.finish(session, mid, [], "mix.ogg", "0" * 64, 64)
    played = client.get(f"/api/meetings/{mid}/recording", headers=chair)
    assert played.status_code == 200 and played.content.startswith(b"OggS")


def test_notice_follows_form_1_4(client: TestClient, seeded: dict[str, Account], tmp_path: Path) -> None:
    """Form 1.4 read back from the DOCX and the PDF: number with its code (two digits once sealed), the
    place-and-date line (1.4 has one, unlike 1.9), "DỰ THẢO" on the draft only, the summary naming who
    concluded with their position, the signer's title in capitals over the name, "Nơi nhận" ending with
    "Lưu: VT."."""
    mid = settled_meeting(client)
    with client.app.state.db.session() as session:  # type: ignore[attr-defined]
        chair_user = session.scalar(select(User).where(User.username == "chair"))
        assert chair_user is not None
        chair_user.position = "Chủ tịch UBND huyện"
    clerk, chair = login_headers(client, "clerk"), login_headers(client, "chair")
    assert client.post(f"/api/meetings/{mid}/notice", json={}, headers=clerk).status_code == 201
    draft_docx = _docx_text(client.get(f"/api/meetings/{mid}/notice.docx", headers=clerk).content)
    draft_pdf = _pdf_text(client.get(f"/api/meetings/{mid}/notice.pdf", headers=clerk).content, tmp_path)
    for text in (draft_docx, draft_pdf):
        for expected in (
            "ỦY BAN NHÂN DÂN",
            "/TB-UBND",
            "Ia Pa, ngày",
            "DỰ THẢO THÔNG BÁO",
            "Kết luận của Chủ tịch UBND huyện Nguyễn Văn Hùng tại cuộc họp",
            "CHỦ TỊCH UBND HUYỆN",
            "Nơi nhận:",
            "- Lưu: VT.",
        ):
            assert expected in text, expected
        assert "Số: 0" not in text  # not numbered before sealing
    assert client.post(f"/api/meetings/{mid}/notice/1/approve", headers=chair).status_code == 200
    sealed_docx = _docx_text(client.get(f"/api/meetings/{mid}/notice.docx", headers=chair).content)
    sealed_pdf = _pdf_text(client.get(f"/api/meetings/{mid}/notice.pdf", headers=chair).content, tmp_path)
    for text in (sealed_docx, sealed_pdf):
        assert "Số: 01/TB-UBND" in text and "(Đã ký số)" in text and "DỰ THẢO" not in text
        assert "Ia Pa, ngày" in text


def test_cli_user_add_takes_a_position(settings: Settings) -> None:
    from tests.server.test_cli import giaoban

    giaoban(settings, "init")
    giaoban(settings, "seed", "ia-pa")
    args = ["user", "add", "ctchumo", "--role", "member", "--unit", "CHUMO", "--full-name", "Ksor Y Hiếu"]
    giaoban(settings, *args, "--position", "Chủ tịch UBND xã", "--password-stdin", stdin="mot-mat-khau-dai\n")
    db = Database(settings)
    try:
        with db.session() as session:
            user = session.scalar(select(User).where(User.username == "ctchumo"))
            assert user is not None and (user.full_name, user.position) == ("Ksor Y Hiếu", "Chủ tịch UBND xã")
    finally:
        db.dispose()
