"""A `giaoban worker` asked to stop (SIGINT, SIGTERM) while the speech model transcribes leaves within
seconds, and its job goes back to the queue for the next worker, which completes it.

The first tests run the worker loop in a thread with small fake engines (one that reports progress, one that
blocks like native code); the last one uses real processes and the real model, on a recording a few minutes
long, so that the job is still in the model when each signal arrives. Before the fix, a SIGINT during a job
became a KeyboardInterrupt inside huey's ``execute``, which swallowed it: the worker went on, the job stayed
"running" under its name; a SIGTERM killed the worker with the job left "running" until its lease expired.
"""

from __future__ import annotations

import datetime as dt
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import select

from recordings.storage import MeetingRecorder, ParticipantInfo, RecordingsLayout
from server.background import Background
from server.config import Settings
from server.db import Database, migrate
from server.models import JobStatus, Meeting, Transcript, TranscriptSegment, Unit
from server.services import recordings as recording_rows
from server.services import units
from tests.recordings.rec_speech import PACKET_SAMPLES, clip_paths, encode_opus, load_speech
from tests.server.live_harness import server_env
from transcription.segment import Segment

STOP_WITHIN_S = 5.0  # the worker's grace is 3 s
# the twelve sentences (about 45 s) twice: three 30 s windows, a signal after the first finds the model busy
SPEECH_REPEATS = 2


@pytest.fixture
def site(tmp_path: Path, database_url: str | None) -> Iterator[tuple[Settings, Database]]:
    settings = Settings(data_dir=tmp_path / "data", database_url=database_url, worker_in_process=False)
    migrate(settings)
    db = Database(settings)
    with db.session() as session:
        units.seed_ia_pa(session)
    try:
        yield settings, db
    finally:
        db.dispose()


def record_long_meeting(settings: Settings, db: Database, repeats: int = SPEECH_REPEATS) -> int:
    """A recorded meeting of one connection point speaking (the 12 sentences ``repeats`` times); its id."""
    with db.session() as session:
        iapa = session.scalar(select(Unit).where(Unit.code == "IAPA"))
        assert iapa is not None
        meeting = Meeting(
            title="Họp dài", chair_unit_id=iapa.id, starts_at=dt.datetime.now(dt.UTC), record=True
        )
        session.add(meeting)
        session.flush()
        meeting_id = meeting.id
    layout = RecordingsLayout(settings.data_dir)
    recorder = MeetingRecorder.start(layout, str(meeting_id))
    track = recorder.open_track(ParticipantInfo("u5", "chumo", "Xã Chư Mố", "CHUMO", "UBND xã Chư Mố"), 1.0)
    speech = np.tile(load_speech(clip_paths(12)), repeats)
    packets = encode_opus(speech)
    for i, payload in enumerate(packets):
        track.write(payload, 1000 + i * PACKET_SAMPLES)
    duration_s = len(packets) * 0.02
    track.close(1.0 + duration_s)
    recorder.end(2.0 + duration_s)
    with db.session() as session:
        recording_rows.begin(session, meeting_id, layout.meeting_dir(str(meeting_id)))
    return meeting_id


def transcript(db: Database, meeting_id: int) -> Transcript:
    with db.session() as session:
        row = session.scalar(select(Transcript).where(Transcript.meeting_id == meeting_id))
        assert row is not None
        session.expunge(row)
        return row


def start_worker(settings: Settings, log: Path) -> subprocess.Popen[str]:
    env = server_env(settings.data_dir, settings.database_url, GIAOBAN_WORKER_IN_PROCESS="false")
    return subprocess.Popen(
        [sys.executable, "-m", "server.cli", "worker"],
        env=env,
        text=True,
        stdout=subprocess.DEVNULL,
        stderr=open(log, "a", encoding="utf-8"),  # noqa: SIM115 - lives as long as the process
    )


