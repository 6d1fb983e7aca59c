"""Doubtful speech is kept and marked for the clerk, never dropped (issue 16 item 4, issue 18 item 3).

A real recording: espeak-ng speech as Opus packets with FEC through the recorder, a burst of packets removed,
so the manifest holds a ``loss`` event nothing recovered. The worker (TranscriptionRunner, real database)
transcribes it with a stub engine that puts a 0.2 s word every 0.2 s and, for its last second, answers what
Whisper answers on near-silence (no_speech_prob 0.9, avg_logprob -0.9), passed through the engines' own
filter (``clean_segments(..., keep_doubtful=True)``) as the real engines do. What is checked is the worker's
marking, what it stores, the API, the clerk's edit and the minutes' prefill; the recognition itself is tested
with the real model in tests/transcription/test_asr_doubt.py.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from recordings.manifest import read_manifest
from recordings.opuspacket import has_lbrr
from recordings.storage import MeetingRecorder, ParticipantInfo, RecordingsLayout
from server.config import Settings
from server.models import TranscriptSegment
from server.services import recordings as recording_rows
from server.services import transcription_jobs
from server.services.transcription_jobs import TranscriptionRunner
from tests.conftest import Account, login_headers
from tests.recordings.rec_loss import FRAME_SAMPLES, encode_fec, espeak_pcm
from transcription.audio import SAMPLE_RATE_HZ
from transcription.engines.base import clean_segments
from transcription.segment import Segment, Word

TRACK_START_S = 2.0
PRE_SKIP_S = 312 / 48000
BURST = range(100, 106)  # 120 ms removed; FEC in packet 106 recovers 105: 100-104 (100 ms) stay lost
MEETING = {
    "title": "Họp giao ban tuần về phòng, chống hạn",
    "chair_unit": "IAPA",
    "units": ["CHUMO"],
    "starts_at": "2026-12-04T08:00:00+07:00",
    "record": True,
    "agenda": [],
}


class WordsAndSilence:
    """A stub engine: a segment per second of audio with a word every 0.2 s (probability 0.9); the last
    second is "decoded from silence" (no_speech_prob 0.9, avg_logprob -0.9, words at 0.42)."""

    name = "stub"

    def transcribe(self, audio: np.ndarray, *, hotwords: Sequence[str] = (), progress: object = None
                   ) -> list[Segment]:
        seconds = int(audio.size / SAMPLE_RATE_HZ)
        segments = []
        for second in range(seconds):
            doubtful = second == seconds - 1
            words = tuple(Word(second + k * 0.2, second + (k + 1) * 0.2, f"tu{second}x{k}",
                               0.42 if doubtful else 0.9) for k in range(5))
            segments.append(Segment(float(second), second + 1.0, " ".join(w.text for w in words), words,
                                    avg_logprob=-0.9 if doubtful else -0.1,
                                    no_speech_prob=0.9 if doubtful else 0.01))
        return clean_segments(segments, hotwords, keep_doubtful=True)


def record_with_loss(settings: Settings, meeting_id: int) -> float:
    """The meeting's recording with one unrecovered loss; returns where it starts on the meeting clock."""
    packets = encode_fec(espeak_pcm())
    assert has_lbrr(packets[BURST.stop])  # the packet after the burst carries the last one's FEC
    layout = RecordingsLayout(settings.data_dir)
    recorder = MeetingRecorder.start(layout, str(meeting_id), fsync_interval_s=None)
    handle = recorder.open_track(ParticipantInfo("p1", "chumo", "Chư Mố", "CHUMO", "UBND xã Chư Mố"),
                                 TRACK_START_S, track_id="t1")
    for i, packet in enumerate(packets):
        if i not in BURST:
            handle.write_rtp(packet, 1000 + i * FRAME_SAMPLES, i)
    recorder.end(TRACK_START_S + len(packets) * 0.02 + 1.0)
    track = read_manifest(layout.meeting_dir(str(meeting_id))).track("t1")
    assert [round(s.end_s - s.start_s, 3) for s in track.losses] == [0.1]
    return track.losses[0].start_s


@pytest.fixture
def transcribed(client: TestClient, seeded: dict[str, Account], settings: Settings) -> tuple[int, float]:
    chair = login_headers(client, "chair")
    r = client.post("/api/meetings", json=MEETING, headers=chair)
    assert r.status_code == 201, r.text
    mid = int(r.json()["id"])
    loss_at = record_with_loss(settings, mid)
    db = client.app.state.db  # type: ignore[attr-defined]
    with db.session() as session:
        recording_rows.begin(session, mid, RecordingsLayout(settings.data_dir).meeting_dir(str(mid)))
        transcription_jobs.queue(session, mid)
    engine = WordsAndSilence()
    TranscriptionRunner(settings, db, lambda _m: None, "test-worker", engine_factory=lambda: engine).run(mid)
    return mid, loss_at


