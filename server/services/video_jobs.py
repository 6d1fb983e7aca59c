"""Composition jobs: the meeting's video made by a worker in a niced child process, never the media process.

The durable state is the meeting's ``VideoComposition`` row (status, progress, attempts, lease), claimed,
renewed, failed, given back and recovered as the transcript's is (``server.services.leased_jobs``). The work
runs in ``python -m recordings.compose`` started with a raised nice value and its own process group; FFmpeg's
threads are bounded by ``GIAOBAN_COMPOSE_THREADS``. The worker thread only writes the WebVTT and the
chapters, reads the child's progress lines and renews the lease. A stopping worker kills the child and gives
the job back. When a job ends and the transcript changed while it ran, the subtitles are queued again.
"""

from __future__ import annotations

import json
import logging
import os
import queue as queues
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlalchemy import select

from recordings.compose import SUBTITLES_FILENAME
from recordings.manifest import read_manifest
from server.config import Settings
from server.db import Database
from server.models import Meeting, Recording, VideoComposition
from server.services import subtitles, videos
from server.services.leased_jobs import Enqueue, LeasedJobRunner

log = logging.getLogger(__name__)

JOB_KIND = "compose_video"
HEARTBEAT_S = 5.0
PROGRESS_WRITE_INTERVAL_S = 1.0
OPENING_CHAPTER = "Khai mạc"


def chapters(meeting: Meeting, length_s: float) -> list[dict[str, Any]]:
    """Chapters at the agenda items that have a start on the meeting clock; before the first, the opening.
    Without any timed item, one chapter: the meeting's title."""
    timed = sorted(
        (
            (a.starts_at_s, a.title)
            for a in meeting.agenda
            if a.starts_at_s is not None and a.starts_at_s < length_s
        ),
        key=lambda item: item[0],
    )
    if not timed:
        return [{"start_s": 0.0, "end_s": length_s, "title": meeting.title}]
    if timed[0][0] > 0.5:
        timed.insert(0, (0.0, OPENING_CHAPTER))
    out = []
    for index, (start, title) in enumerate(timed):
        end = timed[index + 1][0] if index + 1 < len(timed) else length_s
        if end > start:
            out.append({"start_s": max(0.0, start), "end_s": end, "title": title})
    return out


def write_subtitles(folder: Path, text: str | None) -> bool:
    """The WebVTT beside the video (atomically replaced); False, and no file, when there are no cues."""
    target = folder / SUBTITLES_FILENAME
    if text is None or "-->" not in text:
        target.unlink(missing_ok=True)
        return False
    staged = folder / f".{SUBTITLES_FILENAME}.tmp"
    staged.write_text(text, encoding="utf-8")
    os.replace(staged, target)
    return True


