"""A live meeting end to end: `giaoban serve` in a subprocess, `giaoban bot` participants in others (real
aiortc peers over 127.0.0.1), the chair's panel over the signaling socket, the recording on disk."""

from __future__ import annotations

import signal
import time
from pathlib import Path

import av
import pytest

from tests.audio import pcm, speech_span_s, waveform_correlation
from tests.server.live_harness import LiveServer, SocketClient, read_stats, wait_bots
from tests.speech import shippable_utterance

pytestmark = pytest.mark.e2e

SPEECH = "GB01"  # tests/speech.py: synthesised sentences, 3.7 s and 4.4 s
SPEECH_2 = "GB05"


def wav(key: str) -> Path:
    return shippable_utterance(key).path


MEETING = 1  # the demo meeting: UBND huyện Ia Pa with its nine communes


def start_with_open_floor(live: LiveServer) -> SocketClient:
    assert live.api("POST", f"/api/meetings/{MEETING}/start", "chutri").status_code == 200
    chair = SocketClient(live.ws_url(MEETING, live.token("chutri")))
    chair.wait_for(lambda m: m["type"] == "welcome")
    chair.send({"type": "floor_control", "enabled": False})
    chair.wait_for(lambda m: m["type"] == "floor_control")
    return chair


def test_bots_see_and_hear_each_other_and_the_meeting_is_recorded(live: LiveServer, tmp_path: Path) -> None:
    chair = start_with_open_floor(live)
    a = live.bot(MEETING, "chumo", play=wav(SPEECH), video=True, duration_s=9, stats=tmp_path / "a.json")
    b = live.bot(MEETING, "poto", video=True, duration_s=9, stats=tmp_path / "b.json")
    time.sleep(3)
    late = live.bot(MEETING, "iatul", video=True, duration_s=5, stats=tmp_path / "late.json")
    outputs = wait_bots(a, b, late)
    # chumo spoke (the WAV): the chair's panel was told who the active speaker is
    chumo_id = next(
        m["participant"]["id"]
        for m in chair.received
        if m["type"] == "participant_joined" and m["participant"]["username"] == "chumo"
    )
    assert any(m["type"] == "active_speaker" and m["participant_id"] == chumo_id for m in chair.received)
    # every bot's summary (one line per other participant) reports 0 frames its decoders rejected
    summaries = [line for out in outputs for line in out.splitlines() if "lỗi giải mã" in line]
    assert len(summaries) == 6 and all(line.endswith("lỗi giải mã 0") for line in summaries), outputs
    chair.send({"type": "ping"})
    chair.wait_for(lambda m: m["type"] == "pong")

    got_a, got_b, got_late = (read_stats(tmp_path / f) for f in ("a.json", "b.json", "late.json"))
    # each bot decoded the others' audio and video (frames counted after decoding)
    assert got_b["chumo"]["unit"] == "CHUMO" and got_b["chumo"]["video_frames"] > 30
    # the sentence lasts 3.7 s (≈ 187 frames of 20 ms): most of it arrives, decoded
    assert got_b["chumo"]["audio_frames"] > 100
    # poto's microphone sends silence: not forwarded to anyone (audio selection), but recorded (below)
    assert got_a["poto"]["video_frames"] > 30 and got_a["poto"]["audio_frames"] == 0
    # a late joiner gets video within 2 s (the server asks the publishers for a keyframe)
    for who in ("chumo", "poto"):
        assert got_late[who]["video_frames"] > 10
        assert got_late[who]["first_video_ms"] is not None and got_late[who]["first_video_ms"] < 2000

    ended = live.api("POST", f"/api/meetings/{MEETING}/end", "chutri")
    assert ended.status_code == 200 and ended.json()["status"] == "ended"
    assert chair.wait_closed() == 4000
    # the recording: per-track files and one mixed playback file, served with ranges
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        info = live.api("GET", f"/api/meetings/{MEETING}/recording/tracks", "chutri").json()
        if info["status"] == "finished":
            break
        time.sleep(0.5)
    assert info["status"] == "finished", info
    by_user = {t["username"]: t for t in info["tracks"]}
    assert {"chumo", "poto", "iatul"} <= set(by_user)
    track = live.api(
        "GET", f"/api/meetings/{MEETING}/recording/tracks/{by_user['chumo']['track_key']}", "chumo"
    )
    assert track.status_code == 200
    rec_path = tmp_path / "chumo.ogg"
    rec_path.write_bytes(track.content)
    recorded, source = pcm(rec_path), pcm(wav(SPEECH))
    # the speech in the recorded track lasts as long as in the source
    assert abs(speech_span_s(recorded) - speech_span_s(source)) < 0.1
    # and has the same waveform (Opus at 48 kHz, compared at 16 kHz after alignment)
    assert waveform_correlation(recorded, source) > 0.8
    # another commune may not download chumo's track; the mixed file plays with HTTP ranges
    assert (
        live.api(
            "GET", f"/api/meetings/{MEETING}/recording/tracks/{by_user['chumo']['track_key']}", "poto"
        ).status_code
        == 403
    )
    assert (
        live.api(
            "GET", f"/api/meetings/{MEETING}/recording/tracks/..%2F..%2Fgiaoban.sqlite3", "chutri"
        ).status_code
        == 404
    )
    mix = live.api("GET", f"/api/meetings/{MEETING}/recording", "poto", headers={"Range": "bytes=0-99"})
    assert mix.status_code == 206 and len(mix.content) == 100 and mix.headers["content-type"] == "audio/ogg"
    full = live.api("GET", f"/api/meetings/{MEETING}/recording", "poto")
    mix_path = tmp_path / "mix.ogg"
    mix_path.write_bytes(full.content)
    meeting = ended.json()
    from datetime import datetime

    length = datetime.fromisoformat(meeting["ended_at"]) - datetime.fromisoformat(meeting["started_at"])
    with av.open(str(mix_path)) as c:
        mix_s = float(c.duration or 0) / 1e6
    assert abs(mix_s - length.total_seconds()) < 0.5, (mix_s, length)
    chair.close()


