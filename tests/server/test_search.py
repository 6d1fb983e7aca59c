"""``GET /api/search``: the Vietnamese query matrix, ranking, snippets, filters, permission scoping, bad
input, and an index that follows every edit. The same file runs on SQLite FTS5 and
(GIAOBAN_TEST_DATABASE_URL) on PostgreSQL, with the same expected results."""

from __future__ import annotations

import datetime as dt
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from fastapi.testclient import TestClient

from server.models import Task
from server.services import search, transcripts, units
from server.services.transcripts import SegmentInput
from tests.conftest import ACCOUNTS, login_headers, open_app, seed_accounts

FIRST = [  # meeting 1: chaired by IAPA with CHUMO and CHURANG, 01/12/2026
    ("CHUMO", "Nguyễn Văn An", "Ủy ban nhân dân xã Chư Mố rà soát hộ nghèo trước ngày 15/5"),
    ("CHURANG", "Lê Thị Bình", "Công trình thuỷ lợi Ia Mrơn đã hoàn thành"),
    ("IAPA", "", "Đề nghị xã Chư Răng hoà giải tranh chấp đất đai"),
    ("CHUMO", "Nguyễn Văn An", "Huyện Đắk Đoa hỗ trợ giống cây trồng"),
    ("CHURANG", "Lê Thị Bình", "Huyện Dak Pơ hỗ trợ giống cây trồng"),
    ("IAPA", "", unicodedata.normalize("NFD", "Phòng Tài chính - Kế hoạch cân đối nguồn vốn")),
    ("IAPA", "", "Đề nghị Uỷ ban xã Chư Răng báo cáo"),
    ("CHUMO", "Nguyễn Văn An", "Xã đã triển khai đồng bộ giải pháp chống hạn, người dân rất phấn khởi"),
    ("CHURANG", "Lê Thị Bình", "Ghi chú: <b>khẩn</b> & gấp"),
]
SECOND = [  # meeting 2: chaired by IAPA with IATUL only, 10/12/2026
    ("IATUL", "Rơ Châm Hyưn", "Xã Ia Tul rà soát hộ nghèo và thủy lợi nội đồng"),
]


@dataclass
class Corpus:
    client: TestClient
    tokens: dict[str, dict[str, str]]
    meetings: tuple[int, int]
    segments: dict[tuple[int, int], int]  # (meeting index, position) → segment id

    def key_of(self, segment_id: int) -> tuple[int, int]:
        return next(k for k, v in self.segments.items() if v == segment_id)


def _meeting(client: TestClient, headers: dict[str, str], units_: list[str], day: str, title: str) -> int:
    body = {"title": title, "chair_unit": "IAPA", "units": units_, "starts_at": f"{day}T08:00:00+07:00"}
    r = client.post("/api/meetings", json=body, headers=headers)
    assert r.status_code == 201, r.text
    return int(r.json()["id"])


def build_corpus(client: TestClient) -> Corpus:
    db = client.app.state.db  # type: ignore[attr-defined]
    seed_accounts(client)
    tokens = {a.username: login_headers(client, a.username) for a in ACCOUNTS}
    m1 = _meeting(client, tokens["chair"], ["CHUMO", "CHURANG"], "2026-12-01", "Họp giao ban tháng 12")
    m2 = _meeting(client, tokens["chair"], ["IATUL"], "2026-12-10", "Họp về thủy lợi xã Ia Tul")
    segments: dict[tuple[int, int], int] = {}
    with db.session() as session:
        for index, (mid, rows) in enumerate(((m1, FIRST), (m2, SECOND))):
            ids = transcripts.store_segments(
                session,
                mid,
                [
                    SegmentInput(start_s=10.0 * i, end_s=10.0 * i + 8, text=text, unit_code=code, speaker=who)
                    for i, (code, who, text) in enumerate(rows)
                ],
            )
            segments.update({(index, i): sid for i, sid in enumerate(ids)})
    return Corpus(client, tokens, (m1, m2), segments)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Corpus]:
    with open_app(tmp_path_factory, "search") as client:
        yield build_corpus(client)


@pytest.fixture
def fresh(client: TestClient) -> Corpus:
    """A corpus of its own, for tests that change it."""
    return build_corpus(client)


