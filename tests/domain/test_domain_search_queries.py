"""Safe full-text queries (server.domain.vntext): FTS5 against a real SQLite, tsquery against PostgreSQL."""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterator

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from server.domain.vntext import (
    QUERY_KEYWORDS,
    EmptyQueryError,
    build_fts5_query,
    build_tsquery,
    canon,
    fold,
    parse_query,
    tokenize,
)

DOCUMENTS = [
    "Ủy ban nhân dân xã Chư Mố rà soát hộ nghèo trước ngày 15/5",
    "Phòng Tài chính - Kế hoạch cân đối nguồn vốn",
    "Công trình thuỷ lợi Ia Mrơn hoàn thành",
    "Đề nghị xã Ia Tul hoà giải tranh chấp đất đai",
    "Đắk Đoa và Dak Pơ",
    "Cộng hòa xã hội chủ nghĩa Việt Nam",
]

FTS_SYNTAX = list("\"*^:()-+{}[],.;!?\\'") + ["AND", "OR", "NOT", "NEAR", "NEAR(", " ", "hòa", "xã", "Chư Mố"]
TSQUERY_SYNTAX = list("&|!():*<>'\\\" -") + ["hòa", "đ", "AND", "<->", ":*", "<2>"]
#: Arbitrary strings built from query syntax, Vietnamese words and any Unicode character.
FTS_INPUT = st.lists(st.sampled_from(FTS_SYNTAX) | st.characters(), max_size=30).map("".join)
TSQUERY_INPUT = st.lists(
    st.sampled_from(TSQUERY_SYNTAX) | st.characters(codec="utf-8"),
    max_size=30,
).map("".join)


@pytest.fixture(scope="module")
def fts() -> Iterator[sqlite3.Connection]:
    db = sqlite3.connect(":memory:")
    db.execute(
        "CREATE VIRTUAL TABLE seg USING fts5(original UNINDEXED, canon, fold,"
        " tokenize = 'unicode61 remove_diacritics 0')"
    )
    db.executemany("INSERT INTO seg VALUES (?, ?, ?)", [(d, canon(d), fold(d)) for d in DOCUMENTS])
    yield db
    db.close()


def search(db: sqlite3.Connection, user_query: str) -> list[str]:
    q = build_fts5_query(user_query)
    rows = db.execute(
        "SELECT original FROM seg WHERE seg MATCH ? ORDER BY bm25(seg, 0, 4, 1)", (q.across("canon", "fold"),)
    ).fetchall()
    return [r[0] for r in rows]


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("uỷ ban", DOCUMENTS[0]),
        ("ủy ban", DOCUMENTS[0]),
        ("uy ban chu mo", DOCUMENTS[0]),
        ('"chư mố"', DOCUMENTS[0]),
        ("15/5", DOCUMENTS[0]),
        ("rà soá*", DOCUMENTS[0]),
        ("Tài chính-Kế hoạch", DOCUMENTS[1]),
        ("thủy lợi", DOCUMENTS[2]),
        ("thuy loi", DOCUMENTS[2]),
        ("hòa giải", DOCUMENTS[3]),
        ("cộng hoà", DOCUMENTS[5]),
    ],
)
def test_queries_find_old_new_and_unaccented_spellings(
    fts: sqlite3.Connection, query: str, expected: str
) -> None:
    assert search(fts, query) == [expected]


def test_exact_diacritics_rank_first(fts: sqlite3.Connection) -> None:
    # "Đắk" and "Dak" both fold to "dak"; the document holding the exact spelling twice in canon ranks first.
    hits = search(fts, "đắk")
    assert hits == [DOCUMENTS[4]]
    assert search(fts, "dak") == [DOCUMENTS[4]]


def test_phrase_requires_adjacent_words(fts: sqlite3.Connection) -> None:
    assert search(fts, '"xã Chư Mố"') == [DOCUMENTS[0]]
    assert search(fts, '"Mố Chư"') == []


def test_short_prefix_is_a_word(fts: sqlite3.Connection) -> None:
    assert parse_query("rà*").terms[0].prefix is False
    assert parse_query("ràs*").terms[0].prefix is True
    assert search(fts, "h*") == []


def test_syntax_is_dropped_or_quoted() -> None:
    q = build_fts5_query('hòa OR (bình NEAR "Chư Mố" ^ch*: NOT')
    assert q.canon == '"hòa" "bình" "Chư Mố" "ch"'
    assert q.fold == '"hoa" "binh" "chu mo" "ch"'
    t = build_tsquery('Uỷ ban soát* "Ia Tul"')
    assert t.canon == "'ủy' & 'ban' & 'soát':* & 'ia tul'"
    assert t.fold == "'uy' & 'ban' & 'soat':* & 'ia tul'"
    assert build_tsquery("o'neil a\\b").canon == "'o''neil' & 'a\\\\b'"