def test_the_worker_stores_uncertain_segments_with_reason_and_confidence(
    client: TestClient, settings: Settings, transcribed: tuple[int, float]
) -> None:
    mid, loss_at = transcribed
    assert abs(loss_at - (TRACK_START_S + 100 * 0.02 - PRE_SKIP_S)) < 1e-3
    body = client.get(f"/api/meetings/{mid}/transcript", headers=login_headers(client, "chumo")).json()
    assert body["status"] == "done", body
    segments = body["segments"]
    assert len(segments) >= 5
    for s in segments:  # the contract's fields are all still there, the new ones beside them
        assert {"id", "start", "end", "unit", "speaker", "text"} <= set(s)
        assert {"uncertain", "uncertain_reason", "confidence"} <= set(s)
    over_loss = [s for s in segments if s["start"] < loss_at + 0.1 and s["end"] > loss_at]
    assert over_loss and all(s["uncertain"] and s["uncertain_reason"] == "loss" for s in over_loss)
    assert all(s["confidence"] == pytest.approx(0.9) for s in over_loss)
    last = segments[-1]  # "decoded from silence": kept, not dropped, and marked
    assert last["uncertain"] and last["uncertain_reason"] == "no_speech"
    assert last["confidence"] == pytest.approx(0.42)
    rest = [s for s in segments if s not in over_loss and s is not last]
    assert rest and all(not s["uncertain"] and s["uncertain_reason"] is None for s in rest)
    assert all(s["confidence"] == pytest.approx(0.9) for s in rest)
    with client.app.state.db.session() as session:  # type: ignore[attr-defined]
        rows = session.scalars(
            select(TranscriptSegment)
            .where(TranscriptSegment.meeting_id == mid)
            .order_by(TranscriptSegment.seq)
        ).all()
        assert [(r.uncertain, r.uncertain_reason) for r in rows] == [
            (s["uncertain"], s["uncertain_reason"] or "") for s in segments
        ]


def test_the_clerks_edit_or_confirmation_settles_a_segment_and_the_minutes_bracket_the_rest(
    client: TestClient, settings: Settings, transcribed: tuple[int, float]
) -> None:
    mid, _loss_at = transcribed
    clerk = login_headers(client, "clerk")
    segments = client.get(f"/api/meetings/{mid}/transcript", headers=clerk).json()["segments"]
    doubtful = [s for s in segments if s["uncertain"]]
    assert len(doubtful) >= 2

    preview = client.get(f"/api/meetings/{mid}/minutes", headers=clerk).json()
    said = " ".join(c["text"] for item in preview["document"]["agenda"] for c in item["contributions"])
    for s in segments:
        marked = f"[không chắc chắn: {s['text']}]"
        assert (marked in said) is s["uncertain"], s
        assert s["text"] in said  # kept, not left out

    edited, confirmed = doubtful[0], doubtful[-1]
    r = client.patch(f"/api/segments/{edited['id']}", json={"text": "Xã Chư Mố báo cáo"}, headers=clerk)
    assert r.status_code == 200, r.text
    assert r.json()["uncertain"] is False and r.json()["uncertain_reason"] is None
    assert r.json()["confidence"] == pytest.approx(edited["confidence"])  # the engine's, of asr_text
    r = client.patch(f"/api/segments/{confirmed['id']}", json={"uncertain": False}, headers=clerk)
    assert r.status_code == 200, r.text
    assert r.json()["uncertain"] is False and r.json()["text"] == confirmed["text"]
    assert client.patch(f"/api/segments/{confirmed['id']}", json={"uncertain": True},
                        headers=clerk).status_code == 422  # only the clerk's "it is right" is accepted
    history = client.get(f"/api/segments/{edited['id']}/history", headers=clerk).json()
    assert history[-1]["before"]["uncertain"] is True and history[-1]["after"]["uncertain"] is False

    body = client.get(f"/api/meetings/{mid}/transcript", headers=clerk).json()
    after = {s["id"]: s for s in body["segments"]}
    assert not after[edited["id"]]["uncertain"] and not after[confirmed["id"]]["uncertain"]
    assert after[edited["id"]]["edited"] and after[edited["id"]]["text"] == "Xã Chư Mố báo cáo"
    still = [s for s in doubtful if s["id"] not in (edited["id"], confirmed["id"])]
    assert all(after[s["id"]]["uncertain"] for s in still)
    preview = client.get(f"/api/meetings/{mid}/minutes", headers=clerk).json()
    said = " ".join(c["text"] for item in preview["document"]["agenda"] for c in item["contributions"])
    assert "[không chắc chắn: Xã Chư Mố báo cáo]" not in said and "Xã Chư Mố báo cáo" in said
    assert f"[không chắc chắn: {confirmed['text']}]" not in said and confirmed["text"] in said
