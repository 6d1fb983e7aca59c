"""The tasks API: creation from a conclusion or a segment, bad input, visibility, evidence, notifications."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from starlette.websockets import WebSocketDisconnect

from server.models import AuditEvent, Conclusion, Task, TaskEvidence, TaskReport, Unit
from tests.server.test_tasks_support import (
    DEC,
    NOV,
    World,
    add_segments,
    day,
    docx_bytes,
    jpeg_bytes,
    make_meeting,
    new_task,
    odt_bytes,
    open_world,
    pdf_bytes,
    png_bytes,
    report,
    set_today,
    task_json,
    xlsx_bytes,
)

API_USERS = ("admin", "chair", "clerk", "viewer", "chumo", "chumo-chair", "iatul", "poto", "churang")


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    with open_world(tmp_path_factory, "tasks-api", API_USERS) as w:
        yield w


def _count(client: TestClient, model: Any) -> int:
    with client.app.state.db.session() as session:  # type: ignore[attr-defined]
        return int(session.scalar(select(func.count()).select_from(model)) or 0)


def _stored_files(client: TestClient) -> set[Path]:
    folder: Path = client.app.state.settings.evidence_dir  # type: ignore[attr-defined]
    return {p for p in folder.iterdir() if p.is_file()} if folder.exists() else set()


def _saved(client: TestClient) -> tuple[set[Path], int, int]:
    """What an evidence upload leaves behind: the stored files, the report rows and the evidence rows."""
    return _stored_files(client), _count(client, TaskReport), _count(client, TaskEvidence)


def test_task_from_a_conclusion_and_from_a_segment_links_back(world: World) -> None:
    client = world.client
    clerk = world.h("clerk")
    set_today(client, day(DEC, 2))
    mid = make_meeting(client, clerk)
    seg_ids = add_segments(client, mid, ["Mở đầu cuộc họp.", "Đề nghị xã Chư Mố hoàn thành đường liên thôn."])
    with client.app.state.db.session() as session:  # type: ignore[attr-defined]
        chumo_id = session.scalar(select(Unit.id).where(Unit.code == "CHUMO"))
        c = Conclusion(
            meeting_id=mid,
            number=1,
            text="Giao UBND xã Chư Mố hoàn thành đường liên thôn",
            segment_id=seg_ids[1],
            at_s=23.5,
            segment_ids=[seg_ids[1]],
            assignee_unit_id=chumo_id,
            deadline=day(DEC, 31),
        )
        session.add(c)
        session.flush()
        cid = c.id
    r = client.post("/api/tasks", json={"conclusion_id": cid, "co_units": ["IATUL"]}, headers=clerk)
    assert r.status_code == 201, r.text
    t = r.json()
    assert (t["meeting_id"], t["conclusion_id"], t["segment_id"], t["at_s"]) == (mid, cid, seg_ids[1], 23.5)
    assert (t["lead_unit"], t["co_units"], t["deadline"]) == ("CHUMO", ["IATUL"], "2026-12-31")
    assert (t["assigning_unit"], t["title"]) == ("IAPA", "Giao UBND xã Chư Mố hoàn thành đường liên thôn")

    r = client.post(
        "/api/tasks",
        json={
            "segment_id": seg_ids[1],
            "lead_unit": "POTO",
            "deadline": "2026-12-20",
            "description": "Chi tiết",
        },
        headers=clerk,
    )
    assert r.status_code == 201, r.text
    t2 = r.json()
    assert (t2["meeting_id"], t2["segment_id"], t2["at_s"], t2["lead_unit"]) == (
        mid,
        seg_ids[1],
        23.5,
        "POTO",
    )
    assert t2["title"] == "Đề nghị xã Chư Mố hoàn thành đường liên thôn." and t2["description"] == "Chi tiết"
    assert [x["id"] for x in client.get(f"/api/tasks?meeting={mid}", headers=clerk).json()] == [
        t2["id"],
        t["id"],
    ]


BAD_TASKS: list[tuple[dict[str, Any], int, Any]] = [
    (
        {"title": "X", "lead_unit": "CHUMO", "deadline": "2026-11-30"},
        422,
        "deadline",
    ),  # before assignment
    (
        {"title": "X", "lead_unit": "CHUMO", "deadline": "2026-12-20", "assigned_on": "2026-12-21"},
        422,
        "assigned_on",
    ),
    ({"title": "X", "lead_unit": "NOWHERE", "deadline": "2026-12-20"}, 404, {"unit": "NOWHERE"}),
    (
        {"title": "X", "lead_unit": "CHUMO", "co_units": ["NOPE"], "deadline": "2026-12-20"},
        404,
        {"unit": "NOPE"},
    ),
    (
        {"title": "X", "lead_unit": "CHUMO", "co_units": ["CHUMO"], "deadline": "2026-12-20"},
        422,
        "co_units",
    ),
    ({"title": "X", "deadline": "2026-12-20"}, 422, "lead_unit"),
    ({"title": "X", "lead_unit": "CHUMO"}, 422, "deadline"),
    ({"lead_unit": "CHUMO", "deadline": "2026-12-20"}, 422, "title"),
    ({"title": "X", "lead_unit": "CHUMO", "deadline": "20/12/2026"}, 422, None),
    ({"title": "X", "lead_unit": "CHUMO", "deadline": "2026-12-20", "extra": 1}, 422, None),
    ({"conclusion_id": 9999}, 404, {"conclusion": 9999}),
    ({"segment_id": 9999, "lead_unit": "CHUMO", "deadline": "2026-12-20"}, 404, {"segment": 9999}),
    ({"title": "X", "lead_unit": "CHUMO", "deadline": "2026-12-20", "meeting_id": 9999}, 404, None),
]


def test_bad_task_input_is_refused_and_nothing_is_saved(world: World) -> None:
    client = world.client
    set_today(client, day(DEC, 1))
    chair = world.h("chair")
    tasks_before = _count(client, Task)
    for body, status, details in BAD_TASKS:
        r = client.post("/api/tasks", json=body, headers=chair)
        assert r.status_code == status, (body, r.text)
        error = r.json()["error"]
        assert set(error) == {"code", "message", "details"} and error["message"]
        if isinstance(details, str):
            assert error["details"]["field"] == details, body
        elif details is not None:
            assert error["details"] == details, body
    assert _count(client, Task) == tasks_before


def test_units_see_only_tasks_involving_them_and_filters(world: World) -> None:
    client = world.client
    clerk = world.h("clerk")
    set_today(client, day(DEC, 1))
    mid = make_meeting(client, clerk)
    a = new_task(client, clerk, lead="CHUMO", co_units=["IATUL"], deadline=day(DEC, 20), meeting_id=mid)
    b = new_task(client, clerk, lead="CHUMO", deadline=day(DEC, 3), meeting_id=mid)
    c = new_task(client, clerk, lead="POTO", deadline=day(DEC, 20), meeting_id=mid)
    set_today(client, day(DEC, 5))

    def listed(user: str, query: str = "") -> list[dict[str, Any]]:
        r = client.get(f"/api/tasks{query}", headers=world.h(user))
        assert r.status_code == 200, r.text
        result: list[dict[str, Any]] = r.json()
        return result

    def ids(user: str, query: str = "") -> list[int]:
        return [t["id"] for t in listed(user, f"?meeting={mid}{query}")]

    assert ids("chumo") == [b["id"], a["id"]]  # ordered by deadline
    assert ids("iatul") == [a["id"]]
    assert ids("poto") == [c["id"]]
    assert ids("churang") == []
    assert ids("clerk") == ids("admin") == ids("viewer") == [b["id"], a["id"], c["id"]]
    assert ids("clerk", "&unit=IATUL") == [a["id"]]
    assert ids("clerk", "&status=overdue") == [b["id"]]
    assert ids("clerk", "&unit=CHUMO&status=not_yet_due") == [a["id"]]
    for user, unit in [("iatul", "IATUL"), ("chumo", "CHUMO"), ("poto", "POTO")]:
        for t in listed(user):
            assert unit in {t["assigning_unit"], t["lead_unit"], *t["co_units"]}, (user, t)
    assert client.get("/api/tasks?unit=NOWHERE", headers=clerk).status_code == 404
    assert client.get("/api/tasks?status=late", headers=clerk).status_code == 422
    r = client.get(f"/api/tasks/{c['id']}", headers=world.h("iatul"))
    assert r.status_code == 403 and r.json()["error"]["code"] == "forbidden"
    assert client.get("/api/tasks/999999", headers=clerk).status_code == 404


def test_evidence_upload_and_download(world: World) -> None:
    client = world.client
    clerk, chumo = world.h("clerk"), world.h("chumo")
    set_today(client, day(DEC, 1))
    tid = new_task(client, clerk, deadline=day(DEC, 20))["id"]
    files = [
        ("bien-ban nghiệm thu.pdf", pdf_bytes(), "application/pdf"),
        ("anh.png", png_bytes(), "image/png"),
        ("anh2.JPG", jpeg_bytes(), "image/jpeg"),
        ("bao-cao.docx", docx_bytes(), "application/octet-stream"),
        ("so-lieu.xlsx", xlsx_bytes(), "application/octet-stream"),
        ("van-ban.odt", odt_bytes(), "application/octet-stream"),
    ]
    before = _stored_files(client)
    r = report(client, chumo, tid, "done", "Hoàn thành, gửi kèm minh chứng", files=files)
    assert r.status_code == 201, r.text
    evidence = r.json()["evidence"]
    assert [e["filename"] for e in evidence] == [f[0] for f in files]
    assert [e["content_type"] for e in evidence] == [
        "application/pdf",
        "image/png",
        "image/jpeg",
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        "application/vnd.oasis.opendocument.text",
    ]
    stored = _stored_files(client) - before
    assert len(stored) == len(files) and not any(p.name in {f[0] for f in files} for p in stored)
    for (_name, content, _), ev in zip(files, evidence, strict=True):
        assert ev["sha256"] == hashlib.sha256(content).hexdigest() and ev["size_bytes"] == len(content)
        got = client.get(ev["url"], headers=world.h("clerk"))
        assert got.status_code == 200 and got.content == content
        assert got.headers["content-type"].startswith(ev["content_type"])
        assert got.headers["content-disposition"].startswith("attachment;")
        # ?inline=1 (the review dialog shows it in the page): PDF and images only; the others still download
        shown = client.get(ev["url"] + "?inline=1", headers=world.h("clerk"))
        assert shown.status_code == 200 and shown.content == content
        disposition = (
            "inline;"
            if ev["content_type"] in ("application/pdf", "image/png", "image/jpeg")
            else "attachment;"
        )
        assert shown.headers["content-disposition"].startswith(disposition), ev["filename"]
        assert shown.headers["x-content-type-options"] == "nosniff"
    # the lead unit's own members and the assigning unit read it; an uninvolved unit does not
    assert client.get(evidence[0]["url"], headers=world.h("iatul")).status_code == 403
    assert client.get(f"/api/tasks/{tid}/evidence/99999", headers=clerk).status_code == 404
    assert task_json(client, clerk, tid)["reports"][0]["evidence"] == evidence


REFUSED_FILES: list[tuple[str, bytes, int, str]] = [
    ("virus.exe", b"MZ\x90\x00" + b"\x00" * 100, 415, "unsupported_media_type"),
    ("anh.pdf", png_bytes(), 415, "unsupported_media_type"),  # the name lies about the content
    ("ghi-chu.txt", "Ghi chú".encode(), 415, "unsupported_media_type"),
    ("fake.docx", b"PK\x03\x04 not really a zip", 415, "unsupported_media_type"),
    ("lon.pdf", b"%PDF-1.4\n" + b"0" * 5000, 413, "payload_too_large"),
]


def test_refused_evidence_saves_nothing(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    client = world.client
    monkeypatch.setattr(world.settings, "max_upload_bytes", 4096)
    clerk, chumo = world.h("clerk"), world.h("chumo")
    set_today(client, day(DEC, 1))
    tid = new_task(client, clerk, deadline=day(DEC, 20))["id"]
    good = ("ok.png", png_bytes(), "image/png")
    before = _saved(client)
    for name, content, status, code in REFUSED_FILES:
        r = report(
            client, chumo, tid, "done", "Xong", files=[good, (name, content, "application/octet-stream")]
        )
        assert r.status_code == status, (name, r.text)
        assert r.json()["error"]["code"] == code
        if status == 413:  # the limit as people read it, not a count of bytes
            assert r.json()["error"]["message"] == "Tệp lon.pdf vượt quá giới hạn 4 KB."
        assert _saved(client) == before
    assert task_json(client, clerk, tid)["state"] == "assigned"


@pytest.mark.parametrize(
    ("n_bytes", "label"),
    [(20 * 1024 * 1024, "20 MB"), (1536 * 1024, "1,5 MB"), (500 * 1024, "500 KB"), (900, "900 byte")],
)
def test_upload_limits_read_in_megabytes(n_bytes: int, label: str) -> None:
    from server.services.task_evidence import size_label

    assert size_label(n_bytes) == label


def test_a_failed_transaction_removes_the_stored_files(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    client = world.client
    clerk, chumo = world.h("clerk"), world.h("chumo")
    set_today(client, day(DEC, 1))
    tid = new_task(client, clerk, deadline=day(DEC, 20))["id"]
    from server.services import search

    def broken_index(session: Any, task_id: int) -> None:  # fault injection: the step after the files
        raise RuntimeError("index unavailable")

    monkeypatch.setattr(search, "index_task", broken_index)
    before = _saved(client)
    with pytest.raises(RuntimeError, match="index unavailable"):  # the test client re-raises server errors
        report(client, chumo, tid, "done", "Xong", files=[("a.pdf", pdf_bytes(), "application/pdf")])
    assert _saved(client) == before
    assert task_json(client, clerk, tid)["state"] == "assigned"
    monkeypatch.undo()
    assert report(client, chumo, tid, "done", "Xong", files=[("a.pdf", pdf_bytes(), "x")]).status_code == 201
    assert len(_stored_files(client) - before[0]) == 1


def test_report_rules(world: World) -> None:
    client = world.client
    clerk = world.h("clerk")
    set_today(client, day(DEC, 1))
    tid = new_task(client, clerk, lead="CHUMO", co_units=["IATUL"], deadline=day(DEC, 20))["id"]
    iatul, chumo = world.h("iatul"), world.h("chumo")
    # a co-ordinating unit adds a progress note, which does not start the task; it may not report it done
    note = report(client, iatul, tid, "progress", "Đã cử cán bộ phối hợp")
    assert note.status_code == 201 and note.json()["unit"] == "IATUL"
    assert task_json(client, clerk, tid)["state"] == "assigned"
    assert report(client, iatul, tid, "done", "Xong").status_code == 403
    assert report(client, chumo, tid, "done", "").status_code == 422  # completion needs a note
    assert report(client, chumo, tid, "progress", "", progress_pct=150).status_code == 422
    bad_note = report(client, chumo, tid, "progress", "Đã làm\x00 xong")  # a control character: 422, not 500
    assert bad_note.status_code == 422 and bad_note.json()["error"]["code"] == "invalid_input", bad_note.text
    assert report(client, chumo, tid, "finished", "x").status_code == 422
    assert report(client, chumo, tid, "done", "Xong").status_code == 201
    assert report(client, chumo, tid, "done", "Lại xong").status_code == 409
    assert report(client, world.h("viewer"), tid, "progress", "x").status_code == 403
    assert report(client, chumo, 9999, "progress", "x").status_code == 404


@pytest.mark.timeout(60)
def test_a_notification_written_right_after_the_socket_opens_is_pushed(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The socket is open for the client once accepted; a notification its next request writes must come,
    however long the server then takes to authenticate (a loaded machine: the mark was taken after that)."""
    import asyncio

    from server.api import socket_auth

    real = socket_auth.authenticate

    async def slow(ws: Any) -> Any:
        await asyncio.sleep(1.0)
        return await real(ws)

    monkeypatch.setattr(socket_auth, "authenticate", slow)
    client, clerk = world.client, world.h("clerk")
    set_today(client, day(DEC, 1))
    token = world.h("iatul")["Authorization"].split()[1]
    with client.websocket_connect(f"/ws/notifications?token={token}") as ws:
        task = new_task(client, clerk, lead="IATUL", deadline=day(DEC, 21), title="Dọn kênh")
        msg = ws.receive_json()
        assert msg["kind"] == "task_assigned" and msg["data"]["task_id"] == task["id"]


