"""Database work of the live core, off the event loop that forwards RTP.

Every ``db.session()`` of ``server.live`` runs through :func:`in_thread` (``await core._db(fn)``): SQLite may
wait up to its busy timeout (10 s) for a lock held by another writer, and a wait on the loop also stalls the
threadpool requests whose commit is scheduled from the loop (FastAPI's session dependency), so both waited out
the timeout and one failed with "database is locked". :func:`write_retrying` is for writes that must not be
lost (a recording's final state): it retries when the database stays locked.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import TypeVar

from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from server.db import Database

log = logging.getLogger(__name__)

T = TypeVar("T")

RETRY_ATTEMPTS = 20  # a write kept failing this many times is given up (20 x (10 s busy wait + backoff))
RETRY_FIRST_WAIT_S = 0.2
RETRY_MAX_WAIT_S = 5.0


async def in_thread(db: Database, fn: Callable[[Session], T]) -> T:
    """Run ``fn`` in one session (one transaction) in a worker thread."""

    def run() -> T:
        with db.session() as session:
            return fn(session)

    return await asyncio.to_thread(run)


async def write_retrying(
    db: Database,
    fn: Callable[[Session], T],
    what: str,
    *,
    attempts: int = RETRY_ATTEMPTS,
    first_wait_s: float = RETRY_FIRST_WAIT_S,
) -> T:
    """:func:`in_thread`, tried again with a growing pause while the database refuses (locked, busy, a
    connection lost); the last failure is raised."""
    wait_s = first_wait_s
    for attempt in range(1, attempts + 1):
        try:
            return await in_thread(db, fn)
        except OperationalError as exc:
            if attempt == attempts:
                raise
            log.warning("%s: database refused (attempt %d of %d), retrying: %s", what, attempt, attempts, exc)
            await asyncio.sleep(wait_s)
            wait_s = min(wait_s * 2, RETRY_MAX_WAIT_S)
    raise AssertionError("unreachable")
