"""``GET /api/meetings/{id}/recording/tracks``: audio and video tracks listed with their kind, the video
track downloadable as IVF; the OpenAPI document names the kinds."""

from __future__ import annotations

import datetime as dt

from fastapi.testclient import TestClient
from sqlalchemy import select

from recordings.storage import MeetingRecorder, ParticipantInfo, RecordingsLayout
from server.config import Settings
from server.live import finish_files
from server.models import Meeting, MeetingUnit, Unit
from server.services import recordings as recording_rows
from tests.conftest import Account, login_headers
from tests.recordings.rec_speech import clip_paths, encode_opus, load_speech
from tests.recordings.test_rec_video import encode

CHUMO = ParticipantInfo("u5", "chumo", "Xã Chư Mố", "CHUMO", "UBND xã Chư Mố")


def test_tracks_list_audio_camera_and_screen_with_their_kind(
    client: TestClient, seeded: dict[str, Account], settings: Settings
) -> None:
    db = client.app.state.db  # type: ignore[attr-defined]
    with db.session() as session:
        iapa = session.scalar(select(Unit).where(Unit.code == "IAPA"))
        assert iapa is not None
        meeting = Meeting(title="Họp có ghi hình", chair_unit_id=iapa.id, starts_at=dt.datetime.now(dt.UTC),
                          record=True, record_video="all")
        chumo = session.scalar(select(Unit).where(Unit.code == "CHUMO"))
        assert chumo is not None
        meeting.invitations.append(MeetingUnit(unit_id=chumo.id))
        session.add(meeting)
        session.flush()
        meeting_id = meeting.id
    layout = RecordingsLayout(settings.data_dir)
    recorder = MeetingRecorder.start(layout, str(meeting_id))
    audio = recorder.open_track(CHUMO, 0.5)
    for i, payload in enumerate(encode_opus(load_speech(clip_paths(1)))):
        audio.write(payload, 1000 + i * 960)
    packets = encode(40)
    for kind in ("camera", "screen"):
        video = recorder.open_video_track(CHUMO, kind)
        for p in packets:
            video.write_rtp(p.payload, p.ts, p.seq, p.marker, ssrc=7)
    recorder.end(recorder.clock_s())
    tracks, mix, mix_sha, mix_bytes, error = finish_files(layout.meeting_dir(str(meeting_id)))
    with db.session() as session:
        recording_rows.begin(session, meeting_id, layout.meeting_dir(str(meeting_id)))
        recording_rows.finish(session, meeting_id, tracks, mix, mix_sha, mix_bytes, error)

    got = client.get(f"/api/meetings/{meeting_id}/recording/tracks", headers=login_headers(client, "chair"))
    assert got.status_code == 200, got.text
    body = got.json()
    assert body["status"] == "finished" and body["error"] == ""
    by_kind = {t["kind"]: t for t in body["tracks"]}
    assert set(by_kind) == {"audio", "camera", "screen"}
    for t in body["tracks"]:  # the fields listed before video (kept), and kind
        assert set(t) == {"track_key", "file", "username", "unit_code", "start_s", "end_s", "sha256",
                          "size_bytes", "previous_track_key", "kind"}
        assert t["username"] == "chumo" and t["unit_code"] == "CHUMO" and t["sha256"] and t["size_bytes"] > 0
    assert by_kind["audio"]["file"].endswith(".ogg") and by_kind["camera"]["file"].endswith(".ivf")
    assert by_kind["camera"]["end_s"] > by_kind["camera"]["start_s"]
    # the commune downloads its own camera as IVF; the integrity check covers the video files too
    own = client.get(f"/api/meetings/{meeting_id}/recording/tracks/{by_kind['camera']['track_key']}",
                     headers=login_headers(client, "chumo"))
    assert own.status_code == 200 and own.headers["content-type"] == "video/x-ivf"
    assert own.content[:4] == b"DKIF"
    with db.session() as session:
        problems, checked = recording_rows.verify_all(session, meeting_id)
    assert problems == [] and checked == 4  # three tracks and the mix

    spec = client.get("/openapi.json").json()
    schema = spec["components"]["schemas"]["TrackView"]["properties"]["kind"]
    assert schema["enum"] == ["audio", "camera", "screen"]
