"""Transcript reading and the clerk's edits (with history), conclusions, and the generated permission matrix
of every route of issue 6 (transcript, segments, conclusions, minutes, notice, exports, verify, search)."""

from __future__ import annotations

import itertools
import json
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from server.api import routes_records
from server.config import Settings
from server.models import AuditEvent, JobStatus, Meeting, Transcript
from server.services import transcripts
from server.services.transcripts import SegmentInput
from tests.conftest import ACCOUNTS, Account, login_headers, open_world, seed_accounts

MEETING = {
    "title": "Họp giao ban tháng 12 về phòng, chống hạn",
    "chair_unit": "IAPA",
    "units": ["CHUMO", "CHURANG"],
    "starts_at": "2026-12-04T08:00:00+07:00",
    "record": True,
    "agenda": ["Báo cáo tình hình chống hạn", "Kiểm điểm kết luận kỳ trước"],
}
SPEECH = (
    SegmentInput(0.0, 6.5, "Đề nghị các điểm cầu báo cáo tình hình chống hạn.", "IAPA", "Nguyễn Văn Hùng"),
    SegmentInput(7.0, 15.0, "Xã Chư Mố có 120 héc-ta lúa bị thiếu nước.", "CHUMO", "Siu H'Nhi"),
    SegmentInput(15.5, 22.0, "Xã đã huy động máy bơm dã chiến.", "CHUMO", "Siu H'Nhi"),
    SegmentInput(70.0, 80.0, "Xã Chư Răng đã hoàn thành nạo vét kênh mương.", "CHURANG", "Ksor Y Blú"),
    SegmentInput(
        81.0,
        95.0,
        "Giao xã Chư Mố rà soát diện tích bị hạn, báo cáo trước ngày 15.",
        "IAPA",
        "Nguyễn Văn Hùng",
    ),
)


def seed_meeting(client: TestClient, chair: dict[str, str]) -> tuple[int, list[int]]:
    """A meeting chaired by IAPA with CHUMO and CHURANG, and its stored transcript (segment ids in order)."""
    r = client.post("/api/meetings", json=MEETING, headers=chair)
    assert r.status_code == 201, r.text
    mid = int(r.json()["id"])
    with client.app.state.db.session() as session:  # type: ignore[attr-defined]
        ids = transcripts.store_segments(session, mid, list(SPEECH))
    return mid, ids


def test_transcript_status_none_then_done(client: TestClient, seeded: dict[str, Account]) -> None:
    chair = login_headers(client, "chair")
    mid = int(client.post("/api/meetings", json=MEETING, headers=chair).json()["id"])
    empty = client.get(f"/api/meetings/{mid}/transcript", headers=chair).json()
    assert empty == {
        "meeting_id": mid,
        "status": "none",
        "progress": 0.0,
        "error": "",
        "attempts": 0,
        "eta_s": None,
        "segments": [],
    }
    with client.app.state.db.session() as session:  # type: ignore[attr-defined]
        ids = transcripts.store_segments(session, mid, list(reversed(SPEECH)))  # stored in time order
    got = client.get(f"/api/meetings/{mid}/transcript", headers=login_headers(client, "chumo")).json()
    assert got["status"] == "done" and got["progress"] == 1.0
    assert [s["id"] for s in got["segments"]] == ids
    first = got["segments"][1]
    assert set(first) >= {"id", "start", "end", "unit", "speaker", "text"}
    assert (first["start"], first["end"], first["unit"], first["speaker"]) == (
        7.0,
        15.0,
        "CHUMO",
        "Siu H'Nhi",
    )
    assert client.get("/api/meetings/999/transcript", headers=chair).status_code == 404


def test_store_segments_is_idempotent_per_meeting(client: TestClient, seeded: dict[str, Account]) -> None:
    chair = login_headers(client, "chair")
    mid, first = seed_meeting(client, chair)
    with client.app.state.db.session() as session:  # type: ignore[attr-defined]
        second = transcripts.store_segments(session, mid, list(SPEECH))
        again = transcripts.store_segments(session, mid, list(SPEECH[:2]))
    assert len(first) == len(second) == 5
    segs = client.get(f"/api/meetings/{mid}/transcript", headers=chair).json()["segments"]
    assert [s["id"] for s in segs] == again and [s["text"] for s in segs] == [s.text for s in SPEECH[:2]]