def find(c: Corpus, q: str, user: str = "admin", **params: Any) -> list[dict[str, Any]]:
    r = c.client.get("/api/search", params={"q": q, **params}, headers=c.tokens[user])
    assert r.status_code == 200, r.text
    hits: list[dict[str, Any]] = r.json()["hits"]
    return hits


def keys(c: Corpus, hits: list[dict[str, Any]]) -> set[tuple[int, int]]:
    """The transcript lines found; a meeting's own row (its title, units, agenda: issue 18, tested in
    test_meetings_schedule.py) may be found beside them ("thủy lợi" is in a title here)."""
    lines = [h for h in hits if h["kind"] != "meeting"]
    assert all(h["kind"] == "segment" for h in lines), hits
    return {c.key_of(h["id"]) for h in lines}


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        # đ ↔ d
        ("Đề nghị", {(0, 2), (0, 6)}),
        ("de nghi", {(0, 2), (0, 6)}),
        ("dat dai", {(0, 2)}),
        # old and new tone placement, both directions
        ("hòa giải", {(0, 2)}),
        ("hoà giải", {(0, 2)}),
        ("thủy lợi", {(0, 1), (1, 0)}),
        ("thuỷ lợi", {(0, 1), (1, 0)}),
        ("Ủy ban", {(0, 0), (0, 6)}),
        ("Uỷ ban", {(0, 0), (0, 6)}),
        ("uy ban", {(0, 0), (0, 6)}),
        # decomposed (NFD) input, and an NFD document
        (unicodedata.normalize("NFD", "Kế hoạch"), {(0, 5)}),
        (unicodedata.normalize("NFD", "hộ nghèo"), {(0, 0), (1, 0)}),
        ("ke hoach", {(0, 5)}),
        # letters with two marks
        ("phấn khởi", {(0, 7)}),
        ("phan khoi", {(0, 7)}),
        ("triển khai", {(0, 7)}),
        # phrases and prefixes
        ('"Chư Mố rà soát"', {(0, 0)}),
        ('"rà soát Chư Mố"', set()),
        ('"chu mo ra soat"', {(0, 0)}),
        ("rà soá*", {(0, 0), (1, 0)}),
        ("nghè*", {(0, 0), (1, 0)}),
        ("15/5", {(0, 0)}),
        # FTS syntax is searched as text or dropped, never an error
        ('hộ nghèo" OR (', {(0, 0), (1, 0)}),
        ("hộ nghèo) AND (", {(0, 0), (1, 0)}),
        ("NEAR hộ nghèo", {(0, 0), (1, 0)}),
        ("chống* hạn:", {(0, 7)}),
        ("^Ia ^Tul", {(1, 0)}),
        ("giống -cây", {(0, 3), (0, 4)}),
        ("'Ia' Mrơn", {(0, 1)}),
    ],
)
def test_vietnamese_query_matrix(corpus: Corpus, query: str, expected: set[tuple[int, int]]) -> None:
    assert keys(corpus, find(corpus, query)) == expected


@pytest.mark.parametrize("query", ["", "   ", '"', "()", "***", "AND OR NOT", "^:", "NEAR"])
def test_empty_queries_are_422(corpus: Corpus, query: str) -> None:
    r = corpus.client.get("/api/search", params={"q": query}, headers=corpus.tokens["admin"])
    assert r.status_code == 422, r.text
    assert r.json()["error"]["code"] == "invalid_input"


def test_missing_query_and_bad_filters_are_422(corpus: Corpus) -> None:
    admin = corpus.tokens["admin"]
    for params in (
        {},
        {"q": "xã", "from": "01/12/2026"},
        {"q": "xã", "kind": "everything"},
        {"q": "xã", "limit": "0"},
        {"q": "xã", "from": "2026-12-10", "to": "2026-12-01"},
        {"q": "x" * 501},
    ):
        r = corpus.client.get("/api/search", params=params, headers=admin)
        assert r.status_code == 422, (params, r.text)
    assert corpus.client.get("/api/search", params={"q": "xã"}).status_code == 401