@pytest.mark.any_database  # forwarding and signaling: the same on either store
def test_last_n_keeps_the_chairs_hall_and_the_floor_on_every_screen(
    tmp_path: Path, database_url: str | None
) -> None:
    # two videos per viewer: the chair's hall (the clerk's camera at Ia Pa) and the commune given the floor
    # stay on the screens even while a third commune speaks (a recent speaker outranks join order, not them)
    live = LiveServer(tmp_path / "data", database_url, extra_env={"GIAOBAN_LAST_N": "2"}).start()
    try:
        chair = start_with_open_floor(live)
        hall = live.bot(MEETING, "thuky", video=True, duration_s=14)
        floor = live.bot(MEETING, "poto", video=True, duration_s=14)
        poto = chair.wait_for(
            lambda m: m["type"] == "participant_joined" and m["participant"]["username"] == "poto"
        )
        chair.send({"type": "give_floor", "participant_id": poto["participant"]["id"]})
        chair.wait_for(lambda m: m["type"] == "floor" and m["participant_id"] == poto["participant"]["id"])
        viewer = live.bot(MEETING, "iatul", video=True, duration_s=9, stats=tmp_path / "v.json")
        time.sleep(2)
        speaker = live.bot(MEETING, "chumo", play=wav(SPEECH), video=True, duration_s=6)
        wait_bots(hall, floor, viewer, speaker)
        seen = read_stats(tmp_path / "v.json")
        assert seen["thuky"]["video_frames"] > 100 and seen["poto"]["video_frames"] > 100, seen
        assert seen["chumo"]["video_frames"] == 0 and seen["chumo"]["audio_frames"] > 100, seen
        chair.close()
    finally:
        live.stop()


