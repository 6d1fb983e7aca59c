"""What the schemathesis probe found, pinned down through real HTTP: free text checked at the API boundary,
documents that render whatever a database row holds, ids beyond 64 bits, 405 with ``Allow``, and error
responses documented in OpenAPI with the house error shape."""

from __future__ import annotations

import io
from collections.abc import Iterator
from typing import Any

import docx
import pytest
from sqlalchemy import update

from server.models import Meeting
from server.services.inputs import MAX_DB_ID
from tests.conftest import World, open_world
from tests.server.test_minutes_api import held_meeting

MEETING: dict[str, Any] = {
    "title": "Họp giao ban tháng 12",
    "chair_unit": "IAPA",
    "units": ["CHUMO"],
    "starts_at": "2026-12-04T08:00:00+07:00",
}
TOO_BIG = MAX_DB_ID + 1  # one past the largest id a database row can have (INTEGER on PostgreSQL)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    with open_world(tmp_path_factory, "boundary") as w:
        yield w


def _meeting(world: World, **changes: Any) -> dict[str, Any]:
    r = world.client.post("/api/meetings", json={**MEETING, **changes}, headers=world.h("chair"))
    assert r.status_code == 201, r.text
    return dict(r.json())


def _refused(r: Any, message: str) -> None:
    assert r.status_code == 422, r.text
    body = r.json()
    assert body["error"]["code"] == "invalid_input"
    assert body["error"]["message"] == "Dữ liệu gửi lên không hợp lệ."
    assert message in [d["msg"] for d in body["error"]["details"]], body


BLANK = "Không được để trống."


@pytest.mark.parametrize(
    ("title", "message"),
    [
        ("   ", BLANK),
        ("\t\n ", BLANK),
        ("Họp\x01 kiểm tra", "Không được chứa ký tự điều khiển (U+0001)."),
        ("Họp\nhai dòng", "Không được chứa ký tự điều khiển (U+000A)."),
        ("Họp\x85 kiểm tra", "Không được chứa ký tự điều khiển (U+0085)."),
        ("Họp \ufffe", "Không được chứa ký tự điều khiển (U+FFFE)."),
        ("x" * 301, "Dài tối đa 300 ký tự."),
    ],
)
def test_meeting_titles_are_checked_at_the_boundary(world: World, title: str, message: str) -> None:
    chair = world.h("chair")
    _refused(world.client.post("/api/meetings", json={**MEETING, "title": title}, headers=chair), message)
    mid = _meeting(world)["id"]
    _refused(world.client.patch(f"/api/meetings/{mid}", json={"title": title}, headers=chair), message)
    agenda, agenda_message = (title, message) if len(title) <= 300 else ("x" * 501, "Dài tối đa 500 ký tự.")
    _refused(
        world.client.post("/api/meetings", json={**MEETING, "agenda": ["Báo cáo", agenda]}, headers=chair),
        agenda_message,
    )


def test_free_text_is_trimmed_and_multi_line_text_keeps_its_lines(world: World) -> None:
    client, chair = world.client, world.h("chair")
    m = _meeting(world, title="  Họp giao ban  ", agenda=[" Báo cáo "], place=" Hội trường ")
    assert (m["title"], m["agenda"][0]["title"], m["place"]) == ("Họp giao ban", "Báo cáo", "Hội trường")
    exactly = _meeting(world, title=" " + "x" * 300 + " ")  # the bound counts what is kept
    assert exactly["title"] == "x" * 300
    mid = m["id"]
    url = f"/api/meetings/{mid}/conclusions"
    r = client.post(url, json={"text": " Dòng một\r\n\tdòng hai "}, headers=chair)
    assert r.status_code == 201, r.text
    assert r.json()["text"] == "Dòng một\n\tdòng hai"
    _refused(
        client.post(url, json={"text": "Kết luận\x00"}, headers=chair),
        "Không được chứa ký tự điều khiển (U+0000).",
    )
    _refused(client.post(url, json={"text": " \n "}, headers=chair), BLANK)
    _refused(client.post("/api/tasks", json={"title": "  ", "lead_unit": "CHUMO"}, headers=chair), BLANK)
    generate = f"/api/meetings/{mid}/minutes"
    _refused(client.post(generate, json={"recipients": ["UBND xã\x07"]}, headers=world.h("clerk")),
             "Không được chứa ký tự điều khiển (U+0007).")  # fmt: skip


def test_unit_names_of_a_seed_file_are_checked(tmp_path: Any) -> None:
    from server.errors import InvalidInput
    from server.services.units import parse_tree_file

    path = tmp_path / "units.json"
    path.write_text('{"code": "X", "name": "  ", "kind": "huyện"}', encoding="utf-8")
    with pytest.raises(InvalidInput):
        parse_tree_file(path)
    path.write_text('{"code": "X", "name": " UBND huyện X ", "kind": "huyện"}', encoding="utf-8")
    assert parse_tree_file(path).name == "UBND huyện X"