@pytest.mark.parametrize(
    "query",
    [
        '"',
        '""""',
        "*",
        "(((",
        ")",
        "a:b",
        "NEAR(a b, 2)",
        "x OR",
        "'; DROP TABLE search_docs; --",
        "\\",
        "\x00",
        "NEAR(hộ",
        "{a b}",
        "col : x",
        "a^b",
        "&|!",
        "<->",
        ":*",
        "%_",
        "\u0301\u0301",
    ],
)
def test_syntax_characters_never_500(corpus: Corpus, query: str) -> None:
    r = corpus.client.get("/api/search", params={"q": query}, headers=corpus.tokens["admin"])
    assert r.status_code in (200, 422), r.text
    assert find(corpus, "xã") != []  # the index is intact


def test_exact_diacritics_rank_first(corpus: Corpus) -> None:
    hits = find(corpus, "Đắk")
    assert [corpus.key_of(h["id"]) for h in hits] == [(0, 3), (0, 4)]
    assert [h["exact"] for h in hits] == [True, False]
    hits = find(corpus, "Dak")
    assert [corpus.key_of(h["id"]) for h in hits] == [(0, 4), (0, 3)]
    assert [h["exact"] for h in hits] == [True, False]
    old_style = find(corpus, "uỷ ban")
    assert all(h["exact"] for h in old_style) and len(old_style) == 2  # hoà/hòa spellings are both exact


def test_hits_carry_meeting_second_and_original_spelling(corpus: Corpus) -> None:
    (hit,) = find(corpus, "thuy loi", meeting=str(corpus.meetings[0]))
    assert hit["meeting_id"] == corpus.meetings[0] and hit["meeting_title"] == "Họp giao ban tháng 12"
    assert hit["start"] == 10.0 and hit["end"] == 18.0
    assert hit["unit"] == "CHURANG" and hit["speaker"] == "Lê Thị Bình" and hit["day"] == "2026-12-01"
    assert hit["snippet"] == "Công trình <mark>thuỷ lợi</mark> Ia Mrơn đã hoàn thành"
    (nfd,) = find(corpus, "ke hoach")
    assert nfd["snippet"] == "Phòng Tài chính - <mark>Kế hoạch</mark> cân đối nguồn vốn"
    (escaped,) = find(corpus, "khẩn")
    assert escaped["snippet"] == "Ghi chú: &lt;b&gt;<mark>khẩn</mark>&lt;/b&gt; &amp; gấp"
    (prefix,) = find(corpus, "Chư Mố rà soá*")
    assert prefix["snippet"] == ("Ủy ban nhân dân xã <mark>Chư Mố rà soát</mark> hộ nghèo trước ngày 15/5")


def test_filters(corpus: Corpus) -> None:
    m1, m2 = corpus.meetings
    assert keys(corpus, find(corpus, "hộ nghèo", meeting=str(m2))) == {(1, 0)}
    assert keys(corpus, find(corpus, "hộ nghèo", **{"from": "2026-12-05"})) == {(1, 0)}
    assert keys(corpus, find(corpus, "hộ nghèo", to="2026-12-01")) == {(0, 0)}
    assert keys(corpus, find(corpus, "hộ nghèo", **{"from": "2026-12-01", "to": "2026-12-10"})) == {
        (0, 0),
        (1, 0),
    }
    assert keys(corpus, find(corpus, "huyện", unit="CHURANG")) == {(0, 4)}
    assert keys(corpus, find(corpus, "huyện", speaker="nguyen van")) == {(0, 3)}
    assert keys(corpus, find(corpus, "thuy loi", speaker="Rơ Châm")) == {(1, 0)}
    assert find(corpus, "hộ nghèo", kind="minutes") == []
    assert keys(corpus, find(corpus, "hộ nghèo", kind="segment", meeting=str(m1))) == {(0, 0)}
    r = corpus.client.get(
        "/api/search", params={"q": "xã", "unit": "NOWHERE"}, headers=corpus.tokens["admin"]
    )
    assert r.status_code == 404


def test_limit_and_offset_page_through_the_same_order(corpus: Corpus) -> None:
    everything = find(corpus, "xã", limit="50")
    # five transcript lines, and both meetings (their invited units are "UBND xã …")
    assert sorted(h["kind"] for h in everything) == ["meeting"] * 2 + ["segment"] * 5
    pages = [
        (h["kind"], h["id"]) for off in range(0, 7, 2) for h in find(corpus, "xã", limit="2", offset=str(off))
    ]
    assert pages == [(h["kind"], h["id"]) for h in everything]