@pytest.mark.any_database  # forwarding and signaling: the same on either store
def test_chair_mute_stops_forwarded_audio(live: LiveServer, tmp_path: Path) -> None:
    chair = start_with_open_floor(live)
    speaker = live.bot(MEETING, "chumo", play=wav(SPEECH_2), duration_s=10, stats=tmp_path / "s.json")
    listener = live.bot(MEETING, "poto", duration_s=10, stats=tmp_path / "l.json")
    joined = chair.wait_for(
        lambda m: m["type"] == "participant_joined" and m["participant"]["username"] == "chumo"
    )
    time.sleep(3)
    chair.send({"type": "mute_participant", "participant_id": joined["participant"]["id"]})
    muted = chair.wait_for(
        lambda m: (
            m["type"] == "participant_updated"
            and m["participant"]["username"] == "chumo"
            and m["participant"]["server_muted"]
        )
    )
    assert muted["participant"]["audio_muted"]
    wait_bots(speaker, listener)
    heard = read_stats(tmp_path / "l.json")["chumo"]["audio_frames"]
    # ~3-4 s of the ~9 s the speaker was connected were forwarded: well under what an open microphone gives
    assert 50 < heard < 300, heard
    chair.close()


def test_roll_call_over_the_socket_and_attendance(live: LiveServer, tmp_path: Path) -> None:
    chair = start_with_open_floor(live)
    bot = live.bot(MEETING, "kimtan", duration_s=4)
    chair.wait_for(
        lambda m: (
            m["type"] == "roll_call"
            and any(e["unit"] == "KIMTAN" and e["status"] == "present_online" for e in m["entries"])
        )
    )
    chair.send({"type": "roll_call", "unit": "POTO", "status": "absent", "reason": "Mất điện lưới"})
    chair.send({"type": "roll_call", "unit": "IATUL", "status": "present_in_person"})
    update = chair.wait_for(
        lambda m: (
            m["type"] == "roll_call"
            and any(e["unit"] == "IATUL" and e["status"] == "present_in_person" for e in m["entries"])
        )
    )
    poto = next(e for e in update["entries"] if e["unit"] == "POTO")
    assert poto["status"] == "absent" and poto["reason"] == "Mất điện lưới" and poto["status_at"]
    wait_bots(bot)
    left = chair.wait_for(lambda m: m["type"] == "participant_left")
    assert left["reason"] in ("left", "disconnected")
    attendance = live.api("GET", f"/api/meetings/{MEETING}/attendance", "chutri").json()
    kimtan = [a for a in attendance if a["username"] == "kimtan"]
    assert len(kimtan) == 1 and kimtan[0]["left_at"] is not None
    meeting = live.api("GET", f"/api/meetings/{MEETING}", "chutri").json()
    assert {e["unit"]: e["status"] for e in meeting["roll_call"]}["KIMTAN"] == "present_online"
    # a commune cannot take the roll-call
    member = SocketClient(live.ws_url(MEETING, live.token("chumo")))
    member.wait_for(lambda m: m["type"] == "welcome")
    member.send({"type": "roll_call", "unit": "POTO", "status": "present_online"})
    err = member.wait_for(lambda m: m["type"] == "error")
    assert err["code"] == "forbidden"
    member.close()
    # the chair's own mistakes get an error and the panel stays connected: absent needs a reason, and only
    # invited units are called
    chair.send({"type": "roll_call", "unit": "IATUL", "status": "absent"})
    err = chair.wait_for(lambda m: m["type"] == "error")
    assert err["code"] == "invalid_input" and "lý do" in err["message"]
    chair.send({"type": "roll_call", "unit": "KHONGCO", "status": "present_online"})
    err = chair.wait_for(lambda m: m["type"] == "error" and m["code"] != "invalid_input")
    assert err["code"] == "not_found" and "KHONGCO" in err["message"]
    chair.send({"type": "roll_call", "unit": "IATUL", "status": "absent", "reason": "Đi công tác"})
    update = chair.wait_for(
        lambda m: (
            m["type"] == "roll_call"
            and any(e["unit"] == "IATUL" and e["status"] == "absent" for e in m["entries"])
        )
    )
    assert chair.close_code is None
    assert next(e for e in update["entries"] if e["unit"] == "IATUL")["reason"] == "Đi công tác"
    chair.close()


