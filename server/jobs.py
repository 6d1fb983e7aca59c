"""Background jobs: a huey queue and the worker loop that runs them.

The queue is huey's: ``SqliteHuey`` in ``<data_dir>/queue.sqlite3`` by default (no server), ``RedisHuey`` when
``GIAOBAN_REDIS_URL`` is set, so workers on other machines (``giaoban worker``) share it. The queue carries
wake-ups; the durable state of a job (status, attempts, progress, lease) is in the database, so a job whose
worker was killed is found by its stale lease and queued again (see ``TranscriptionRunner.requeue_stale``).
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import threading
import time
from collections.abc import Callable
from types import FrameType
from typing import Any

from huey import Huey, RedisHuey, SqliteHuey

from server.config import Settings

log = logging.getLogger(__name__)

IDLE_POLL_S = 0.5
SWEEP_INTERVAL_S = 5.0
STOP_GRACE_S = 3.0  # a stopping worker waits this long for its job to notice, then gives the job back itself
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)

Handler = Callable[[str, dict[str, Any]], None]


def make_huey(settings: Settings) -> Huey:
    if settings.redis_url:
        return RedisHuey("giaoban", url=settings.redis_url, results=False)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    return SqliteHuey("giaoban", filename=str(settings.data_dir / "queue.sqlite3"), results=False)


class JobQueue:
    """Enqueue a job by kind; ``run_next`` executes one queued job in the calling thread."""

    def __init__(self, settings: Settings, handler: Handler) -> None:
        self.huey = make_huey(settings)
        self.backend = "redis" if settings.redis_url else "sqlite"

        @self.huey.task(name="giaoban.job")
        def run_job(kind: str, payload: dict[str, Any]) -> None:
            handler(kind, payload)

        self._task = run_job

    def enqueue(self, kind: str, **payload: Any) -> None:
        self._task(kind, payload)

    def run_next(self) -> bool:
        task = self.huey.dequeue()
        if task is None:
            return False
        self.huey.execute(task)
        return True

    def pending(self) -> int:
        return int(self.huey.pending_count())

    def flush(self) -> None:
        self.huey.flush()

    def health(self) -> dict[str, Any]:
        try:
            return {"status": "ok", "backend": self.backend, "pending": self.pending()}
        except Exception as exc:  # noqa: BLE001 - health reports any failure
            return {"status": "error", "backend": self.backend, "error": str(exc)[:200]}


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{threading.get_ident()}"


class Worker:
    """Runs queued jobs until stopped; every few seconds, re-queues jobs whose worker died.

    Stopping sets :attr:`stop_event`: the running job sees it at its next progress report and gives itself
    back to the queue (``TranscriptionRunner``'s ``stopping``). A job busy in native code (the speech model)
    reports seconds apart, so :meth:`stop` waits at most its timeout and then calls ``release``, which gives
    back whatever this worker still holds; the job's thread, if it ever returns, finds the job no longer its
    own and drops its result.

    The loop never runs in the main thread of ``giaoban worker`` (:meth:`run_until_signalled`): that thread
    only waits for SIGINT/SIGTERM. Before, the loop ran there and a SIGINT during a job became a
    KeyboardInterrupt inside huey's ``execute``, which logs it and returns as if the task were done: the loop
    went on, the process did not exit, and the job stayed "running" under a live worker's name.
    """

    def __init__(
        self, queue: JobQueue, sweep: Callable[[], Any], release: Callable[[], Any] | None = None
    ) -> None:
        self.queue = queue
        self.sweep = sweep
        self.release = release
        self.stop_event = threading.Event()
        self._thread: threading.Thread | None = None

    def run(self) -> None:
        last_sweep = float("-inf")
        while not self.stop_event.is_set():
            now = time.monotonic()
            if now - last_sweep >= SWEEP_INTERVAL_S:
                last_sweep = now
                try:
                    self.sweep()
                except Exception:  # noqa: BLE001 - the worker must outlive a failing sweep
                    log.exception("job sweep failed")
            if self.stop_event.is_set():
                break
            try:
                ran = self.queue.run_next()
            except Exception:  # noqa: BLE001
                log.exception("job failed outside its handler")
                ran = False
            if not ran:
                self.stop_event.wait(IDLE_POLL_S)

    def start_thread(self) -> threading.Thread:
        self._thread = threading.Thread(target=self.run, name="giaoban-worker", daemon=True)
        self._thread.start()
        return self._thread

    def stop(self, timeout_s: float = STOP_GRACE_S) -> bool:
        """Stop the loop; True when it ended within ``timeout_s``. Either way nothing stays held by it."""
        self.stop_event.set()
        ended = True
        if self._thread is not None:
            self._thread.join(timeout_s)
            ended = not self._thread.is_alive()
            if not ended:
                log.warning("worker: the running job did not stop within %.1f s; giving it back", timeout_s)
        if self.release is not None:
            try:
                self.release()
            except Exception:  # noqa: BLE001 - stopping must not fail; the lease expires anyway
                log.exception("worker: giving back the running job failed")
        return ended

    def run_until_signalled(self, grace_s: float = STOP_GRACE_S) -> bool:
        """Run the loop in a thread until SIGINT or SIGTERM (or :attr:`stop_event`), then :meth:`stop`.

        Call from the main thread. Returns whether the loop ended within ``grace_s``: when it did not, its
        thread is still inside a job that was given back, and the caller should leave without waiting on it.
        """

        def on_signal(signum: int, _frame: FrameType | None) -> None:
            log.info("worker: %s received, stopping", signal.Signals(signum).name)
            self.stop_event.set()

        previous = {sig: signal.signal(sig, on_signal) for sig in STOP_SIGNALS}
        try:
            thread = self.start_thread()
            while thread.is_alive() and not self.stop_event.wait(IDLE_POLL_S):
                pass
            return self.stop(grace_s)
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
