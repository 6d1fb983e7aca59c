"""A request's transaction is committed before its response starts: a client that reads right after a
write sees it. (FastAPI closes a yield dependency of the default "request" scope only after the response is
sent; the task board, reloaded at once after "Nghiệm thu", showed the old state on PostgreSQL — issue 18.)"""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import func, select

from server.models import Meeting
from tests.conftest import Account, login_headers

MEETING = {
    "title": "Họp kiểm tra thứ tự ghi",
    "chair_unit": "IAPA",
    "units": ["CHUMO"],
    "starts_at": "2026-12-01T08:00:00+07:00",
}


def test_a_write_is_committed_before_the_response_starts(
    client: TestClient, seeded: dict[str, Account]
) -> None:
    app: Any = client.app
    db = app.state.db
    seen: list[int] = []

    async def spy_app(scope: Any, receive: Any, send: Any) -> None:
        async def spy(message: Any) -> None:
            if message["type"] == "http.response.start" and scope["method"] == "POST":
                with db.session() as session:  # another connection: sees only what was committed
                    seen.append(session.scalar(select(func.count()).select_from(Meeting)) or 0)
            await send(message)

        await app(scope, receive, spy)

    headers = login_headers(client, "chair")
    spied = TestClient(spy_app)
    for n in (1, 2):
        r = spied.post("/api/meetings", json={**MEETING, "title": f"{MEETING['title']} {n}"}, headers=headers)
        assert r.status_code == 201, r.text
    assert seen == [1, 2]