def test_a_dropped_connection_point_rejoins_with_one_presence(live: LiveServer) -> None:
    chair = start_with_open_floor(live)
    first = SocketClient(live.ws_url(MEETING, live.token("chumo")))
    pid = first.wait_for(lambda m: m["type"] == "welcome")["participant_id"]
    chair.wait_for(lambda m: m["type"] == "participant_joined" and m["participant"]["id"] == pid)
    first.close()  # the commune's network drops
    left = chair.wait_for(lambda m: m["type"] == "participant_left" and m["participant_id"] == pid)
    assert left["reason"] == "disconnected"
    chair.received.clear()
    again = SocketClient(live.ws_url(MEETING, live.token("chumo")))
    welcome = again.wait_for(lambda m: m["type"] == "welcome")
    assert welcome["participant_id"] == pid  # the same identity
    chair.wait_for(lambda m: m["type"] == "participant_joined" and m["participant"]["id"] == pid)
    # roll-call: one presence, still present online; attendance: two stretches with the gap between
    meeting = live.api("GET", f"/api/meetings/{MEETING}", "chutri").json()
    assert [e["status"] for e in meeting["roll_call"] if e["unit"] == "CHUMO"] == ["present_online"]
    stretches = [
        a
        for a in live.api("GET", f"/api/meetings/{MEETING}/attendance", "chutri").json()
        if a["username"] == "chumo"
    ]
    assert len(stretches) == 2, stretches
    stretches.sort(key=lambda a: a["joined_at"])
    assert stretches[0]["left_at"] is not None and stretches[0]["leave_reason"] == "disconnected"
    assert stretches[1]["left_at"] is None and stretches[1]["joined_at"] >= stretches[0]["left_at"]
    again.close()
    chair.close()


def test_chair_controls_over_the_socket(live: LiveServer) -> None:
    chair = start_with_open_floor(live)
    chumo = SocketClient(live.ws_url(MEETING, live.token("chumo")))
    chumo_id = chumo.wait_for(lambda m: m["type"] == "welcome")["participant_id"]
    poto = SocketClient(live.ws_url(MEETING, live.token("poto")))
    poto_id = poto.wait_for(lambda m: m["type"] == "welcome")["participant_id"]

    def updated(client: SocketClient, pid: str, **fields: object) -> None:
        client.wait_for(
            lambda m: (
                m["type"] == "participant_updated"
                and m["participant"]["id"] == pid
                and all(m["participant"][k] == v for k, v in fields.items())
            )
        )

    # before joining media: audio-only is remembered for the join, a screen share is refused; the sockets stay
    poto.send({"type": "audio_only", "enabled": True})
    updated(chair, poto_id, audio_only=True)
    poto.send({"type": "audio_only", "enabled": False})
    updated(chair, poto_id, audio_only=False)
    poto.send({"type": "screen_share", "on": True})
    assert poto.wait_for(lambda m: m["type"] == "error")["code"] == "not_joined"
    poto.received.clear()
    # a commune raises its hand: the chair sees it
    chumo.send({"type": "raise_hand", "raised": True})
    updated(chair, chumo_id, hand_raised=True)
    # chair controls are refused to a commune, and its socket stays open
    for control in (
        {"type": "mute_all"},
        {"type": "lock", "locked": True},
        {"type": "end_meeting"},
        {"type": "remove_participant", "participant_id": chumo_id},
        {"type": "readmit_participant", "participant_id": chumo_id},
    ):
        poto.send(control)
        assert poto.wait_for(lambda m: m["type"] == "error")["code"] == "forbidden"
        poto.received.clear()
    assert poto.close_code is None
    # the commune unmutes itself, then the chair mutes all: both are told, the server holds them closed
    chumo.send({"type": "mute", "audio": False})
    updated(chair, chumo_id, audio_muted=False)
    chair.send({"type": "mute_all"})
    for client, pid in ((chumo, chumo_id), (poto, poto_id)):
        client.wait_for(lambda m: m["type"] == "muted_by_chair")
        updated(chair, pid, server_muted=True, audio_muted=True)
    # locked: a commune not yet in the meeting is refused; those present stay
    chair.send({"type": "lock", "locked": True})
    assert chumo.wait_for(lambda m: m["type"] == "locked")["locked"] is True
    iatul = SocketClient(live.ws_url(MEETING, live.token("iatul")))
    assert iatul.wait_closed() == 4403
    iatul.close()
    # removed: closed with 4410, the others told, the chair shown the removed point
    chair.send({"type": "remove_participant", "participant_id": poto_id})
    assert poto.wait_closed() == 4410
    left = chumo.wait_for(lambda m: m["type"] == "participant_left" and m["participant_id"] == poto_id)
    assert left["reason"] == "removed"
    removed = chair.wait_for(lambda m: m["type"] == "removed")["participants"]
    assert [(r["participant_id"], r["unit"]) for r in removed] == [(poto_id, "POTO")]
    assert not any(m["type"] == "removed" for m in chumo.received)  # the chair and clerk only
    poto.close()

    def refused_as_removed() -> None:
        again = SocketClient(live.ws_url(MEETING, live.token("poto")))
        assert again.wait_closed() == 4410
        error = next(m for m in again.received if m["type"] == "error")
        assert error["code"] == "removed"
        assert error["message"].startswith("Chủ trì đã mời điểm cầu ra khỏi cuộc họp")
        assert not any(m["type"] == "welcome" for m in again.received)
        again.close()

    refused_as_removed()  # locked or not, it stays out until readmitted
    chair.send({"type": "lock", "locked": False})
    chumo.wait_for(lambda m: m["type"] == "locked" and m["locked"] is False)
    refused_as_removed()
    # a commune cannot readmit it (nor remove anyone: refused above)
    poto_readmit = {"type": "readmit_participant", "participant_id": poto_id}
    chumo.received.clear()
    chumo.send(poto_readmit)
    assert chumo.wait_for(lambda m: m["type"] == "error")["code"] == "forbidden"
    refused_as_removed()
    # a chair's new socket (a reload) is told who is out in its welcome
    chair.close()
    chair = SocketClient(live.ws_url(MEETING, live.token("chutri")))
    welcome = chair.wait_for(lambda m: m["type"] == "welcome")
    assert [r["participant_id"] for r in welcome["removed"]] == [poto_id]
    # the chair readmits it: the list empties, and the point joins again
    chair.send(poto_readmit)
    assert chair.wait_for(lambda m: m["type"] == "removed")["participants"] == []
    chair.send(poto_readmit)  # twice: nothing to readmit
    assert chair.wait_for(lambda m: m["type"] == "error")["code"] == "unknown_participant"
    back = SocketClient(live.ws_url(MEETING, live.token("poto")))
    assert back.wait_for(lambda m: m["type"] == "welcome")["participant_id"] == poto_id
    # the chair ends the meeting from the panel: every socket closes with 4000 and the meeting is ended
    chair.send({"type": "end_meeting"})
    assert chumo.wait_closed() == 4000 and back.wait_closed() == 4000 and chair.wait_closed() == 4000
    assert live.api("GET", f"/api/meetings/{MEETING}", "chutri").json()["status"] == "ended"
    for client in (chumo, back, chair):
        client.close()


