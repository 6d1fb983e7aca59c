"""Three `giaoban serve` processes and a `giaoban worker` on one PostgreSQL and one Redis form one site
(issue 17, parts 2 and 3): meetings are placed on different nodes, a bot's socket reaching the wrong process
is redirected to the meeting's node, and when that node is killed (SIGKILL) mid-meeting the bots reconnect on
their own, the meeting is resumed on a healthy node and its recording keeps the tracks from before the kill
and adds new ones after, on the same meeting clock; the mixed file and the tracks are served by any process.

The topology of docker-compose.yml, on this machine. Runs in the PostgreSQL pass (marker ``pg``; Redis
database 13, see tests/server/site_harness.py)."""

from __future__ import annotations

import json
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import av
import pytest

from recordings.manifest import read_manifest
from tests.server.live_harness import LiveServer, SocketClient, wait_bots
from tests.server.site_harness import Site, running_site
from tests.speech import spoken

pytestmark = [pytest.mark.pg, pytest.mark.e2e, pytest.mark.slow]

DEMO_MEETING = 1  # giaoban serve --demo: UBND huyện Ia Pa with its nine communes
SPEECH_KEYS = ("GB01", "GB02", "GB03", "GB04", "GB05", "GB06")  # ≈ 25 s of synthesised giao ban speech
BOT_S = 45.0
MEDIA_BEFORE_KILL_S = 8.0
LOST_AT_KILL_S = 2.0  # at most what a killed process held in memory (Ogg pages of 0.5 s not yet written)


@pytest.fixture
def site(tmp_path: Path, database_url: str | None) -> Iterator[Site]:
    with running_site(tmp_path, database_url, nodes=3, worker=True) as s:
        yield s


def new_meeting(node: LiveServer) -> int:
    body = {
        "title": "Giao ban phòng Nông nghiệp",
        "chair_unit": "IAPA",
        "units": ["CHUMO", "POTO"],
        "starts_at": "2026-12-01T08:00:00+07:00",
        "record": True,
    }
    r = node.api("POST", "/api/meetings", "chutri", json=body)
    assert r.status_code == 201, r.text
    return int(r.json()["id"])


def wait_until(predicate: Any, timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)


def audio_tracks(node: LiveServer, meeting_id: int, username: str) -> tuple[str, list[dict[str, Any]]]:
    got = node.api("GET", f"/api/meetings/{meeting_id}/recording/tracks", "chutri").json()
    tracks = [t for t in got["tracks"] if t["username"] == username and t.get("kind", "audio") == "audio"]
    return got["status"], sorted(tracks, key=lambda t: t["start_s"])