def test_segment_edit_keeps_history(client: TestClient, seeded: dict[str, Account]) -> None:
    chair = login_headers(client, "chair")
    clerk = login_headers(client, "clerk")
    mid, ids = seed_meeting(client, chair)
    sid = ids[1]
    r = client.patch(
        f"/api/segments/{sid}", json={"text": "Xã Chư Mố có 125 héc-ta lúa bị thiếu nước."}, headers=clerk
    )
    assert r.status_code == 200 and r.json()["edited"] is True and "125" in r.json()["text"]
    r = client.patch(
        f"/api/segments/{sid}", json={"speaker": "Bà Siu H'Nhi", "text": r.json()["text"]}, headers=clerk
    )
    assert r.status_code == 200 and r.json()["speaker"] == "Bà Siu H'Nhi"
    unchanged = client.patch(f"/api/segments/{sid}", json={"speaker": "Bà Siu H'Nhi"}, headers=clerk)
    assert unchanged.status_code == 200
    history = client.get(f"/api/segments/{sid}/history", headers=login_headers(client, "chumo")).json()
    assert [(h["user"], h["before"], h["after"]) for h in history] == [
        (
            "clerk",
            {"text": "Xã Chư Mố có 120 héc-ta lúa bị thiếu nước."},
            {"text": "Xã Chư Mố có 125 héc-ta lúa bị thiếu nước."},
        ),
        ("clerk", {"speaker": "Siu H'Nhi"}, {"speaker": "Bà Siu H'Nhi"}),
    ]
    assert all(h["at"] for h in history)
    for bad in ({"text": ""}, {"text": "   "}, {"unit": "IATUL"}, {"text": "x" * 10_001}):
        assert client.patch(f"/api/segments/{sid}", json=bad, headers=clerk).status_code == 422, bad
    assert client.patch("/api/segments/99999", json={"text": "x"}, headers=clerk).status_code == 404
    with client.app.state.db.session() as session:  # type: ignore[attr-defined]
        actions = list(session.scalars(select(AuditEvent.action).where(AuditEvent.object_type == "segment")))
    assert actions == ["segment.edit", "segment.edit"]


def test_conclusions_numbered_linked_and_renumbered(client: TestClient, seeded: dict[str, Account]) -> None:
    chair = login_headers(client, "chair")
    mid, ids = seed_meeting(client, chair)
    base = f"/api/meetings/{mid}/conclusions"
    one = client.post(base, json={"text": "Các xã chủ động phương án chống hạn."}, headers=chair)
    assert one.status_code == 201 and one.json()["number"] == 1 and one.json()["at_s"] is None
    two = client.post(
        base,
        json={
            "text": "Giao UBND xã Chư Mố rà soát diện tích bị hạn",
            "segment_ids": [ids[4], ids[1]],
            "assignee_unit": "CHUMO",
            "deadline": "2026-12-15",
        },
        headers=login_headers(client, "clerk"),
    ).json()
    assert (two["number"], two["segment_ids"], two["at_s"]) == (2, [ids[1], ids[4]], 7.0)
    assert (two["assignee_unit"], two["deadline"]) == ("CHUMO", "2026-12-15")
    three = client.post(
        base, json={"text": "Ba", "segment_ids": [ids[3]], "at_s": 72.5}, headers=chair
    ).json()
    assert (three["number"], three["at_s"]) == (3, 72.5)

    patched = client.patch(
        f"{base}/{two['id']}", json={"segment_ids": [ids[4]], "deadline": None}, headers=chair
    )
    assert patched.status_code == 200
    assert (patched.json()["at_s"], patched.json()["deadline"], patched.json()["updated_at"] is not None) == (
        81.0,
        None,
        True,
    )
    assert client.delete(f"{base}/{one.json()['id']}", headers=chair).status_code == 204
    listed = client.get(base, headers=login_headers(client, "chumo")).json()
    assert [(c["number"], c["id"]) for c in listed] == [(1, two["id"]), (2, three["id"])]

    other, other_ids = seed_meeting(client, chair)
    wrong = client.post(base, json={"text": "x", "segment_ids": [other_ids[0]]}, headers=chair)
    assert wrong.status_code == 422 and wrong.json()["error"]["details"]["unknown"] == [other_ids[0]]
    assert client.post(base, json={"text": ""}, headers=chair).status_code == 422
    assert client.post(base, json={"text": "x", "assignee_unit": "NOWHERE"}, headers=chair).status_code == 404
    assert (
        client.patch(
            f"/api/meetings/{other}/conclusions/{three['id']}", json={"text": "y"}, headers=chair
        ).status_code
        == 404
    )


# ---- the generated permission matrix
# ------------------------------------------------------------------------
# Expected outcomes written from the rules in the services' docstrings: the meeting is chaired by IAPA
# and invites
# CHUMO; IATUL is not invited. Approval is the chair of the chairing unit only (not even an admin: a seal is a
# personal signature).

CHAIRING, INVITED = "IAPA", "CHUMO"