@pytest.mark.any_database  # forwarding and signaling: the same on either store
def test_bad_input_closes_only_that_peer(live: LiveServer) -> None:
    chair = start_with_open_floor(live)
    ok = SocketClient(live.ws_url(MEETING, live.token("poto")))
    ok.wait_for(lambda m: m["type"] == "welcome")

    def refused(url: str, payload: str | bytes | None = None, joined: bool = False) -> tuple[int | None, str]:
        s = SocketClient(url)
        if payload is not None:
            s.wait_for(lambda m: m["type"] == "welcome")
            if joined:  # media negotiation under way: the server's offer is outstanding
                s.send({"type": "join", "publish_video": False})
                s.wait_for(lambda m: m["type"] == "offer")
            s.send(payload)
        code = s.wait_closed()
        err = next((m for m in s.received if m["type"] == "error"), {})
        s.close()
        return code, err.get("code", "")

    member_url = live.ws_url(MEETING, live.token("chumo"))
    assert refused(live.ws_url(MEETING, "not-a-token")) == (4401, "unauthenticated")
    assert refused(live.ws_url(999, live.token("chumo")))[0] == 4404
    assert refused(member_url, "{not json") == (4400, "bad_json")
    assert refused(member_url, '{"type": "teleport"}') == (4400, "unknown_type")
    assert refused(member_url, '{"type": "chat", "text": 5}') == (4400, "bad_message")
    assert refused(member_url, '{"type": "chat", "text": "' + "x" * 70_000 + '"}') == (
        4400,
        "message_too_large",
    )
    assert refused(member_url, b"\x00\x01binary") == (4400, "bad_message")
    assert refused(member_url, '{"type": "chat", "text": "' + "x" * 300_000 + '"}') == (1009, "")
    assert refused(member_url, '{"type": "answer", "sdp": "v=0 this is not sdp at all"}') == (4400, "bad_sdp")
    bad_answer = '{"type": "answer", "sdp": "v=0\\r\\nm=audio 9 UDP/TLS/RTP/SAVPF 111\\r\\n"}'
    assert refused(member_url, bad_answer, joined=True) == (4400, "bad_sdp")
    candidate = "candidate:1 1 udp 2130706431 127.0.0.1 50000 typ host"
    no_mline = '{"type": "ice", "candidate": "' + candidate + '"}'
    assert refused(member_url, no_mline, joined=True) == (4400, "bad_sdp")
    assert refused(member_url, '{"type": "ice", "candidate": "candidate:nonsense"}', joined=True) == (
        4400,
        "bad_sdp",
    )
    flood = SocketClient(member_url)
    flood.wait_for(lambda m: m["type"] == "welcome")
    for _ in range(200):
        if flood.close_code is not None:
            break
        try:
            flood.send({"type": "ping"})
        except Exception:  # noqa: BLE001 - the server may close mid-flood
            break
    assert flood.wait_closed() == 4429
    flood.close()
    # a commune that is not invited to this meeting is refused
    other = live.api(
        "POST",
        "/api/meetings",
        "chutri",
        json={
            "title": "Họp riêng với xã Chư Mố",
            "chair_unit": "IAPA",
            "units": ["CHUMO"],
            "starts_at": "2026-12-01T08:00:00+07:00",
        },
    ).json()
    assert live.api("POST", f"/api/meetings/{other['id']}/start", "chutri").status_code == 200
    assert refused(live.ws_url(other["id"], live.token("poto"))) == (4403, "forbidden")
    # the others in the meeting were not disturbed
    ok.send({"type": "chat", "text": "Xã Pờ Tó vẫn nghe rõ."})
    msg = chair.wait_for(lambda m: m["type"] == "chat")
    assert msg["message"]["text"] == "Xã Pờ Tó vẫn nghe rõ." and msg["message"]["unit"] == "POTO"
    ok.close()
    chair.close()