@pytest.mark.parametrize(
    "stored_title",
    [
        "   ",  # blank: no summary line under "BIÊN BẢN"
        "Họp\x01\x0b kiểm tra \ufffe",  # characters XML cannot carry
        ("Họp giao ban " + "rất dài " * 60)[:300],  # 300 (the column), past DOCX's 255
    ],
)
def test_documents_render_whatever_the_database_holds(world: World, stored_title: str) -> None:
    """Rows written before the boundary checked them (or by a script) still export."""
    client, clerk = world.client, world.h("clerk")
    mid = held_meeting(client)
    with client.app.state.db.session() as session:  # type: ignore[attr-defined]
        session.execute(update(Meeting).where(Meeting.id == mid).values(title=stored_title))
    for kind in ("minutes", "notice"):
        assert client.post(f"/api/meetings/{mid}/{kind}", json={}, headers=clerk).status_code == 201
        pdf = client.get(f"/api/meetings/{mid}/{kind}.pdf", headers=clerk)
        assert pdf.status_code == 200, pdf.text
        assert pdf.content.startswith(b"%PDF")
        word = client.get(f"/api/meetings/{mid}/{kind}.docx", headers=clerk)
        assert word.status_code == 200, word.text
        properties = docx.Document(io.BytesIO(word.content)).core_properties
        assert 0 < len(properties.title) <= 255
        assert "\x01" not in properties.title


@pytest.mark.parametrize(
    "url",
    [
        f"/api/meetings/{TOO_BIG}",
        f"/api/meetings/{TOO_BIG}/minutes.pdf",
        f"/api/meetings/1/minutes/{TOO_BIG}",
        f"/api/tasks/{TOO_BIG}",
        f"/api/tasks?meeting={TOO_BIG}",
        f"/api/search?q=hạn&meeting={TOO_BIG}",
        f"/api/meetings/1/minutes.docx?version={TOO_BIG}",
        "/api/meetings/0",
        "/api/meetings/-1",
    ],
)
def test_ids_beyond_the_database_range_are_refused(world: World, url: str) -> None:
    r = world.client.get(url, headers=world.h("admin"))
    assert r.status_code == 422, r.text
    assert r.json()["error"]["code"] == "invalid_input"


def test_ids_in_bodies_beyond_the_database_range_are_refused(world: World) -> None:
    client, chair = world.client, world.h("chair")
    mid = _meeting(world)["id"]
    r = client.post(f"/api/meetings/{mid}/conclusions", json={"text": "Kết luận", "segment_ids": [TOO_BIG]},
                    headers=chair)  # fmt: skip
    assert r.status_code == 422, r.text
    r = client.post(
        "/api/tasks", json={"title": "Việc", "lead_unit": "CHUMO", "meeting_id": TOO_BIG}, headers=chair
    )
    assert r.status_code == 422, r.text
    largest = client.get(f"/api/meetings/{MAX_DB_ID}", headers=chair)
    assert largest.status_code == 404, largest.text
    beyond_sqlite = client.get(f"/api/meetings/{2**63}", headers=chair)  # past any 64-bit integer too
    assert beyond_sqlite.status_code == 422, beyond_sqlite.text


@pytest.mark.parametrize(
    ("method", "url", "allow"),
    [
        ("DELETE", "/api/meetings", "GET, POST"),
        ("PUT", "/api/meetings/1", "GET, PATCH"),
        ("DELETE", "/api/health", "GET"),
        ("PUT", "/api/meetings/1/minutes", "GET, POST"),
    ],
)
def test_method_not_allowed_names_the_allowed_ones(world: World, method: str, url: str, allow: str) -> None:
    r = world.client.request(method, url, headers=world.h("admin"))
    assert r.status_code == 405
    assert r.headers["allow"] == allow
    assert r.json()["error"]["code"] == "method_not_allowed"


def test_openapi_documents_every_error_with_the_house_shape(world: World) -> None:
    spec = world.client.get("/openapi.json").json()
    paths = spec["paths"]
    error = spec["components"]["schemas"]["ErrorOut"]
    assert set(error["properties"]) == {"error"}

    def codes(path: str, method: str) -> set[str]:
        return set(paths[path][method]["responses"])

    assert {"401", "403", "404", "409", "422"} <= codes("/api/meetings/{meeting_id}", "get")
    assert {"400", "401", "403", "404", "409", "413", "422"} <= codes("/api/meetings", "post")
    assert {"401", "413", "422", "429"} <= codes("/api/auth/login", "post")
    assert {"413", "415"} <= codes("/api/tasks/{task_id}/reports", "post")
    assert "503" in codes("/api/meetings/{meeting_id}/minutes.pdf", "get")
    assert "503" in codes("/api/health", "get")
    for path, operations in paths.items():
        for method, operation in operations.items():
            for code, response in operation["responses"].items():
                if code.startswith("4"):
                    schema = response["content"]["application/json"]["schema"]
                    assert schema == {"$ref": "#/components/schemas/ErrorOut"}, (method, path, code)
            for parameter in operation.get("parameters", []):
                if parameter["schema"].get("type") == "integer" or "anyOf" in parameter["schema"]:
                    bounded = [parameter["schema"], *parameter["schema"].get("anyOf", [])]
                    ints = [s for s in bounded if s.get("type") == "integer"]
                    assert all(s.get("maximum", 0) <= MAX_DB_ID for s in ints), (method, path, parameter)
                    assert all("maximum" in s for s in ints), (method, path, parameter)
    title = spec["components"]["schemas"]["MeetingCreate"]["properties"]["title"]
    assert (title["minLength"], title["maxLength"]) == (1, 300)


def test_a_full_name_with_a_control_character_is_refused(world: World) -> None:
    """A user's full name is printed under the signatures of the minutes: checked like other free text."""
    body = {"username": "ten-la", "password": "mat-khau-dai", "role": "member", "unit": "CHUMO"}
    admin = world.h("admin")
    r = world.client.post("/api/users", json={**body, "full_name": "Nguyễn\x07 Văn A"}, headers=admin)
    _refused(r, "Không được chứa ký tự điều khiển (U+0007).")
    r = world.client.post("/api/users", json={**body, "full_name": "  Nguyễn Văn A "}, headers=admin)
    assert r.status_code == 201, r.text