def sees(a: Account) -> bool:
    return a.role == "admin" or a.unit in (CHAIRING, INVITED)


def manages(a: Account) -> bool:
    return a.role == "admin" or (a.role in ("chair", "clerk") and a.unit == CHAIRING)


@pytest.fixture
def remote_worker_client(settings: Settings) -> Iterator[TestClient]:
    """A server without its in-process worker: jobs are run by a worker elsewhere (`giaoban worker`)."""
    from server.app import create_app

    with TestClient(create_app(settings.model_copy(update={"worker_in_process": False}))) as c:
        seed_accounts(c)
        yield c


def test_progress_is_pushed_as_server_sent_events(
    remote_worker_client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A worker on another machine (here: a thread writing the job's row as `giaoban worker` does) advances
    the job; the stream sends each change once, as `event: progress` with the state as JSON, and ends when
    the transcript is done."""
    monkeypatch.setattr(routes_records, "PROGRESS_CHECK_INTERVAL_S", 0.05)
    monkeypatch.setattr(routes_records, "PROGRESS_STREAM_MAX_S", 20.0)  # a broken test fails, not hangs
    client = remote_worker_client
    chair = login_headers(client, "chair")
    mid = int(client.post("/api/meetings", json=MEETING, headers=chair).json()["id"])
    db = client.app.state.db  # type: ignore[attr-defined]
    with db.session() as session:
        session.add(Transcript(meeting_id=mid, status=JobStatus.QUEUED, progress=0.0))

    # the worker makes each change once the stream has read the state before it (however slow a loaded
    # machine makes the stream to open or to poll), so that every state is there to be sent
    seen: list[tuple[str, float]] = []
    seen_changed = threading.Condition()
    real_progress = transcripts.transcript_progress

    def progress(*args: Any, **kwargs: Any) -> Any:
        state = real_progress(*args, **kwargs)
        with seen_changed:
            seen.append((state.status, state.progress))
            seen_changed.notify_all()
        return state

    monkeypatch.setattr(transcripts, "transcript_progress", progress)

    def read_by_stream(status: str, share: float) -> None:
        with seen_changed:
            assert seen_changed.wait_for(lambda: (status, share) in seen, timeout=15), (status, share, seen)

    def worker() -> None:
        read_by_stream("queued", 0.0)
        for status, share in ((JobStatus.RUNNING, 0.25), (JobStatus.RUNNING, 0.75)):
            time.sleep(0.1)
            with db.session() as session:
                row = session.scalar(select(Transcript).where(Transcript.meeting_id == mid))
                assert row is not None
                row.status, row.progress, row.attempts = status, share, 1
            read_by_stream(status.value, share)
        time.sleep(0.1)
        with db.session() as session:
            transcripts.store_segments(session, mid, list(SPEECH))
            row = session.scalar(select(Transcript).where(Transcript.meeting_id == mid))
            assert row is not None
            row.status, row.progress = JobStatus.DONE, 1.0

    thread = threading.Thread(target=worker)
    thread.start()
    with client.stream("GET", f"/api/meetings/{mid}/transcript/events", headers=chair) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        lines = [line for line in response.iter_lines() if line]
    thread.join()

    assert lines[0::2] == ["event: progress"] * (len(lines) // 2)
    events = [json.loads(line.removeprefix("data: ")) for line in lines[1::2]]
    assert [(e["status"], e["progress"]) for e in events] == [
        ("queued", 0.0),
        ("running", 0.25),
        ("running", 0.75),
        ("done", 1.0),
    ]
    assert events[-1] == {
        "meeting_id": mid,
        "status": "done",
        "progress": 1.0,
        "error": "",
        "attempts": 1,
        "eta_s": None,
    }


def test_progress_stream_refuses_before_streaming(client: TestClient, seeded: dict[str, Account]) -> None:
    chair = login_headers(client, "chair")
    r = client.get("/api/meetings/999/transcript/events", headers=chair)
    assert r.status_code == 404 and r.headers["content-type"].startswith("application/json")
    assert client.get("/api/meetings/999/transcript/events").status_code == 401


def approves(a: Account) -> bool:
    return a.role == "chair" and a.unit == CHAIRING


@dataclass(frozen=True)
class Route:
    name: str
    method: str
    # {id} meeting, {seg} a segment of it, {c} a conclusion of it; {v} its draft version 1 of minutes,
    path: str
    # {sealed} its sealed version 1
    body: dict[str, Any] | None
    ok_status: int
    allowed: Callable[[Account], bool]


ROUTES = (
    Route("transcript", "GET", "/api/meetings/{id}/transcript", None, 200, sees),
    Route("transcript.events", "GET", "/api/meetings/{id}/transcript/events", None, 200, sees),
    Route("segment.edit", "PATCH", "/api/segments/{seg}", {"text": "Sửa lại"}, 200, manages),
    Route("segment.history", "GET", "/api/segments/{seg}/history", None, 200, sees),
    Route("conclusions.list", "GET", "/api/meetings/{id}/conclusions", None, 200, sees),
    Route("conclusions.create", "POST", "/api/meetings/{id}/conclusions", {"text": "Kết luận"}, 201, manages),
    Route("conclusions.update", "PATCH", "/api/meetings/{id}/conclusions/{c}", {"text": "Sửa"}, 200, manages),
    Route("conclusions.delete", "DELETE", "/api/meetings/{id}/conclusions/{c}", None, 204, manages),
    Route("minutes.read", "GET", "/api/meetings/{id}/minutes", None, 200, sees),
    Route("minutes.generate", "POST", "/api/meetings/{id}/minutes", {}, 201, manages),
    Route("minutes.versions", "GET", "/api/meetings/{id}/minutes/versions", None, 200, sees),
    Route("minutes.version", "GET", "/api/meetings/{id}/minutes/1", None, 200, sees),
    Route("minutes.approve", "POST", "/api/meetings/{v}/minutes/1/approve", None, 200, approves),
    Route("minutes.verify", "GET", "/api/meetings/{sealed}/minutes/1/verify", None, 200, sees),
    Route("minutes.docx", "GET", "/api/meetings/{id}/minutes.docx", None, 200, sees),
    Route("minutes.pdf", "GET", "/api/meetings/{id}/minutes.pdf", None, 200, sees),
    Route("notice.read", "GET", "/api/meetings/{id}/notice", None, 200, sees),
    Route("notice.generate", "POST", "/api/meetings/{id}/notice", {}, 201, manages),
    Route("notice.docx", "GET", "/api/meetings/{id}/notice.docx", None, 200, sees),
    Route("search", "GET", "/api/search?q=chống+hạn", None, 200, lambda a: True),
)


@dataclass
class Matrix:
    client: TestClient
    tokens: dict[str, str]
    admin: dict[str, str]
    chair: dict[str, str]


@pytest.fixture(scope="module")
def matrix(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Matrix]:
    with open_world(tmp_path_factory, "records-matrix") as world:
        tokens = {name: h["Authorization"] for name, h in world.headers.items()}
        yield Matrix(world.client, tokens, world.h("admin"), world.h("chair"))


def _fresh(m: Matrix) -> tuple[int, int, int]:
    """A meeting inviting CHUMO with a transcript and one conclusion: (meeting, segment, conclusion)."""
    r = m.client.post("/api/meetings", json=MEETING | {"units": [INVITED]}, headers=m.admin)
    mid = int(r.json()["id"])
    with m.client.app.state.db.session() as session:  # type: ignore[attr-defined]
        seg = transcripts.store_segments(session, mid, list(SPEECH))[0]
        assert session.get(Meeting, mid) is not None
    c = m.client.post(f"/api/meetings/{mid}/conclusions", json={"text": "Chống hạn"}, headers=m.admin).json()[
        "id"
    ]
    return mid, seg, int(c)


CASES = list(itertools.product(ROUTES, [*ACCOUNTS, None]))


@pytest.mark.parametrize(
    ("route", "account"), CASES, ids=[f"{r.name}-{a.username if a else 'anonymous'}" for r, a in CASES]
)
def test_permission_matrix(matrix: Matrix, route: Route, account: Account | None) -> None:
    path = route.path
    if any(k in path for k in ("{id}", "{seg}", "{c}", "{v}", "{sealed}")):
        mid, seg, c = _fresh(matrix)
        if "{v}" in path or "{sealed}" in path or "/minutes/1" in path:
            assert (
                matrix.client.post(f"/api/meetings/{mid}/minutes", json={}, headers=matrix.admin).status_code
                == 201
            )
        if "{sealed}" in path:
            ok = matrix.client.post(f"/api/meetings/{mid}/minutes/1/approve", headers=matrix.chair)
            assert ok.status_code == 200, ok.text
        for key, value in (("{id}", mid), ("{seg}", seg), ("{c}", c), ("{v}", mid), ("{sealed}", mid)):
            path = path.replace(key, str(value))
    headers = {"Authorization": matrix.tokens[account.username]} if account else {}
    matrix.client.cookies.clear()
    r = matrix.client.request(route.method, path, json=route.body, headers=headers)
    expected = 401 if account is None else (route.ok_status if route.allowed(account) else 403)
    assert r.status_code == expected, r.text
    if expected >= 400:
        assert set(r.json()["error"]) == {"code", "message", "details"}
