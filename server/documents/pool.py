"""Rendering minutes and notices off the media process's GIL.

A PDF of a long meeting (3 000 transcript segments) takes ~7 s of pure Python in fpdf2; rendered in the server
process (FastAPI's threadpool) it holds the GIL against the event loop that forwards RTP and answers the
signaling sockets: four parallel downloads halved the frames every participant received. So the renderers run
in a small pool of worker processes:

- The request reads the database and builds the document's canonical JSON (plain dicts, cheap to pickle);
  only :func:`render_job` (rebuild the dataclasses, lay out, write DOCX/PDF) runs in the worker. The one
  layout (``layout``) still feeds both formats.
- Processes are started with the ``spawn`` context (never a fork of a process running an asyncio loop and
  aiortc's threads), lazily on the first render, at a lower CPU priority (nice 10: on a busy machine the
  media process gets the cores first), and shut down with the app.
- At most ``render_workers`` renders run at once; ``render_queue_limit`` more may wait; a request beyond that
  gets :class:`RenderBusy` (503 with ``Retry-After``) at once instead of piling up. The exports' database
  reads run in the threadpool one at a time (:meth:`RenderPool.read`), so one thread at most competes with
  the event loop for the GIL.
- A worker that dies (kill -9, out of memory) breaks the executor: the requests it held get
  :class:`RenderFailed` (503), the executor is replaced and the next render starts fresh processes.
- A sealed version never changes: its files are rendered once and kept on disk (:class:`RenderCache`), keyed
  by the SHA-256 of the content, the format, the stamp and the renderers' own source.
- ``render_workers = 0`` keeps the old way (render in the server's threadpool, no limit) as the benchmarks'
  baseline.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import multiprocessing
import os
import tempfile
import threading
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import Executor, Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Literal, TypeVar

from server.config import Settings
from server.documents import model as doc_model
from server.documents.canonical import Document, canonical_bytes, document_from_canonical
from server.errors import Unavailable

log = logging.getLogger(__name__)
T = TypeVar("T")

RenderFormat = Literal["docx", "pdf"]
START_METHOD = "spawn"
RETRY_AFTER_S = 10  # what a refused download is told to wait: about one PDF of a long meeting
WORKER_NICE = 10  # render processes yield the CPU to the media process on a busy machine
CACHE_SUBDIR = "cache/documents"


@dataclass(frozen=True)
class RenderJob:
    """What a worker process needs: the document (its canonical JSON as stored, or the dataclasses of a
    preview), the format and the PDF's creation date."""

    content: Mapping[str, Any] | Document
    fmt: RenderFormat
    created_at: datetime | None = None


def render_job(job: RenderJob) -> bytes:
    """Lay out and write one document (runs in a worker process, or in a thread for the baseline)."""
    from server.documents.docx_render import render_minutes_docx, render_notice_docx
    from server.documents.pdf_render import render_minutes_pdf, render_notice_pdf

    content = job.content
    doc = content if isinstance(content, Document) else document_from_canonical(content)
    if isinstance(doc, doc_model.MinutesDoc):
        if job.fmt == "docx":
            return render_minutes_docx(doc)
        return render_minutes_pdf(doc, created_at=job.created_at)
    if job.fmt == "docx":
        return render_notice_docx(doc)
    return render_notice_pdf(doc, created_at=job.created_at)


def _lower_priority(pid: int = 0) -> None:
    """A render process's CPU priority (``pid`` 0: this process), lower than the server's."""
    with contextlib.suppress(ProcessLookupError):
        os.setpriority(os.PRIO_PROCESS, pid, WORKER_NICE)


class RenderBusy(Unavailable):
    """Every render process is busy and the queue is full: try again after ``retry_after_s``."""

    code = "render_busy"

    def __init__(self, retry_after_s: int) -> None:
        super().__init__(
            "Máy chủ đang bận xuất văn bản; vui lòng thử lại sau ít giây.",
            details={"retry_after_s": retry_after_s},
        )
        self.retry_after_s = retry_after_s


class RenderFailed(Unavailable):
    """The process rendering this document died; the pool has been renewed, a retry may succeed."""

    code = "render_failed"

    def __init__(self) -> None:
        super().__init__("Tiến trình xuất văn bản bị dừng đột ngột; vui lòng thử lại.")


