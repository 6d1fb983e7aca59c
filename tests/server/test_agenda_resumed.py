"""A meeting resumed after its server was killed goes on at the agenda item the chair had opened: the starts
written in the room survive the kill (they are in the database), the resumed room's welcome says which item
the meeting is on, and moving on from it keeps its start. One `giaoban serve --demo` killed with SIGKILL and
started again on the same data dir and database."""

from __future__ import annotations

import signal
import time
from pathlib import Path

import pytest

from server.live.agenda import SLIP_S
from tests.server.live_harness import LiveServer, SocketClient

pytestmark = pytest.mark.e2e

MEETING = 1  # the demo meeting, with three agenda items


def test_a_resumed_meeting_goes_on_at_the_open_agenda_item(tmp_path: Path, database_url: str | None) -> None:
    server = LiveServer(
        tmp_path / "data", database_url, extra_env={"GIAOBAN_WORKER_IN_PROCESS": "false"}
    ).start()
    creds = dict(server.creds)
    try:
        assert server.api("POST", f"/api/meetings/{MEETING}/start", "chutri").status_code == 200
        chair = SocketClient(server.ws_url(MEETING, server.token("chutri")))
        welcome = chair.wait_for(lambda m: m["type"] == "welcome")
        first, second, third = (a["id"] for a in welcome["agenda"])
        chair.send({"type": "agenda_item", "item_id": second})
        opened = chair.wait_for(lambda m: m["type"] == "agenda" and m["current"] == second)
        start = next(a["starts_at_s"] for a in opened["items"] if a["id"] == second)
        assert start is not None
        server.stop(signal.SIGKILL)
        chair.close()

        server.start(demo=False)
        server.creds = creds
        assert server.api("GET", f"/api/meetings/{MEETING}", "chutri").json()["status"] == "interrupted"
        assert server.api("POST", f"/api/meetings/{MEETING}/start", "chutri").status_code == 200
        chair = SocketClient(server.ws_url(MEETING, server.token("chutri")))
        welcome = chair.wait_for(lambda m: m["type"] == "welcome")
        assert welcome["agenda_current"] == second, welcome["agenda"]
        assert {a["id"]: a["starts_at_s"] for a in welcome["agenda"]} == {
            first: None,
            second: start,
            third: None,
        }
        time.sleep(
            SLIP_S + 1
        )  # the item is discussed (an item left sooner is taken as a slip and loses its start)
        chair.send({"type": "agenda_item", "item_id": third})
        moved = chair.wait_for(lambda m: m["type"] == "agenda" and m["current"] == third)
        starts = {a["id"]: a["starts_at_s"] for a in moved["items"]}
        assert starts[second] == start and starts[third] is not None and starts[third] > start, starts
        chair.close()
    finally:
        server.stop()