class CompositionRunner(LeasedJobRunner[VideoComposition]):
    def __init__(
        self, settings: Settings, db: Database, enqueue: Enqueue, worker: str, stopping: Callable[[], bool]
    ) -> None:
        super().__init__(VideoComposition, "video composition", settings, db, enqueue, worker, stopping)

    def _request(self, meeting_id: int, mode: str) -> tuple[dict[str, Any], str]:
        with self.db.session() as session:
            meeting = session.get(Meeting, meeting_id)
            rec = session.scalar(select(Recording).where(Recording.meeting_id == meeting_id))
            if meeting is None or rec is None:
                raise ValueError("Cuộc họp không có bản ghi.")
            folder = Path(rec.directory)
            length = read_manifest(folder).length_s
            vtt = subtitles.for_meeting(session, meeting_id)
            request = {
                "meeting_dir": str(folder),
                "mode": mode,
                "title": meeting.title,
                "hall_unit_code": meeting.chair_unit.code,
                "chapters": chapters(meeting, length),
                "subtitles": write_subtitles(folder, vtt),
                "options": {
                    "height": self.settings.compose_height,
                    "width": self.settings.compose_height * 16 // 9 // 2 * 2,
                    "preset": self.settings.compose_preset,
                    "threads": self.settings.compose_threads,
                },
            }
        return request, vtt or ""

    def run(self, meeting_id: int) -> None:
        claimed = self._start(meeting_id)
        if claimed is None:
            return
        mode = claimed.mode
        log.info("meeting %s: video composition (%s) started by %s", meeting_id, mode, self.worker)
        try:
            request, vtt = self._request(meeting_id, mode)
            outcome = self._child(meeting_id, request)
        except (OSError, ValueError) as exc:
            self._fail(meeting_id, f"{type(exc).__name__}: {exc}")
            return
        if outcome is None:  # the worker is stopping: given back
            self.release_held()
            return
        if "error" in outcome:
            self._fail(meeting_id, str(outcome["error"]))
            return
        self._complete(meeting_id, outcome["result"], vtt)

    def _child(self, meeting_id: int, request: dict[str, Any]) -> dict[str, Any] | None:
        """Run the composer; its last JSON line (result or error), or None when the worker stopped."""
        errors = tempfile.TemporaryFile(mode="w+")
        proc = subprocess.Popen(
            # lower priority with nice(1): no preexec_fn in a process with threads
            ["nice", "-n", str(self.settings.compose_nice), sys.executable, "-m", "recordings.compose"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=errors,  # a file: a chatty child never blocks on a full pipe
            text=True,
            start_new_session=True,  # its own process group: a stopping worker kills it with its FFmpeg
        )
        assert proc.stdin is not None and proc.stdout is not None
        proc.stdin.write(json.dumps(request))
        proc.stdin.close()
        lines: queues.Queue[str | None] = queues.Queue()

        def pump() -> None:
            assert proc.stdout is not None
            for line in proc.stdout:
                lines.put(line)
            lines.put(None)

        threading.Thread(target=pump, name=f"compose-{meeting_id}", daemon=True).start()
        last: dict[str, Any] = {"error": "the composer ended without a result"}
        last_write = 0.0
        progress = 0.0
        while True:
            if self.stopping():
                _kill(proc)
                errors.close()
                return None
            try:
                line = lines.get(timeout=1.0)
            except queues.Empty:
                line = ""
            if line is None:
                break
            if line.strip():
                try:
                    message = json.loads(line)
                except ValueError:
                    continue
                if "progress" in message:
                    progress = float(message["progress"])
                else:
                    last = message
            now = time.monotonic()
            if now - last_write >= (PROGRESS_WRITE_INTERVAL_S if line else HEARTBEAT_S):
                last_write = now
                self._renew(meeting_id, progress)
        proc.wait()
        errors.seek(0)
        stderr = errors.read()
        errors.close()
        if proc.returncode != 0 and "error" not in last:
            last = {"error": f"composer exited {proc.returncode}: {stderr.strip()[-1500:]}"}
        return last

    def _complete(self, meeting_id: int, result: dict[str, Any], vtt: str) -> None:
        again = False
        with self.db.session() as session:
            row = self._held(session, meeting_id)
            if row is None:
                log.warning("meeting %s: lost the composition lease; result dropped", meeting_id)
                return
            self._done(row)
            row.file, row.sha256, row.bytes = result["file"], result["sha256"], int(result["bytes"])
            row.length_s = float(result["length_s"])
            if row.mode == videos.MODE_FULL:
                row.picture_gaps = result["picture_gaps"]
            row.subtitles_file = SUBTITLES_FILENAME if result["subtitles_sha256"] else ""
            row.subtitles_sha256 = result["subtitles_sha256"]
            row.worker, row.heartbeat_at = "", None
            current = subtitles.for_meeting(session, meeting_id) or ""
            if current != vtt:  # corrected while the job ran: the subtitles again
                again = videos.queue(session, meeting_id, videos.MODE_FINISH)
        log.info("meeting %s: video composed, %d bytes", meeting_id, int(result["bytes"]))
        if again:
            self.enqueue(meeting_id)


def _kill(proc: subprocess.Popen[str]) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)  # the composer and its FFmpeg: their own process group
    except ProcessLookupError:
        pass
    proc.wait()
