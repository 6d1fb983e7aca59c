"""The live captions' transcript on the database: final captions appended as the meeting runs (searchable at
once, for those who may see the meeting), the offline pass replacing them at the end while keeping what the
clerk edited (GIAOBAN_TRANSCRIPT_SOURCE=offline), or not run when the live transcript is kept (live)."""

from __future__ import annotations

from fastapi.testclient import TestClient

from server.background import Background
from server.config import Settings
from server.services import transcripts
from server.services.transcripts import SegmentInput
from tests.conftest import Account, login_headers
from tests.server.test_transcription_jobs import FakeEngine, prepare, runner_for, status
from tests.server.test_transcripts_api import MEETING

LIVE = (
    SegmentInput(1.2, 2.6, "Xã Chư Mố báo cáo tình hình chống hạn.", "CHUMO", "Siu H'Nhi"),
    SegmentInput(3.0, 4.4, "Đã huy động máy bơm dã chiến.", "CHUMO", "Siu H'Nhi"),
)


def schedule(client: TestClient) -> int:
    r = client.post("/api/meetings", json=MEETING, headers=login_headers(client, "chair"))
    assert r.status_code == 201, r.text
    return int(r.json()["id"])


def append(client: TestClient, meeting_id: int, *segments: SegmentInput) -> list[int]:
    with client.app.state.db.session() as session:  # type: ignore[attr-defined]
        return transcripts.append_live_segments(session, meeting_id, list(segments))


def test_final_captions_are_segments_found_during_the_meeting_by_who_may_see_it(
    client: TestClient, seeded: dict[str, Account]
) -> None:
    mid = schedule(client)
    first = append(client, mid, LIVE[0])
    second = append(client, mid, LIVE[1], SegmentInput(5.0, 5.0, "   ", "CHUMO", "x"))  # blank: not stored
    assert len(first) == 1 and len(second) == 1
    got = client.get(f"/api/meetings/{mid}/transcript", headers=login_headers(client, "chumo")).json()
    assert got["status"] == "done"
    assert [(s["unit"], s["text"], s["start"]) for s in got["segments"]] == [
        ("CHUMO", LIVE[0].text, 1.2),
        ("CHUMO", LIVE[1].text, 3.0),
    ]
    hits = client.get("/api/search", params={"q": "máy bơm"}, headers=login_headers(client, "chumo")).json()
    assert [(h["kind"], h["meeting_id"], h["start"]) for h in hits["hits"]] == [("segment", mid, 3.0)]
    # a unit not invited to the meeting does not find it
    other = client.get("/api/search", params={"q": "máy bơm"}, headers=login_headers(client, "iatul")).json()
    assert other["hits"] == []
    with client.app.state.db.session() as session:  # type: ignore[attr-defined]
        assert transcripts.has_live_segments(session, mid)


def test_the_offline_pass_replaces_the_live_text_but_keeps_the_clerks_edits(
    client: TestClient, seeded: dict[str, Account], settings: Settings
) -> None:
    mid = schedule(client)
    kept, replaced = append(client, mid, *LIVE)
    clerk = login_headers(client, "clerk")
    r = client.patch(f"/api/segments/{kept}", json={"text": "Xã Chư Mố báo cáo chống hạn."}, headers=clerk)
    assert r.status_code == 200, r.text
    prepare(client, settings, mid)  # the recording (one CHUMO track, 1.0-5.0 s) and the job queued
    runner_for(client, settings, FakeEngine(), []).run(mid)  # says "xin chào các điểm cầu" at 1.5-3.5 s
    assert status(client, mid).status.value == "done"
    segs = client.get(f"/api/meetings/{mid}/transcript", headers=clerk).json()["segments"]
    # the edited live segment stays (with its history); the offline one overlapping it is not added; the
    # unedited live segment is replaced
    assert [(s["id"], s["text"], s["edited"]) for s in segs] == [(kept, "Xã Chư Mố báo cáo chống hạn.", True)]
    assert client.get(f"/api/segments/{kept}/history", headers=clerk).json()
    assert all(s["id"] != replaced for s in segs)


def test_a_second_offline_pass_replaces_everything_not_edited(
    client: TestClient, seeded: dict[str, Account], settings: Settings
) -> None:
    mid = schedule(client)
    append(client, mid, SegmentInput(20.0, 22.0, "Câu nói sau cùng.", "CHUMO", "Siu H'Nhi"))
    prepare(client, settings, mid)
    runner_for(client, settings, FakeEngine(), []).run(mid)
    segs = client.get(f"/api/meetings/{mid}/transcript", headers=login_headers(client, "chair")).json()
    assert [s["text"] for s in segs["segments"]] == ["xin chào các điểm cầu"]
    with client.app.state.db.session() as session:  # type: ignore[attr-defined]
        assert not transcripts.has_live_segments(session, mid)  # the offline pass's now


def test_source_live_keeps_the_live_transcript_and_queues_no_offline_pass(
    client: TestClient, seeded: dict[str, Account], settings: Settings
) -> None:
    mid = schedule(client)
    append(client, mid, *LIVE)
    db = client.app.state.db  # type: ignore[attr-defined]
    live = Background(settings.model_copy(update={"transcript_source": "live"}), db)
    live.queue_transcription(mid)
    assert status(client, mid).status.value == "done" and status(client, mid).engine == "live-captions"
    offline = Background(settings, db)
    offline.queue_transcription(mid)
    assert status(client, mid).status.value == "queued"
