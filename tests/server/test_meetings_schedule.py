"""Scheduling rules of issue 18 (item 6) and what search finds of a meeting (item 8): a meeting needs an
invited unit; editing and cancelling tell the invited units; a meeting is found by its attendance's unit names
and its metadata. Runs on SQLite, and on PostgreSQL when GIAOBAN_TEST_DATABASE_URL is set (the FTS5 and the
tsvector engine)."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from tests.conftest import Account, login_headers

MEETING = {
    "title": "Họp giao ban nông nghiệp",
    "chair_unit": "IAPA",
    "units": ["CHUMO", "IABROAI"],
    "starts_at": "2026-12-01T08:00:00+07:00",
    "place": "Hội trường UBND huyện",
    "record": True,
    "agenda": ["Tiến độ gieo trồng vụ đông xuân"],
}


def _notes(client: TestClient, user: str) -> list[dict[str, Any]]:
    return [
        n for n in client.get("/api/notifications", headers=login_headers(client, user)).json()
        if n["data"].get("meeting_id") is not None
    ]  # fmt: skip


def _meeting_hits(client: TestClient, user: str, q: str) -> list[int]:
    r = client.get("/api/search", params={"q": q, "kind": "meeting"}, headers=login_headers(client, user))
    assert r.status_code == 200, r.text
    return [h["id"] for h in r.json()["hits"]]


def test_a_meeting_without_invited_units_is_refused(client: TestClient, seeded: dict[str, Account]) -> None:
    chair = login_headers(client, "chair")
    r = client.post("/api/meetings", json={**MEETING, "units": []}, headers=chair)
    assert r.status_code == 422, r.text
    assert r.json()["error"]["message"] == "Cần mời ít nhất một điểm cầu dự họp."
    assert r.json()["error"]["details"] == {"field": "units"}
    r = client.post("/api/meetings", json={k: v for k, v in MEETING.items() if k != "units"}, headers=chair)
    assert r.status_code == 422 and r.json()["error"]["details"] == {"field": "units"}
    assert client.get("/api/meetings", headers=chair).json() == []


def test_edit_notifies_kept_added_and_dropped_units(client: TestClient, seeded: dict[str, Account]) -> None:
    clerk = login_headers(client, "clerk")
    mid = client.post("/api/meetings", json={**MEETING, "units": ["CHUMO", "IABROAI"]}, headers=clerk).json()[
        "id"
    ]
    assert _notes(client, "chumo") == [] and _notes(client, "iatul") == []

    r = client.patch(
        f"/api/meetings/{mid}",
        json={"title": "Họp giao ban nông nghiệp (dời lịch)", "starts_at": "2026-12-02T14:30:00+07:00",
              "units": ["CHUMO", "IATUL"]},
        headers=clerk,
    )  # fmt: skip
    assert r.status_code == 200, r.text
    assert r.json()["units"] == ["CHUMO", "IATUL"] and r.json()["title"].endswith("(dời lịch)")
    [kept] = _notes(client, "chumo")
    assert kept["kind"] == "meeting_updated" and kept["data"] == {"meeting_id": mid}
    assert "14:30 ngày 02/12/2026" in kept["text"] and "Hội trường UBND huyện" in kept["text"]
    [added] = _notes(client, "iatul")
    assert added["kind"] == "meeting_invited" and "14:30 ngày 02/12/2026" in added["text"]
    # the dropped commune no longer sees the meeting, and is told so
    with client.app.state.db.session() as session:  # type: ignore[attr-defined]
        from sqlalchemy import select

        from server.models import Notification, Unit

        broai = session.scalar(select(Unit.id).where(Unit.code == "IABROAI"))
        dropped = session.scalars(select(Notification).where(Notification.unit_id == broai)).all()
        assert [n.kind for n in dropped] == ["meeting_uninvited"]

    # at least one unit stays invited
    r = client.patch(f"/api/meetings/{mid}", json={"units": []}, headers=clerk)
    assert r.status_code == 422 and r.json()["error"]["details"] == {"field": "units"}
    # a commune may not edit the district's meeting
    assert (
        client.patch(
            f"/api/meetings/{mid}", json={"title": "X"}, headers=login_headers(client, "chumo")
        ).status_code
        == 403
    )

    # once started, units may be added but not dropped
    assert (
        client.post(f"/api/meetings/{mid}/start", headers=login_headers(client, "chair")).status_code == 200
    )
    r = client.patch(f"/api/meetings/{mid}", json={"units": ["CHUMO"]}, headers=clerk)
    assert r.status_code == 409 and r.json()["error"]["details"] == {"units": ["IATUL"]}
    r = client.patch(f"/api/meetings/{mid}", json={"units": ["CHUMO", "IATUL", "POTO"]}, headers=clerk)
    assert r.status_code == 200 and r.json()["units"] == ["CHUMO", "IATUL", "POTO"]


def test_cancel_tells_every_invited_unit(client: TestClient, seeded: dict[str, Account]) -> None:
    chair = login_headers(client, "chair")
    mid = client.post("/api/meetings", json={**MEETING, "units": ["CHUMO", "IATUL"]}, headers=chair).json()[
        "id"
    ]
    assert (
        client.post(f"/api/meetings/{mid}/cancel", headers=login_headers(client, "chumo")).status_code == 403
    )
    r = client.post(f"/api/meetings/{mid}/cancel", json={"reason": "Trùng lịch tiếp dân"}, headers=chair)
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "cancelled"
    for user in ("chumo", "iatul"):
        [note] = _notes(client, user)
        assert note["kind"] == "meeting_cancelled"
        assert note["text"] == (
            "Cuộc họp «Họp giao ban nông nghiệp» lúc 08:00 ngày 01/12/2026 đã bị hủy."
            " Lý do: Trùng lịch tiếp dân."
        )
    again = client.post(f"/api/meetings/{mid}/cancel", headers=chair)
    assert again.status_code == 409 and again.json()["error"]["details"] == {"status": "cancelled"}
    assert client.patch(f"/api/meetings/{mid}", json={"title": "X"}, headers=chair).status_code == 409
    assert client.post(f"/api/meetings/{mid}/start", headers=chair).status_code == 409
    # a live meeting is ended, not cancelled
    live = client.post("/api/meetings", json=MEETING, headers=chair).json()["id"]
    assert client.post(f"/api/meetings/{live}/start", headers=chair).status_code == 200
    assert client.post(f"/api/meetings/{live}/cancel", headers=chair).status_code == 409


def test_search_finds_a_meeting_by_its_units_and_metadata(
    client: TestClient, seeded: dict[str, Account]
) -> None:
    chair = login_headers(client, "chair")
    broai = client.post("/api/meetings", json=MEETING, headers=chair).json()["id"]
    tul = client.post(
        "/api/meetings",
        json={**MEETING, "title": "Họp chuyên đề chuyển đổi số", "units": ["IATUL"], "place": "Nhà văn hóa",
              "agenda": ["Cấp chữ ký số cho cán bộ"]},
        headers=chair,
    ).json()["id"]  # fmt: skip
    # the attendance's unit names, as typed, with or without accents
    assert _meeting_hits(client, "chair", "Ia Tul") == [tul]
    assert _meeting_hits(client, "chair", "Broai") == [broai]
    assert _meeting_hits(client, "chair", "Ia Broăi") == [broai]
    # the metadata: title, place, agenda, chairing unit
    assert _meeting_hits(client, "chair", "nha van hoa") == [tul]
    assert _meeting_hits(client, "chair", "chữ ký số") == [tul]
    assert _meeting_hits(client, "chair", "vụ đông xuân") == [broai]
    assert sorted(_meeting_hits(client, "chair", "Ia Pa")) == sorted([broai, tul])
    # a hit carries the meeting's title; the snippet marks the words found
    r = client.get("/api/search", params={"q": "Ia Tul"}, headers=chair).json()
    [hit] = [h for h in r["hits"] if h["kind"] == "meeting"]
    assert hit["meeting_id"] == tul and hit["meeting_title"] == "Họp chuyên đề chuyển đổi số"
    assert "<mark>Ia Tul</mark>" in hit["snippet"] and hit["day"] == "2026-12-01"
    # only who may see the meeting finds it
    assert _meeting_hits(client, "chumo", "Broai") == [broai]
    assert _meeting_hits(client, "iatul", "Broai") == []
    assert _meeting_hits(client, "chumo", "Ia Tul") == []
    # an edit is searchable at once: a new unit, and the dropped one no longer finds it
    r = client.patch(f"/api/meetings/{broai}", json={"units": ["CHUMO", "POTO"], "place": "Thôn Bôn Biah"},
                     headers=chair)  # fmt: skip
    assert r.status_code == 200, r.text
    assert _meeting_hits(client, "chair", "Broai") == []
    assert _meeting_hits(client, "chair", "Pờ Tó") == [broai]
    assert _meeting_hits(client, "chair", "Bon Biah") == [broai]


def test_migration_0012_indexes_the_meetings_made_before(
    client: TestClient, seeded: dict[str, Account]
) -> None:
    from alembic import command

    from server.db import alembic_config, migrate

    chair = login_headers(client, "chair")
    body = {**MEETING, "units": ["IATUL", "IABROAI"], "place": "Nhà văn hóa làng Bôn Biah"}
    tul = client.post("/api/meetings", json=body, headers=chair).json()["id"]
    settings = client.app.state.settings  # type: ignore[attr-defined]
    db = client.app.state.db  # type: ignore[attr-defined]

    def rows() -> list[tuple[Any, ...]]:
        from sqlalchemy import text

        with db.session() as session:
            sql = "SELECT ref_id, text, day, tags FROM search_docs WHERE kind = 'meeting' ORDER BY ref_id"
            return [tuple(r) for r in session.execute(text(sql))]

    written = rows()
    assert [r[0] for r in written] == [tul] and "UBND xã Ia Broăi" in written[0][1]
    # as a database of the previous release: no meeting rows
    command.downgrade(alembic_config(settings), "0011")
    assert rows() == [] and _meeting_hits(client, "chair", "Ia Tul") == []
    migrate(settings)
    assert rows() == written  # the same text, day and scope as the service writes
    assert _meeting_hits(client, "chair", "Ia Tul") == [tul]
    assert _meeting_hits(client, "chair", "Bon Biah") == [tul]
    assert _meeting_hits(client, "iatul", "Broai") == [tul]
    assert _meeting_hits(client, "chumo", "Broai") == []