def _renderer_fingerprint() -> str:
    """The documents package's source (this module aside): what turns a content into bytes."""
    digest = hashlib.sha256()
    for path in sorted(Path(__file__).resolve().parent.glob("*.py")):
        if path.name != Path(__file__).name:
            digest.update(path.name.encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


class RenderCache:
    """Rendered files of sealed versions on disk, one file per (content, format, stamp, renderer source)."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._renderer = _renderer_fingerprint()

    def key(self, job: RenderJob) -> str:
        digest = hashlib.sha256(canonical_bytes(job.content))
        stamp = job.created_at.isoformat() if job.created_at is not None else ""
        digest.update(f"\n{job.fmt}\n{stamp}\n{self._renderer}".encode())
        return digest.hexdigest()

    def path(self, key: str, fmt: RenderFormat) -> Path:
        return self.directory / f"{key}.{fmt}"

    def get(self, key: str, fmt: RenderFormat) -> bytes | None:
        try:
            return self.path(key, fmt).read_bytes()
        except FileNotFoundError:
            return None

    def lookup(self, job: RenderJob) -> tuple[str, bytes | None]:
        key = self.key(job)
        return key, self.get(key, job.fmt)

    def put(self, key: str, fmt: RenderFormat, data: bytes) -> None:
        """Written to a temporary file and renamed: a reader never sees half a file."""
        self.directory.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self.directory, prefix=f".{key}.", suffix=".part")
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(data)
            os.replace(tmp, self.path(key, fmt))
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise


class RenderPool:
    """A bounded pool of render processes (or, with ``workers = 0``, the server's own threadpool)."""

    def __init__(self, workers: int, queue_limit: int, cache_dir: Path | None = None) -> None:
        self.workers = workers
        self.queue_limit = queue_limit
        self.cache = RenderCache(cache_dir) if cache_dir is not None else None
        self.rendered = 0  # renders done (not counting files served from the cache)
        self._executor: ProcessPoolExecutor | None = None
        self._slots: asyncio.Semaphore | None = None  # created in the running loop
        self._reads: asyncio.Semaphore | None = None
        self._admitted = 0  # exports running or waiting
        self._lock = threading.Lock()  # the executor is made and replaced from threadpool threads

    @classmethod
    def from_settings(cls, settings: Settings) -> RenderPool:
        return cls(settings.render_workers, settings.render_queue_limit, settings.data_dir / CACHE_SUBDIR)

    @property
    def started(self) -> bool:
        return self._executor is not None

    def _executor_now(self) -> ProcessPoolExecutor:
        if self._executor is None:
            context = multiprocessing.get_context(START_METHOD)
            self._executor = ProcessPoolExecutor(
                max_workers=self.workers, mp_context=context, initializer=_lower_priority
            )
            log.info("render pool started: %d %s processes", self.workers, START_METHOD)
        return self._executor

    def worker_pids(self) -> list[int]:
        """The live worker processes' ids (for tests and the benchmark)."""
        executor = self._executor
        processes = getattr(executor, "_processes", None) or {}
        return [p.pid for p in processes.values() if p.is_alive()]

    @contextlib.contextmanager
    def admit(self) -> Iterator[None]:
        """One export's place: running, or waiting for a process; :class:`RenderBusy` when there is none."""
        capacity = self.workers + self.queue_limit
        if self.workers and self._admitted >= capacity:
            log.warning("render refused: %d running or waiting (limit %d)", self._admitted, capacity)
            raise RenderBusy(RETRY_AFTER_S)
        self._admitted += 1
        try:
            yield
        finally:
            self._admitted -= 1

    async def read(self, gather: Callable[[], T]) -> T:
        """``gather`` (the export's database reads) in a thread, one export at a time: four threads building
        long documents at once held the GIL against the event loop for ~0.5 s; one at a time, one thread
        competes with it."""
        if self._reads is None:
            self._reads = asyncio.Semaphore(1)
        async with self._reads:
            return await asyncio.to_thread(gather)

    async def render(self, job: RenderJob, *, cache: bool = False) -> bytes:
        """The file's bytes; ``cache`` for content that never changes (a sealed version)."""
        key: str | None = None
        if cache and self.cache is not None:  # hashing a long meeting takes ~20 ms: not on the loop
            key, hit = await asyncio.to_thread(self.cache.lookup, job)
            if hit is not None:
                return hit
        if self.workers == 0:  # the baseline: in this process's threadpool, holding the GIL, no limit
            data = await asyncio.to_thread(render_job, job)
        else:
            if self._slots is None:
                self._slots = asyncio.Semaphore(self.workers)
            async with self._slots:  # queued here, not in the executor: a dead process fails only its own
                data = await self._run(job)
        self.rendered += 1
        if key is not None and self.cache is not None:
            await asyncio.to_thread(self.cache.put, key, job.fmt, data)
        return data

    def _submit(self, job: RenderJob) -> tuple[ProcessPoolExecutor, Future[bytes]]:
        with self._lock:
            executor = self._executor_now()
            future = executor.submit(render_job, job)
            # at once, before the new processes' imports compete with the server for the cores
            # (their initializer sets it again, for any process started later)
            for pid in self.worker_pids():
                _lower_priority(pid)
            return executor, future

    async def _run(self, job: RenderJob) -> bytes:
        # Starting the executor and its processes (submit spawns them) takes ~0.1 s: not on the loop.
        executor, future = await asyncio.to_thread(self._submit, job)
        try:
            return await asyncio.wrap_future(future)
        except BrokenProcessPool:
            log.error("a render process died; starting a new pool")
            self._replace(executor)
            raise RenderFailed() from None

    def _replace(self, broken: Executor) -> None:
        with self._lock:
            if self._executor is not broken:
                return  # another request whose render died replaced it already
            self._executor = None
        broken.shutdown(wait=False, cancel_futures=True)

    def shutdown(self) -> None:
        """Stop the worker processes (waits for a render under way; none is queued behind our semaphore)."""
        with self._lock:
            executor, self._executor = self._executor, None
        if executor is not None:
            executor.shutdown(wait=True, cancel_futures=True)
            log.info("render pool stopped")
