"""Recorded meeting → Vietnamese transcript, through the real pieces: `giaoban serve` and `giaoban bot`
subprocesses, the recorder, the job queue and worker, the packaged Whisper model — on the repository's
synthesised speech always, and on real speech (VIVOS) when the corpus is present, measuring the words."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.server.live_harness import LiveServer, SocketClient, server_env, wait_bots
from tests.speech import SHIPPABLE_CORPUS, Corpus
from transcription.wer import wer as word_error_rate

pytestmark = [pytest.mark.e2e, pytest.mark.asr]

MEETING = 1
# What each commune says, per corpus, and the WER each unit's transcript must stay under. VIVOS: clips the
# packaged base model reads well on the source (WER 0.00 and 0.08), so the bound tests the path (WebRTC, Opus,
# recording, per-track transcription), not the model. The synthesised sentences: measured and printed, not
# bounded — through WebRTC the base model reads them at WER 0.86–1.07 and sometimes loops on one word.
CLIPS = {
    "espeak": {"chumo": "GB08", "poto": "GB04"},
    "vivos": {"chumo": "R032", "poto": "R054"},
}
MAX_WER: dict[str, float | None] = {"espeak": None, "vivos": 0.35}
REDIS_URL = os.environ.get("GIAOBAN_TEST_REDIS_URL", "")


def hold_meeting(live: LiveServer, corpus: Corpus) -> None:
    """Chumo speaks first, then Pờ Tó; both are recorded; the chair ends the meeting."""
    assert live.api("POST", f"/api/meetings/{MEETING}/start", "chutri").status_code == 200
    chair = SocketClient(live.ws_url(MEETING, live.token("chutri")))
    chair.wait_for(lambda m: m["type"] == "welcome")
    chair.send({"type": "floor_control", "enabled": False})
    chair.wait_for(lambda m: m["type"] == "floor_control")
    for username in ("chumo", "poto"):
        clip = corpus.utterance(CLIPS[corpus.name][username]).path
        wait_bots(live.bot(MEETING, username, play=clip, duration_s=7))
    assert live.api("POST", f"/api/meetings/{MEETING}/end", "chutri").status_code == 200
    chair.close()


def wait_transcript(live: LiveServer, until: set[str], timeout_s: float = 300) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    body: dict[str, Any] = {}
    while time.monotonic() < deadline:
        r = live.api("GET", f"/api/meetings/{MEETING}/transcript", "chutri")
        if r.status_code == 200:
            body = r.json()
            if body["status"] in until:
                return body
        time.sleep(1)
    raise AssertionError(f"transcript not {until} in time: {body}")


def check_transcript(body: dict[str, Any], corpus: Corpus) -> None:
    segs = body["segments"]
    assert body["status"] == "done" and body["progress"] == 1.0
    units = [s["unit"] for s in segs]
    assert units and units[0] == "CHUMO" and units[-1] == "POTO", units
    assert [s["start"] for s in segs] == sorted(s["start"] for s in segs)
    for username, unit in (("chumo", "CHUMO"), ("poto", "POTO")):
        reference = corpus.utterance(CLIPS[corpus.name][username]).text
        # the text the transcript asserts: segments the model doubts are kept for the clerk, greyed and marked
        # (e.g. names it echoes in the silence after speech, "Chư Mố xã Ia"), and measured apart
        text = " ".join(s["text"] for s in segs if s["unit"] == unit and not s["uncertain"])
        everything = " ".join(s["text"] for s in segs if s["unit"] == unit)
        bound = MAX_WER[corpus.name]
        # every unit's speech reaches the transcript; on the synthesised voice the base model may doubt
        # all of it (a CI run on a fresh clone saw Pờ Tó's GB04 kept only as doubted segments), so the
        # asserted text must be non-empty only where the words are bounded (real speech)
        assert everything.strip(), unit
        assert bound is None or text.strip(), unit
        wer = word_error_rate(reference, text)
        print(f"{corpus.name} {unit}: WER {wer:.2f} (bound {bound}); with the doubted segments "
              f"{word_error_rate(reference, everything):.2f}")
        assert bound is None or wer < bound, (unit, text, wer)
    # no segment twice (a retried job replaces, never appends)
    keys = [(round(s["start"], 2), s["text"]) for s in segs]
    assert len(keys) == len(set(keys))


def test_ending_a_recorded_meeting_transcribes_it_by_unit(live: LiveServer, speech_corpus: Corpus) -> None:
    hold_meeting(live, speech_corpus)
    check_transcript(wait_transcript(live, {"done", "failed"}), speech_corpus)


@pytest.fixture
def live_without_worker(tmp_path: Path, database_url: str | None) -> Iterator[LiveServer]:
    extra = {"GIAOBAN_WORKER_IN_PROCESS": "false"}
    if REDIS_URL:
        extra["GIAOBAN_REDIS_URL"] = REDIS_URL
    server = LiveServer(tmp_path / "data", database_url, extra_env=extra)
    server.start()
    try:
        yield server
    finally:
        server.stop()


def start_worker(live: LiveServer, **env: str) -> subprocess.Popen[str]:
    e = server_env(live.data_dir, live.database_url, **live.extra_env, **env)
    return subprocess.Popen(
        [sys.executable, "-m", "server.cli", "worker"],
        env=e,
        text=True,
        stdout=subprocess.DEVNULL,
        stderr=open(live.data_dir.parent / "worker.log", "a"),
    )  # noqa: SIM115


def test_a_killed_worker_is_replaced_and_the_job_retried(live_without_worker: LiveServer) -> None:
    live = live_without_worker
    if REDIS_URL:
        import redis

        redis.Redis.from_url(REDIS_URL).flushdb()
    hold_meeting(live, SHIPPABLE_CORPUS)
    queued = wait_transcript(live, {"queued"}, timeout_s=60)
    assert queued["segments"] == []
    worker = start_worker(live, GIAOBAN_JOB_LEASE_S="4")
    wait_transcript(live, {"running"}, timeout_s=120)
    time.sleep(2)
    worker.send_signal(signal.SIGKILL)
    worker.wait()
    stuck = live.api("GET", f"/api/meetings/{MEETING}/transcript", "chutri").json()
    assert stuck["status"] == "running"
    replacement = start_worker(live, GIAOBAN_JOB_LEASE_S="4")
    try:
        check_transcript(wait_transcript(live, {"done", "failed"}), SHIPPABLE_CORPUS)
    finally:
        replacement.send_signal(signal.SIGINT)
        replacement.wait(timeout=30)