def wait_in_the_model(
    db: Database, meeting_id: int, worker: subprocess.Popen[str], timeout_s: float = 240
) -> None:
    """Until the job runs and has reported progress: the model is loaded and transcribing."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        row = transcript(db, meeting_id)
        if row.status is JobStatus.RUNNING and row.progress > 0:
            return
        assert row.status in (JobStatus.QUEUED, JobStatus.RUNNING), (row.status, row.error)
        assert worker.poll() is None, "the worker exited"
        time.sleep(0.2)
    raise AssertionError(f"the job did not reach the model in time: {transcript(db, meeting_id).status}")


def stop(worker: subprocess.Popen[str], sig: int) -> float:
    """Send ``sig``; the seconds until the worker exited (killed, and the test failed, past the bound)."""
    sent = time.monotonic()
    worker.send_signal(sig)
    try:
        code = worker.wait(timeout=STOP_WITHIN_S)
    except subprocess.TimeoutExpired:
        worker.kill()
        worker.wait()
        raise AssertionError(
            f"the worker did not exit within {STOP_WITHIN_S} s of {signal.Signals(sig).name}"
        ) from None
    elapsed = time.monotonic() - sent
    assert code == 0, code
    return elapsed


class HeldEngine:
    """A fake engine that holds each call until released: ``cooperative`` ones report progress meanwhile
    (as the real one does between segments), the others block like native code that reports nothing."""

    name = "fake"

    def __init__(self, cooperative: bool) -> None:
        self.cooperative = cooperative
        self.entered = threading.Event()
        self.release = threading.Event()

    def transcribe(
        self, audio: object, *, hotwords: Sequence[str] = (), progress: Callable[[float], None] | None = None
    ) -> list[Segment]:
        self.entered.set()
        while not self.release.wait(0.05):
            if self.cooperative and progress is not None:
                progress(0.5)
        return [Segment(0.5, 2.5, "xin chào các điểm cầu")]


@pytest.mark.parametrize("cooperative", [True, False])
def test_stopping_the_worker_loop_gives_the_running_job_back(
    site: tuple[Settings, Database], cooperative: bool
) -> None:
    settings, db = site
    meeting_id = record_long_meeting(settings, db, repeats=1)
    engine = HeldEngine(cooperative)
    background = Background(settings, db, engine_factory=lambda: engine)
    background.queue_transcription(meeting_id)
    background.start_worker()
    assert background.worker is not None
    assert engine.entered.wait(60), "the job did not reach the engine"
    started = time.monotonic()
    ended = background.worker.stop(timeout_s=2.0)
    elapsed = time.monotonic() - started
    row = transcript(db, meeting_id)
    assert (row.status, row.worker, row.attempts) == (JobStatus.QUEUED, "", 0)
    assert background.queue.pending() == 1
    if cooperative:
        assert ended, elapsed  # the job noticed at its next progress report, within the grace
    else:
        assert not ended and 2.0 <= elapsed < 4.0, elapsed  # given back by the loop after the grace
    engine.release.set()  # the abandoned call returns: its result is dropped, the job stays queued
    time.sleep(0.5)
    row = transcript(db, meeting_id)
    assert (row.status, row.worker) == (JobStatus.QUEUED, "")
    with db.session() as session:
        assert (
            session.scalars(select(TranscriptSegment).where(TranscriptSegment.meeting_id == meeting_id)).all()
            == []
        )
    # the next worker takes it from the queue and completes it, the interrupted attempt not counted
    nxt = Background(settings, db, engine_factory=lambda: engine)
    assert nxt.queue.run_next()
    row = transcript(db, meeting_id)
    assert (row.status, row.attempts) == (JobStatus.DONE, 1)


@pytest.mark.e2e
@pytest.mark.asr
def test_a_stopped_worker_gives_its_job_back_and_the_next_one_completes_it(
    site: tuple[Settings, Database], tmp_path: Path
) -> None:
    settings, db = site
    meeting_id = record_long_meeting(settings, db)
    background = Background(settings, db)  # the queue the workers share, and the way the server queues a job
    background.queue_transcription(meeting_id)
    log = tmp_path / "workers.log"
    workers: list[subprocess.Popen[str]] = []
    try:
        for sig in (signal.SIGINT, signal.SIGTERM):
            worker = start_worker(settings, log)
            workers.append(worker)
            wait_in_the_model(db, meeting_id, worker)
            elapsed = stop(worker, sig)
            row = transcript(db, meeting_id)
            assert (row.status, row.worker, row.attempts) == (JobStatus.QUEUED, "", 0), (sig, row.status)
            assert background.queue.pending() >= 1
            print(f"{signal.Signals(sig).name}: the worker exited {elapsed:.2f} s after the signal")
        last = start_worker(settings, log)
        workers.append(last)
        deadline = time.monotonic() + 600
        while (row := transcript(db, meeting_id)).status not in (JobStatus.DONE, JobStatus.FAILED):
            assert time.monotonic() < deadline, "the job was not completed by the next worker"
            assert last.poll() is None, "the worker exited"
            time.sleep(0.5)
        assert row.status is JobStatus.DONE, row.error
        assert row.attempts == 1  # the two interrupted attempts were not counted
        with db.session() as session:
            texts = session.scalars(
                select(TranscriptSegment.text).where(TranscriptSegment.meeting_id == meeting_id)
            ).all()
        assert len(texts) >= 10, texts
        stop(last, signal.SIGINT)  # an idle worker stops as promptly
    finally:
        for worker in workers:
            if worker.poll() is None:
                worker.kill()
                worker.wait()
        print(log.read_text(encoding="utf-8")[-3000:])
