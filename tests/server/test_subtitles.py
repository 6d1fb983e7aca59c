"""``GET /api/meetings/{id}/subtitles.vtt``: the corrected transcript as WebVTT (parsed back with PyAV's
WebVTT demuxer), 404 before a transcript exists, 409 while it is being made, and who may read it."""

from __future__ import annotations

from pathlib import Path

import av
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from server.errors import Conflict
from server.models import JobStatus, Transcript, User
from server.services import accounts, subtitles, transcripts
from server.services.transcripts import SegmentInput
from tests.conftest import Account, login_headers
from tests.server.test_transcripts_api import MEETING, SPEECH


def test_subtitles_follow_the_corrected_transcript(
    client: TestClient, seeded: dict[str, Account], tmp_path: Path
) -> None:
    chair = login_headers(client, "chair")
    mid = int(client.post("/api/meetings", json=MEETING, headers=chair).json()["id"])
    missing = client.get(f"/api/meetings/{mid}/subtitles.vtt", headers=chair)
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "not_found"
    db = client.app.state.db  # type: ignore[attr-defined]
    with db.session() as session:  # while the transcript is being made (read in the same transaction: the
        # test app's worker would take a running row it holds no lease of as stale)
        session.add(Transcript(meeting_id=mid, status=JobStatus.RUNNING, progress=0.4))
        session.flush()
        user = session.scalar(select(User).where(User.username == "chair"))
        assert user is not None
        with pytest.raises(Conflict) as making:
            subtitles.webvtt(session, accounts.actor_of(user), mid)
        assert making.value.code == "subtitles_processing"
        session.rollback()
    tricky = SegmentInput(96.0, 3725.25, "Giá <b>&</b> --> không đổi.", "CHUMO", "Siu H'Nhi")
    with db.session() as session:
        ids = transcripts.store_segments(session, mid, [*SPEECH, tricky])
    edited = client.patch(f"/api/segments/{ids[1]}", headers=chair,
                          json={"text": "Xã Chư Mố có 125 héc-ta lúa bị thiếu nước."})
    assert edited.status_code == 200, edited.text

    got = client.get(f"/api/meetings/{mid}/subtitles.vtt", headers=login_headers(client, "chumo"))
    assert got.status_code == 200 and got.headers["content-type"].startswith("text/vtt")
    text = got.text
    assert text.startswith("WEBVTT\n\n1\n00:00:00.000 --> 00:00:06.500\n<v Nguyễn Văn Hùng (IAPA)>")
    assert "00:00:07.000 --> 00:00:15.000\n<v Siu H'Nhi (CHUMO)>Xã Chư Mố có 125 héc-ta" in text  # corrected
    assert "00:01:36.000 --> 01:02:05.250" in text
    assert "Giá &lt;b&gt;&amp;&lt;/b&gt; -- &gt; không đổi." in text  # escaped, and no cue arrow inside
    path = tmp_path / "s.vtt"
    path.write_bytes(got.content)
    with av.open(str(path)) as container:  # FFmpeg's WebVTT reader sees every cue
        cues = list(container.demux(container.streams.subtitles[0]))
    assert len([c for c in cues if c.size]) == len(SPEECH) + 1
    # a unit not invited may not read it
    assert client.get(f"/api/meetings/{mid}/subtitles.vtt",
                      headers=login_headers(client, "iatul")).status_code == 403