@pytest.mark.timeout(60)
def test_notifications_list_mark_read_and_websocket_push(world: World) -> None:
    client = world.client
    clerk, chumo = world.h("clerk"), world.h("chumo")
    set_today(client, day(DEC, 1))
    token = chumo["Authorization"].split()[1]
    with client.websocket_connect(f"/ws/notifications?token={token}") as ws:
        task = new_task(
            client, clerk, lead="CHUMO", co_units=["IATUL"], deadline=day(DEC, 20), title="Sửa cầu"
        )
        msg = ws.receive_json()
        assert msg["type"] == "notification" and msg["kind"] == "task_assigned"
        assert msg["data"] == {"task_id": task["id"], "deadline": "2026-12-20"}
        assert "Sửa cầu" in msg["text"] and "20/12/2026" in msg["text"]
        assert report(client, chumo, task["id"], "done", "Xong").status_code == 201
        assert (
            client.post(
                f"/api/tasks/{task['id']}/review",
                json={"decision": "return", "note": "Thiếu ảnh"},
                headers=clerk,
            ).status_code
            == 200
        )
        msg = ws.receive_json()
        assert msg["kind"] == "task_returned" and "Thiếu ảnh" in msg["text"]

    def of_task(user: str, query: str = "") -> list[dict[str, Any]]:
        r = client.get(f"/api/notifications{query}", headers=world.h(user))
        assert r.status_code == 200, r.text
        return [n for n in r.json() if n["data"].get("task_id") == task["id"]]

    listed = of_task("chumo")
    assert [n["kind"] for n in listed] == ["task_returned", "task_assigned"]
    assert [n["kind"] for n in of_task("iatul")] == ["task_coordinate"]
    assert [n["kind"] for n in of_task("clerk")] == ["task_reported_done"]
    assert of_task("poto") == []
    first = listed[1]["id"]
    read = client.post(f"/api/notifications/{first}/read", headers=chumo)
    assert read.status_code == 200 and read.json()["read_at"]
    assert [n["id"] for n in of_task("chumo", "?unread=true")] == [listed[0]["id"]]
    assert client.post(f"/api/notifications/{first}/read", headers=clerk).status_code == 404
    # catching up after a reconnect: ?after= sends what came since
    with client.websocket_connect(f"/ws/notifications?token={token}&after={first}") as ws:
        assert ws.receive_json()["id"] == listed[0]["id"]


