"""The agenda in a live, recorded meeting: the chair moves through the items (``agenda_item``), each item's
start on the meeting clock is kept (a slip of the hand undone, a return keeping the first start), and the
composed MP4 has one chapter per item at those times (ffprobe ``-show_chapters``)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from recordings.manifest import read_manifest
from tests.server.live_harness import LiveServer, SocketClient
from tests.server.test_video_composition import probe, wait_camera, wait_composed
from tests.server.test_video_recording import MEETING, finished_tracks, start_recorded

# first pass only (tests/conftest.py): the store code it passes through runs on PostgreSQL in the API tests
pytestmark = [pytest.mark.e2e, pytest.mark.any_database]

ITEMS = ["Báo cáo tình hình tháng 11", "Kế hoạch tháng 12", "Ý kiến các xã"]
HELD_S = 12.0  # each item stays open this long (the slip threshold is 10 s)


def move(chair: SocketClient, item_id: int | None, timeout_s: float = 20) -> dict[str, Any]:
    """Send the move and return the ``agenda`` message that answers it (not an earlier one)."""
    before = len(chair.received)
    chair.send({"type": "agenda_item", "item_id": item_id})
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        for msg in chair.received[before:]:
            if msg["type"] == "agenda" and msg["current"] == item_id:
                return msg
        time.sleep(0.05)
    raise AssertionError(f"no agenda message for {item_id}: {chair.received[before:]}")


def starts(msg: dict[str, Any]) -> dict[str, float | None]:
    return {item["title"]: item["starts_at_s"] for item in msg["items"]}


def test_the_chairs_agenda_moves_are_the_chapters_of_the_composed_video(
    live: LiveServer, tmp_path: Path
) -> None:
    changed = live.api("PATCH", f"/api/meetings/{MEETING}", "chutri", json={"agenda": ITEMS})
    assert changed.status_code == 200, changed.text
    chair = start_recorded(live, "all")
    folder = live.data_dir / "recordings" / str(MEETING)
    welcome = chair.wait_for(lambda m: m["type"] == "welcome")
    assert [a["title"] for a in welcome["agenda"]] == ITEMS and welcome["agenda_current"] is None
    ids = {a["title"]: a["id"] for a in welcome["agenda"]}
    hall = live.bot(MEETING, "thuky", video=True, duration_s=300)  # a camera to compose, silent
    wait_camera(folder, "thuky")

    # a commune may not move the agenda; an unknown item is refused
    commune = SocketClient(live.ws_url(MEETING, live.token("chumo")))
    commune.wait_for(lambda m: m["type"] == "welcome")
    commune.send({"type": "agenda_item", "item_id": ids[ITEMS[0]]})
    assert commune.wait_for(lambda m: m["type"] == "error")["code"] == "forbidden"
    chair.send({"type": "agenda_item", "item_id": max(ids.values()) + 100})
    assert chair.wait_for(lambda m: m["type"] == "error")["code"] == "unknown_agenda_item"

    sent: dict[str, float] = {}  # when the test moved the meeting (monotonic), per item
    first = move(chair, ids[ITEMS[0]])
    sent[ITEMS[0]] = time.monotonic()
    assert commune.wait_for(lambda m: m["type"] == "agenda")["current"] == ids[ITEMS[0]]  # everyone is told
    time.sleep(HELD_S)
    slip = move(chair, ids[ITEMS[2]])  # a slip of the hand: the third item, left at once
    assert starts(slip)[ITEMS[2]] is not None
    second = move(chair, ids[ITEMS[1]])
    sent[ITEMS[1]] = time.monotonic()
    assert starts(second)[ITEMS[2]] is None, second  # the slip left no start
    time.sleep(HELD_S)
    third = move(chair, ids[ITEMS[2]])
    sent[ITEMS[2]] = time.monotonic()
    time.sleep(HELD_S)
    back = move(chair, ids[ITEMS[0]])  # a question on the first item again: its start stays
    time.sleep(2)
    kept = starts(back)
    assert kept[ITEMS[0]] == starts(first)[ITEMS[0]] and kept[ITEMS[1]] == starts(second)[ITEMS[1]]
    assert kept[ITEMS[2]] == starts(third)[ITEMS[2]]
    # the starts are on the meeting clock: as far apart as the moves were
    for a, b in zip(ITEMS, ITEMS[1:], strict=False):
        assert kept[b] - kept[a] == pytest.approx(sent[b] - sent[a], abs=1.5), (kept, sent)  # type: ignore[operator]
    read = live.api("GET", f"/api/meetings/{MEETING}", "chutri").json()
    assert {a["title"]: a["starts_at_s"] for a in read["agenda"]} == kept

    assert live.api("POST", f"/api/meetings/{MEETING}/end", "chutri").status_code == 200
    chair.close()
    commune.close()
    hall.kill()
    hall.wait()
    finished_tracks(live)
    wait_composed(live)
    video = tmp_path / "meeting.mp4"
    video.write_bytes(live.api("GET", f"/api/meetings/{MEETING}/video", "chutri").content)
    chapters = probe(video)["chapters"]
    manifest = read_manifest(folder)
    got = [(c["tags"]["title"], float(c["start_time"]), float(c["end_time"])) for c in chapters]
    assert [title for title, _, _ in got] == ["Khai mạc", *ITEMS], got
    for (title, start, end), (_, next_start, _) in zip(
        got, [*got[1:], ("", manifest.length_s, 0.0)], strict=True
    ):
        if title != "Khai mạc":
            assert start == pytest.approx(kept[title], abs=0.01), (got, kept)
        assert end == pytest.approx(next_start, abs=0.05), got
    assert got[0][1] == 0.0