def test_server_killed_mid_meeting_leaves_playable_files(live: LiveServer, tmp_path: Path) -> None:
    start_with_open_floor(live)
    bot = live.bot(MEETING, "chumo", play=wav(SPEECH), duration_s=30)
    time.sleep(6)
    assert live.proc is not None
    live.stop(signal.SIGKILL)
    bot.kill()
    bot.wait()
    folder = live.data_dir / "recordings" / str(MEETING)
    from recordings.manifest import read_manifest

    manifest = read_manifest(folder)
    assert manifest.ended_at is None and len(manifest.tracks) == 1
    track = folder / manifest.tracks[0].path
    assert speech_span_s(pcm(track)) > 2.0  # what was said before the kill is playable
    # restart: the meeting is marked interrupted, the track closed at its last page
    live.start(demo=False)
    meeting = live.api("GET", f"/api/meetings/{MEETING}", "chutri").json()
    assert meeting["status"] == "interrupted"
    after = read_manifest(folder)
    assert after.interrupted and after.tracks[0].closed and after.tracks[0].sha256
    # the chair resumes; recording continues in a new file linked to the first
    assert live.api("POST", f"/api/meetings/{MEETING}/start", "chutri").json()["status"] == "live"
    chair = SocketClient(live.ws_url(MEETING, live.token("chutri")))
    chair.wait_for(lambda m: m["type"] == "welcome")
    chair.send({"type": "floor_control", "enabled": False})
    wait_bots(live.bot(MEETING, "chumo", play=wav(SPEECH_2), duration_s=5))
    assert live.api("POST", f"/api/meetings/{MEETING}/end", "chutri").status_code == 200
    chair.close()
    final = read_manifest(folder)
    chain = [t for t in final.tracks if t.username == "chumo"]
    assert len(chain) == 2 and chain[1].previous_track_id == chain[0].track_id