def test_notification_socket_refuses_without_a_session(world: World) -> None:
    client = world.client
    for url in ("/ws/notifications", "/ws/notifications?token=not-a-token"):
        with client.websocket_connect(url) as ws:
            assert ws.receive_json()["code"] == "unauthenticated"
            with pytest.raises(WebSocketDisconnect) as closed:
                ws.receive_json()
            assert closed.value.code == 4401


# ---- suggestions from the transcript ------------------------------------------------------------------

TRANSCRIPT = [
    "Kính thưa các đồng chí, hôm nay chúng ta họp giao ban tháng 12.",
    "Đề nghị UBND xã Chư Mố hoàn thành báo cáo rà soát hộ nghèo trước ngày 15/12/2026.",
    "Giao xã Ia Tul phối hợp với xã Pờ Tó kiểm tra công trình thủy lợi trong tháng 12.",
    "Xã Ia Tul đề nghị huyện hỗ trợ kinh phí sửa chữa trường học.",
    "Kỳ trước đã giao xã Chư Mố làm đường liên thôn.",
    "yeu cau xa po to khan truong thu hoi no dong tuan sau",
]


def test_suggestions_are_confirmed_or_dismissed_never_created_silently(world: World) -> None:
    client = world.client
    clerk = world.h("clerk")
    set_today(client, day(DEC, 1))
    mid = make_meeting(client, clerk, title="Giao ban tháng 12")
    seg = add_segments(client, mid, TRANSCRIPT)
    r = client.get(f"/api/meetings/{mid}/suggestions", headers=clerk)
    assert r.status_code == 200, r.text
    found = r.json()
    assert [(s["lead_unit"], s["co_units"], s["deadline"], s["segment_id"]) for s in found] == [
        ("CHUMO", [], "2026-12-15", seg[1]),
        ("IATUL", ["POTO"], "2026-12-31", seg[2]),
        ("POTO", [], "2026-12-11", seg[5]),  # "tuần sau": Friday of the week after 1/12
    ]
    assert [s["at_s"] for s in found] == [23.5, 43.5, 103.5]
    assert found[0]["description"] == "hoàn thành báo cáo rà soát hộ nghèo"
    assert client.get(f"/api/tasks?meeting={mid}", headers=clerk).json() == []  # nothing created yet

    chumo_s, iatul_s, poto_s = found
    dismissed = client.post(f"/api/meetings/{mid}/suggestions/{poto_s['key']}/dismiss", headers=clerk)
    assert dismissed.status_code == 204
    for _ in range(2):  # computed again, the dismissed one stays away
        assert [s["key"] for s in client.get(f"/api/meetings/{mid}/suggestions", headers=clerk).json()] == [
            chumo_s["key"],
            iatul_s["key"],
        ]
    again = client.post(f"/api/meetings/{mid}/suggestions/{poto_s['key']}/dismiss", headers=clerk)
    assert again.status_code == 409

    made = client.post(f"/api/meetings/{mid}/suggestions/{chumo_s['key']}/confirm", headers=clerk)
    assert made.status_code == 201, made.text
    t = made.json()
    assert (t["meeting_id"], t["segment_id"], t["at_s"]) == (mid, seg[1], 23.5)
    assert (t["lead_unit"], t["deadline"], t["assigning_unit"]) == ("CHUMO", "2026-12-15", "IAPA")
    assert t["title"] == "hoàn thành báo cáo rà soát hộ nghèo" and t["description"] == chumo_s["sentence"]
    edited = client.post(
        f"/api/meetings/{mid}/suggestions/{iatul_s['key']}/confirm",
        json={"deadline": "2026-12-25", "title": "Kiểm tra công trình thủy lợi"},
        headers=clerk,
    )
    assert edited.status_code == 201, edited.text
    assert (edited.json()["deadline"], edited.json()["co_units"]) == ("2026-12-25", ["POTO"])
    assert edited.json()["title"] == "Kiểm tra công trình thủy lợi"
    assert client.get(f"/api/meetings/{mid}/suggestions", headers=clerk).json() == []
    assert (
        client.post(f"/api/meetings/{mid}/suggestions/{chumo_s['key']}/confirm", headers=clerk).status_code
        == 409
    )
    assert (
        client.post(f"/api/meetings/{mid}/suggestions/{mid}:1:0000/confirm", headers=clerk).status_code == 404
    )
    assert client.get(f"/api/meetings/{mid}/suggestions", headers=world.h("chumo")).status_code == 403
    assert sorted(t["id"] for t in client.get(f"/api/tasks?meeting={mid}", headers=clerk).json()) == sorted(
        [t["id"], edited.json()["id"]]
    )
    with client.app.state.db.session() as session:  # type: ignore[attr-defined]
        decisions = dict(
            session.execute(
                select(AuditEvent.object_id, AuditEvent.action).where(
                    AuditEvent.object_type == "task_suggestion"
                )
            ).all()
        )
    assert {k: v for k, v in decisions.items() if k.startswith(f"{mid}:")} == {
        poto_s["key"]: "task.suggestion.dismiss",
        chumo_s["key"]: "task.suggestion.confirm",
        iatul_s["key"]: "task.suggestion.confirm",
    }


