"""Background jobs: a huey queue and the worker loop that runs them.

The queue is huey's: ``SqliteHuey`` in ``<data_dir>/queue.sqlite3`` by default (no server), ``RedisHuey`` when
``GIAOBAN_REDIS_URL`` is set, so workers on other machines (``giaoban worker``) share it. The queue carries
wake-ups; the durable state of a job (status, attempts, progress, lease) is in the database, so a job whose
worker was killed is found by its stale lease and queued again (see ``TranscriptionRunner.requeue_stale``).
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from collections.abc import Callable
from typing import Any

from huey import Huey, RedisHuey, SqliteHuey

from server.config import Settings

log = logging.getLogger(__name__)

IDLE_POLL_S = 0.5
SWEEP_INTERVAL_S = 5.0

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
    """Runs queued jobs until stopped; every few seconds, re-queues jobs whose worker died."""

    def __init__(self, queue: JobQueue, sweep: Callable[[], Any]) -> None:
        self.queue = queue
        self.sweep = sweep
        self.stop_event = threading.Event()
        self._thread: threading.Thread | None = None

    def run(self) -> None:
        last_sweep = 0.0
        import time

        while not self.stop_event.is_set():
            now = time.monotonic()
            if now - last_sweep >= SWEEP_INTERVAL_S:
                last_sweep = now
                try:
                    self.sweep()
                except Exception:  # noqa: BLE001 - the worker must outlive a failing sweep
                    log.exception("job sweep failed")
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

    def stop(self, timeout_s: float = 5.0) -> None:
        self.stop_event.set()
        if self._thread is not None:
            self._thread.join(timeout_s)