@pytest.mark.parametrize(
    ("user", "visible"),
    [
        ("admin", {(0, 0), (1, 0)}),
        ("chair", {(0, 0), (1, 0)}),
        ("viewer", {(0, 0), (1, 0)}),
        ("chumo", {(0, 0)}),
        ("chumo-chair", {(0, 0)}),
        ("iatul", {(1, 0)}),
        ("iatul-clerk", {(1, 0)}),
    ],
)
def test_members_find_only_meetings_of_their_unit(
    corpus: Corpus, user: str, visible: set[tuple[int, int]]
) -> None:
    assert keys(corpus, find(corpus, "rà soát", user=user)) == visible
    # a filter on a meeting the caller may not see finds nothing (and reveals nothing)
    other = corpus.meetings[1] if (1, 0) not in visible else corpus.meetings[0]
    if len(visible) == 1:
        assert find(corpus, "rà soát", user=user, meeting=str(other)) == []


def test_the_index_follows_edits_and_reruns(fresh: Corpus) -> None:
    c = fresh
    clerk = c.tokens["clerk"]
    sid = c.segments[(0, 1)]
    r = c.client.patch(f"/api/segments/{sid}", json={"text": "Công trình thủy điện Ia Mrơn"}, headers=clerk)
    assert r.status_code == 200, r.text
    assert keys(c, find(c, "thuy loi")) == {(1, 0)}
    (hit,) = find(c, "thủy điện")
    assert hit["id"] == sid and hit["snippet"] == "Công trình <mark>thủy điện</mark> Ia Mrơn"
    c.client.patch(f"/api/segments/{sid}", json={"speaker": "Kpă Thị Hoa"}, headers=clerk)
    assert keys(c, find(c, "thuy dien", speaker="kpa thi hoa")) == {(0, 1)}

    # a re-run of the transcription replaces the meeting's segments, in the index too
    db = c.client.app.state.db  # type: ignore[attr-defined]
    with db.session() as session:
        (new_id,) = transcripts.store_segments(
            session, c.meetings[0], [SegmentInput(0.0, 5.0, "Biên bản họp lại từ đầu", "CHUMO")]
        )
    assert find(c, "thủy điện") == [] and keys(c, find(c, "hộ nghèo")) == {(1, 0)}
    assert [h["id"] for h in find(c, "bien ban hop lai")] == [new_id]


def test_minutes_and_tasks_are_found_too(fresh: Corpus) -> None:
    c = fresh
    m1, m2 = c.meetings
    r = c.client.post(f"/api/meetings/{m1}/minutes", json={}, headers=c.tokens["clerk"])
    assert r.status_code == 201, r.text
    hits = find(c, "Chư Mố rà soát", kind="minutes")
    assert [(h["kind"], h["id"], h["meeting_id"], h["start"]) for h in hits] == [("minutes", m1, m1, None)]
    assert "<mark>Chư Mố</mark>" in hits[0]["snippet"]
    assert find(c, "Chư Mố rà soát", user="iatul", kind="minutes") == []

    db = c.client.app.state.db  # type: ignore[attr-defined]
    with db.session() as session:
        iapa, iatul = units.get_by_code(session, "IAPA"), units.get_by_code(session, "IATUL")
        task = Task(
            meeting_id=m2,
            assigning_unit_id=iapa.id,
            lead_unit_id=iatul.id,
            title="Nạo vét kênh mương thủy lợi nội đồng",
            description="Báo cáo kết quả trước ngày 30/12",
            assigned_on=dt.date(2026, 12, 10),
            deadline=dt.date(2026, 12, 30),
        )
        session.add(task)
        session.flush()
        search.index_task(session, task.id)
        task_id = task.id
    (hit,) = find(c, "nao vet", kind="task")
    assert (hit["kind"], hit["id"], hit["meeting_id"], hit["unit"]) == ("task", task_id, m2, "IATUL")
    assert hit["snippet"].startswith("<mark>Nạo vét</mark> kênh mương")
    assert [h["id"] for h in find(c, "nạo vét", user="iatul")] == [task_id]
    assert find(c, "nạo vét", user="chumo") == []
    with db.session() as session:
        session.delete(session.get(Task, task_id))
        session.flush()
        search.index_task(session, task_id)
    assert find(c, "nạo vét") == []