# ---- the next meeting's agenda ------------------------------------------------------------------------


def test_open_tasks_of_earlier_meetings_go_on_the_next_agenda(world: World) -> None:
    client = world.client
    chair, iapa = world.h("chumo-chair"), world.h("clerk")
    set_today(client, day(NOV, 1))
    # CHUMO chairs its own series (no other test does); an IAPA meeting's tasks must not leak into it
    first = make_meeting(
        client, chair, chair_unit="CHUMO", units=["POTO"], starts_at="2026-11-05T08:00:00+07:00"
    )
    other_chair = make_meeting(client, iapa, starts_at="2026-11-06T08:00:00+07:00")
    nxt = make_meeting(
        client, chair, chair_unit="CHUMO", units=["POTO"], starts_at="2026-12-10T08:00:00+07:00"
    )
    client.patch(f"/api/meetings/{nxt}", json={"agenda": ["Tình hình tháng 11"]}, headers=chair)
    # a commune tasks only itself (and units below it): POTO, though invited, is not CHUMO's to task
    open_a = new_task(client, chair, lead="CHUMO", deadline=day(NOV, 30), meeting_id=first, title="Thu thuế")
    open_b = new_task(client, chair, lead="CHUMO", deadline=day(NOV, 15), meeting_id=first, title="Dọn kênh")
    done = new_task(client, chair, lead="CHUMO", deadline=day(NOV, 20), meeting_id=first, title="Xong rồi")
    new_task(client, iapa, lead="POTO", deadline=day(NOV, 20), meeting_id=other_chair, title="Của huyện")
    poto, chumo = world.h("poto"), world.h("chumo")
    assert report(client, chumo, done["id"], "done", "Xong").status_code == 201
    assert (
        client.post(f"/api/tasks/{done['id']}/review", json={"decision": "accept"}, headers=chair).status_code
        == 200
    )
    assert report(client, chumo, open_a["id"], "done", "Chờ nghiệm thu").status_code == 201  # still open

    r = client.post(f"/api/meetings/{nxt}/agenda/open-tasks", headers=chair)
    assert r.status_code == 200, r.text
    item = r.json()
    assert item["task_ids"] == [open_b["id"], open_a["id"]]  # by deadline
    assert item["title"].startswith("Kiểm điểm kết luận kỳ trước: 2 nhiệm vụ chưa hoàn thành")
    assert f"NV{open_b['id']} UBND xã Chư Mố (hạn 15/11/2026)" in item["title"]
    agenda = client.get(f"/api/meetings/{nxt}", headers=chair).json()["agenda"]
    assert [a["title"] for a in agenda] == [item["title"], "Tình hình tháng 11"]
    assert agenda[0]["id"] == item["agenda_item_id"]
    again = client.post(f"/api/meetings/{nxt}/agenda/open-tasks", headers=chair).json()
    assert again["agenda_item_id"] == item["agenda_item_id"]
    assert len(client.get(f"/api/meetings/{nxt}", headers=chair).json()["agenda"]) == 2

    none_before = client.post(f"/api/meetings/{first}/agenda/open-tasks", headers=chair).json()
    assert none_before == {"meeting_id": first, "agenda_item_id": None, "title": "", "task_ids": []}
    assert client.post(f"/api/meetings/{nxt}/agenda/open-tasks", headers=poto).status_code == 403
