"""A recorded meeting whose server was killed, then ended without being resumed, still gets its tracks (cut
to their last page), its mixed file and its transcription job (before: its recording stayed 'interrupted',
with no tracks listed and no mix). One `giaoban serve --demo` killed with SIGKILL and started again on the
same data dir and database; a real bot speaks before the kill."""

from __future__ import annotations

import signal
import time
from pathlib import Path

import pytest

from tests.server.live_harness import LiveServer
from tests.speech import spoken

pytestmark = pytest.mark.e2e

MEETING = 1  # the demo meeting


def test_an_interrupted_meeting_ended_without_resuming_keeps_its_recording(
    tmp_path: Path, database_url: str | None
) -> None:
    env = {"GIAOBAN_WORKER_IN_PROCESS": "false"}  # the transcription job stays queued: what is asserted
    server = LiveServer(tmp_path / "data", database_url, extra_env=env).start()
    creds = dict(server.creds)
    try:
        assert server.api("POST", f"/api/meetings/{MEETING}/start", "chutri").status_code == 200
        bot = server.bot(MEETING, "chutri", play=spoken(("GB01", "GB02", "GB03")), duration_s=60)
        time.sleep(12)
        assert server.proc is not None
        server.stop(signal.SIGKILL)
        bot.kill()
        bot.wait()

        server.start(demo=False)
        server.creds = creds
        got = server.api("GET", f"/api/meetings/{MEETING}", "chutri").json()
        assert got["status"] == "interrupted"
        assert server.api("POST", f"/api/meetings/{MEETING}/end", "chutri").status_code == 200

        deadline = time.monotonic() + 60
        while True:
            listed = server.api("GET", f"/api/meetings/{MEETING}/recording/tracks", "chutri").json()
            if listed["status"] != "interrupted" or time.monotonic() > deadline:
                break
            time.sleep(0.3)
        assert listed["status"] == "finished", listed
        tracks = [t for t in listed["tracks"] if t["username"] == "chutri"]
        assert len(tracks) == 1 and tracks[0]["end_s"] - tracks[0]["start_s"] > 5.0, tracks
        key = tracks[0]["track_key"]
        track = server.api("GET", f"/api/meetings/{MEETING}/recording/tracks/{key}", "chutri")
        assert track.status_code == 200 and len(track.content) == tracks[0]["size_bytes"]
        mix = server.api("GET", f"/api/meetings/{MEETING}/recording", "chutri")
        assert mix.status_code == 200 and len(mix.content) > 10_000
        transcript = server.api("GET", f"/api/meetings/{MEETING}/transcript", "chutri").json()
        assert transcript["status"] == "queued"
    finally:
        server.stop()