def test_three_nodes_place_redirect_and_carry_a_meeting_over_a_killed_node(
    site: Site, tmp_path: Path
) -> None:
    first = site.nodes[0]
    meetings = [DEMO_MEETING, new_meeting(first), new_meeting(first)]
    for mid in meetings:  # every start goes through the first process
        r = first.api("POST", f"/api/meetings/{mid}/start", "chutri")
        assert r.status_code == 200, r.text
    holders = {mid: site.holder(mid) for mid in meetings}
    # three meetings on three idle nodes: the least-loaded placement puts one on each
    assert len({h.port for h in holders.values()}) == 3, {m: h.port for m, h in holders.items()}

    holder = holders[DEMO_MEETING]
    entry = next(n for n in site.nodes if n is not holder)  # the bots' --server: not the meeting's node
    speech = spoken(SPEECH_KEYS)
    chair = entry.bot(DEMO_MEETING, "chutri", play=speech, duration_s=BOT_S, stats=tmp_path / "chair.json")
    commune = entry.bot(DEMO_MEETING, "chumo", duration_s=BOT_S, stats=tmp_path / "commune.json")
    wait_until(lambda: site.participants_on(holder) == 2, 60, "both bots on the meeting's node")
    time.sleep(MEDIA_BEFORE_KILL_S)

    assert holder.proc is not None
    killed_at = time.time()
    holder.stop(signal.SIGKILL)
    survivors = [n for n in site.nodes if n is not holder]

    def back() -> bool:
        node = site.holder_or_none(DEMO_MEETING)
        return node is not None and node is not holder and site.participants_on(node) == 2

    wait_until(back, 60, "both bots back in the meeting, on another node")
    failover_s = time.time() - killed_at
    resumed_on = site.holder(DEMO_MEETING)
    assert resumed_on in survivors
    print(
        f"\nmeeting {DEMO_MEETING}: node :{holder.port} killed, resumed on :{resumed_on.port}, "
        f"both bots back after {failover_s:.1f} s"
    )

    outputs = wait_bots(chair, commune, timeout_s=BOT_S + 90)
    for out in outputs:
        assert "đã kết nối lại" in out, out
    chair_stats = json.loads((tmp_path / "chair.json").read_text(encoding="utf-8"))
    commune_stats = json.loads((tmp_path / "commune.json").read_text(encoding="utf-8"))
    before, *after = commune_stats["sessions"]
    # the socket opened on the entry process was redirected to the meeting's node
    assert before["url"] == f"ws://127.0.0.1:{holder.port}/ws/meetings/{DEMO_MEETING}"
    assert chair_stats["sessions"][0]["url"] == before["url"]
    assert after and after[-1]["url"] == f"ws://127.0.0.1:{resumed_on.port}/ws/meetings/{DEMO_MEETING}"

    def heard(session: dict[str, Any]) -> int:
        return sum(p["audio_frames"] for p in session["participants"] if p["username"] == "chutri")

    # the commune heard the chair before the kill and again after it (20 ms frames: 100 = 2 s)
    assert heard(before) > 100 and heard(after[-1]) > 100, commune_stats["sessions"]

    # ended through another survivor than the one holding it: the holder closes it within a heartbeat
    other = next(n for n in survivors if n is not resumed_on)
    assert other.api("POST", f"/api/meetings/{DEMO_MEETING}/end", "chutri").status_code == 200
    wait_until(lambda: audio_tracks(other, DEMO_MEETING, "chutri")[0] == "finished", 90, "the recording")

    status, tracks = audio_tracks(other, DEMO_MEETING, "chutri")
    assert len(tracks) >= 2, tracks
    pre, post = tracks[0], tracks[-1]
    manifest = read_manifest(first.data_dir / "recordings" / str(DEMO_MEETING))
    kill_clock_s = killed_at - manifest.started_at.timestamp()
    # nothing recorded before the kill is lost: the first track runs up to the kill, and the recording goes on
    # in new files on the same meeting clock after it
    assert pre["end_s"] >= kill_clock_s - LOST_AT_KILL_S, (pre, kill_clock_s)
    assert pre["end_s"] - pre["start_s"] >= MEDIA_BEFORE_KILL_S - LOST_AT_KILL_S, pre
    assert post["start_s"] > kill_clock_s and post["end_s"] - post["start_s"] > 2.0, (post, kill_clock_s)
    assert post["previous_track_key"] in {t["track_key"] for t in tracks[:-1]}
    for t in (pre, post):  # each file is served by any process, whole (its hash as recorded)
        for node in survivors:
            got = node.api("GET", f"/api/meetings/{DEMO_MEETING}/recording/tracks/{t['track_key']}", "chutri")
            assert got.status_code == 200 and len(got.content) == t["size_bytes"]
    mix = other.api("GET", f"/api/meetings/{DEMO_MEETING}/recording", "chutri")
    assert mix.status_code == 200 and mix.headers["content-type"] == "audio/ogg"
    mix_path = tmp_path / "mix.ogg"
    mix_path.write_bytes(mix.content)
    with av.open(str(mix_path)) as container:
        mix_s = float(container.duration or 0) / 1_000_000
    assert mix_s >= post["end_s"] - 1.0, (mix_s, post)
    print(
        f"chair's tracks: {[(t['start_s'], t['end_s']) for t in tracks]}; killed at {kill_clock_s:.2f} s "
        f"on the meeting clock; mix {mix_s:.1f} s"
    )

    # the finished recording reached the worker through the Redis queue
    def transcription_taken() -> bool:
        got = other.api("GET", f"/api/meetings/{DEMO_MEETING}/transcript", "chutri")
        return got.status_code == 200 and got.json()["status"] not in (None, "queued")

    wait_until(transcription_taken, 90, "the worker to take the transcription job")
    for mid in meetings[1:]:
        assert other.api("POST", f"/api/meetings/{mid}/end", "chutri").status_code == 200


def open_socket(node: LiveServer, meeting_id: int, token: str) -> tuple[SocketClient, dict[str, Any]]:
    """A signaling socket opened on ``node`` as the web client opens it: a ``redirect`` (close 4307) is
    followed to the meeting's node. Returns the socket and its welcome."""
    url = node.ws_url(meeting_id, token)
    for _ in range(3):
        sock = SocketClient(url)
        first = sock.wait_for(lambda msg: True, timeout_s=30)
        if first["type"] == "welcome":
            return sock, first
        sock.wait_closed()
        sock.close()
        assert first["type"] == "redirect", first
        url = f"{first['url']}?token={token}"
    raise AssertionError("redirected too many times")