def test_multi_word_terms_carry_their_folded_phrase() -> None:
    # PostgreSQL narrows phrase candidates by their adjacent word pairs (migration 0004's giaoban_pairs).
    assert build_tsquery('"Công trình thuỷ lợi" hộ').phrases == ("cong trinh thuy loi",)
    assert build_tsquery("15/5 Đắk*").phrases == ("15 5",)
    assert build_tsquery("tài-chính-hoạc*").phrases == ("tai chinh",)  # the prefix word is left out
    assert build_tsquery("kế-hoạc*").phrases == ()
    assert build_tsquery("hộ nghèo").phrases == ()


def test_prefix_is_not_retoned() -> None:
    # "soá" alone would canon to "sóa" (open syllable); as a prefix of "soát" it must stay as typed.
    assert build_fts5_query("soá*").canon == '"soá" *'
    assert build_tsquery("soá*").canon == "'soá':*"


@pytest.mark.parametrize("query", ["", "   ", "\t\n", '""', "()", "***", "AND OR", '"', "^:"])
def test_blank_queries_raise(query: str) -> None:
    with pytest.raises(EmptyQueryError):
        build_fts5_query(query)
    with pytest.raises(EmptyQueryError):
        build_tsquery(query)


def _only_keywords(text: str) -> bool:
    return all(word in QUERY_KEYWORDS for word in tokenize(text))


@settings(max_examples=600, deadline=None)
@given(FTS_INPUT)
def test_any_input_gives_a_valid_fts5_expression(fts: sqlite3.Connection, text: str) -> None:
    try:
        q = build_fts5_query(text)
    except EmptyQueryError:
        assert _only_keywords(text)
        return
    for expression in (q.canon, q.fold, q.across("canon", "fold")):
        # Raises sqlite3.OperationalError on a malformed expression.
        fts.execute("SELECT count(*) FROM seg WHERE seg MATCH ?", (expression,)).fetchone()


def test_surrogates_and_controls_never_reach_the_expression(fts: sqlite3.Connection) -> None:
    q = build_fts5_query("hoà\ud800\x00\u202e bình")
    assert q.canon == '"hòa" "bình"'
    fts.execute("SELECT count(*) FROM seg WHERE seg MATCH ?", (q.canon,)).fetchone()


def test_across_rejects_odd_column_names() -> None:
    with pytest.raises(ValueError):
        build_fts5_query("hòa").across("canon) OR (x", "fold")


# Set for the PostgreSQL run (scripts/test deselects the `pg` marker when it is not).
PG_URL = os.environ.get("GIAOBAN_TEST_DATABASE_URL", "").replace("postgresql+psycopg://", "postgresql://")


@pytest.fixture(scope="module")
def pg() -> Iterator[object]:
    import psycopg

    conn = psycopg.connect(PG_URL, autocommit=True, connect_timeout=5)
    yield conn
    conn.close()


@pytest.mark.pg
def test_tsquery_matches_in_postgresql(pg: object) -> None:
    import psycopg

    assert isinstance(pg, psycopg.Connection)
    doc = canon(DOCUMENTS[0])
    for user_query, expected in [
        ("ủy ban", True),
        ("uỷ ban", True),
        ('"xã Chư Mố"', True),
        ('"Mố Chư"', False),
        ("rà soá*", True),
        ("hòa", False),
    ]:
        q = build_tsquery(user_query)
        row = pg.execute(
            "SELECT to_tsvector('simple', %s) @@ to_tsquery('simple', %s),"
            " to_tsvector('simple', %s) @@ to_tsquery('simple', %s)",
            (doc, q.canon, fold(doc), q.fold),
        ).fetchone()
        assert row == (expected, expected), user_query


@pytest.mark.pg
@settings(max_examples=200, deadline=None)
@given(TSQUERY_INPUT)
def test_any_input_gives_a_valid_tsquery(pg: object, text: str) -> None:
    import psycopg

    assert isinstance(pg, psycopg.Connection)
    try:
        q = build_tsquery(text)
    except EmptyQueryError:
        assert _only_keywords(text)
        return
    # Raises psycopg.errors.SyntaxError on a malformed tsquery.
    pg.execute("SELECT to_tsquery('simple', %s), to_tsquery('simple', %s)", (q.canon, q.fold)).fetchone()