def chat_from(sock: SocketClient, unit: str) -> dict[str, Any]:
    return sock.wait_for(lambda x: x["type"] == "chat" and x["message"]["unit"] == unit)["message"]


def test_the_floor_and_the_chat_survive_the_meeting_node_killed(
    tmp_path: Path, database_url: str | None
) -> None:
    """The chair gives the floor to Chư Mố (a real bot: it asks for the floor, then speaks), Pờ Tó raises its
    hand, chat lines are sent; the meeting's node is killed (SIGKILL). On the node that resumes the meeting
    the chair's new welcome has the same floor holder, floor control and chat lines; the bot, reconnecting
    on its own, opens its microphone again without asking (the floor is still its own), and Pờ Tó's hand is
    raised again when it comes back."""
    with running_site(tmp_path, database_url, nodes=2, worker=False) as site:
        first = site.nodes[0]
        assert first.api("POST", f"/api/meetings/{DEMO_MEETING}/start", "chutri").status_code == 200
        holder = site.holder(DEMO_MEETING)
        entry = next(n for n in site.nodes if n is not holder)
        tokens = {name: first.token(name) for name in ("chutri", "poto")}
        chair, welcome = open_socket(entry, DEMO_MEETING, tokens["chutri"])
        poto, _ = open_socket(entry, DEMO_MEETING, tokens["poto"])
        bot = entry.bot(DEMO_MEETING, "chumo", duration_s=60)
        try:
            asked = chair.wait_for(
                lambda x: (
                    x["type"] == "participant_updated"
                    and x["participant"]["username"] == "chumo"
                    and x["participant"]["hand_raised"]
                ),
                timeout_s=60,
            )
            chumo_id = asked["participant"]["id"]
            chair.send({"type": "give_floor", "participant_id": chumo_id})
            chair.wait_for(
                lambda x: (
                    x["type"] == "participant_updated"
                    and x["participant"]["id"] == chumo_id
                    and not x["participant"]["audio_muted"]
                )
            )  # the bot opened its microphone
            poto.send({"type": "raise_hand", "raised": True})
            chair.send({"type": "chat", "text": "Mời xã Chư Mố báo cáo tình hình gieo trồng."})
            poto.send({"type": "chat", "text": "Xã Pờ Tó xin phát biểu sau Chư Mố."})
            lines = [chat_from(chair, unit) for unit in ("IAPA", "POTO")]
            chair.wait_for(
                lambda x: (
                    x["type"] == "participant_updated"
                    and x["participant"]["username"] == "poto"
                    and x["participant"]["hand_raised"]
                )
            )
            time.sleep(1.0)  # the floor is written off the event loop after each change

            assert holder.proc is not None
            holder.stop(signal.SIGKILL)
            assert chair.wait_closed(30) is not None and poto.wait_closed(30) is not None
            chair.close()
            poto.close()
            survivor = entry

            def bot_back() -> bool:
                return site.holder_or_none(DEMO_MEETING) is survivor and site.participants_on(survivor) >= 1

            wait_until(bot_back, 60, "the bot back in the meeting on the surviving node")
            chair, welcome = open_socket(entry, DEMO_MEETING, tokens["chutri"])
            assert welcome["floor"] == chumo_id and welcome["floor_control"] is True
            assert welcome["chat"] == lines, (welcome["chat"], lines)

            def speaking(p: dict[str, Any]) -> bool:
                return p["id"] == chumo_id and not p["server_muted"] and not p["audio_muted"]

            # the bot said mute:false on rejoining and it was accepted: still the floor holder, mic open
            if not any(speaking(p) for p in welcome["participants"]):
                chair.wait_for(
                    lambda x: (
                        x["type"] in ("participant_joined", "participant_updated")
                        and speaking(x["participant"])
                    ),
                    timeout_s=30,
                )
            poto, poto_welcome = open_socket(entry, DEMO_MEETING, tokens["poto"])
            assert poto_welcome["you"]["hand_raised"] is True and poto_welcome["you"]["server_muted"] is True
            assert poto_welcome["chat"] == lines and poto_welcome["floor"] == chumo_id
            chumo_now = next(p for p in poto_welcome["participants"] if p["id"] == chumo_id)
            assert not chumo_now["hand_raised"], chumo_now  # it never had to ask again
            chair.close()
            poto.close()
        finally:
            bot.kill()
            bot.wait()
        assert entry.api("POST", f"/api/meetings/{DEMO_MEETING}/end", "chutri").status_code == 200
