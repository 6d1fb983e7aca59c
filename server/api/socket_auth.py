"""Sockets and the login sessions they were opened with.

A socket (signaling ``/ws/meetings/{id}``, notifications ``/ws/notifications``) authenticates with a one-use
ticket (``?ticket=``, from ``POST /api/auth/ws-ticket``), a bearer header, the session cookie or, for outside
clients, a ``token`` query parameter. It stays bound to that login session: it is closed with
:data:`CLOSE_SESSION_ENDED` (4401) when the session is logged out (at once in this process; within
``ws_session_check_s`` when another process logged it out or an admin deactivated the account) and when the
session expires (a timer at the expiry, not only at the next message).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import threading
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import WebSocket

from server.api.deps import SESSION_COOKIE, token_from
from server.services import accounts
from server.services.accounts import SessionInfo

log = logging.getLogger(__name__)

CLOSE_SESSION_ENDED = 4401
SESSION_ENDED_CODE = "session_ended"
SESSION_ENDED_MESSAGE = "Phiên đăng nhập đã kết thúc (đăng xuất hoặc hết hạn). Vui lòng đăng nhập lại."

_registry_lock = threading.Lock()


async def authenticate(ws: WebSocket) -> SessionInfo:
    """The login session of a socket being opened; raises ``Unauthenticated``. A ticket is taken (used up)."""
    db = ws.app.state.db
    ticket = ws.query_params.get("ticket")
    token = token_from(
        ws.headers.get("authorization"), ws.cookies.get(SESSION_COOKIE), ws.query_params.get("token")
    )
    ip = ws.client.host if ws.client else ""

    def resolve() -> SessionInfo:
        with db.session() as session:
            return accounts.socket_session(session, ticket=ticket, token=token, ip=ip)

    return await asyncio.to_thread(resolve)


class SessionSockets:
    """The open sockets' watchers by login session id. Thread-safe: logout runs in a worker thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._by_session: dict[int, set[SessionWatch]] = {}

    def add(self, watch: SessionWatch) -> None:
        with self._lock:
            self._by_session.setdefault(watch.info.session_id, set()).add(watch)

    def remove(self, watch: SessionWatch) -> None:
        with self._lock:
            watches = self._by_session.get(watch.info.session_id)
            if watches is not None:
                watches.discard(watch)
                if not watches:
                    del self._by_session[watch.info.session_id]

    def session_ended(self, session_id: int) -> int:
        """Wake every socket of this session (each re-reads it and closes); how many were open."""
        with self._lock:
            watches = list(self._by_session.get(session_id, ()))
        for watch in watches:
            watch.wake()
        return len(watches)

    def count(self, session_id: int) -> int:
        with self._lock:
            return len(self._by_session.get(session_id, ()))


def session_sockets(app: Any) -> SessionSockets:
    """The app's registry, made on first use."""
    with _registry_lock:
        registry: SessionSockets | None = getattr(app.state, "session_sockets", None)
        if registry is None:
            registry = SessionSockets()
            app.state.session_sockets = registry
        return registry


class SessionWatch:
    """Calls ``on_end`` once when the socket's login session ends: logout, expiry, deactivation."""

    def __init__(self, ws: WebSocket, info: SessionInfo, on_end: Callable[[], Awaitable[None]]) -> None:
        self.ws = ws
        self.info = info
        self.on_end = on_end
        self._db = ws.app.state.db
        self._check_s: float = ws.app.state.settings.ws_session_check_s
        self._loop = asyncio.get_running_loop()
        self._woken = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._registry = session_sockets(ws.app)

    def wake(self) -> None:
        self._loop.call_soon_threadsafe(self._woken.set)

    def start(self) -> SessionWatch:
        self._registry.add(self)
        self._task = self._loop.create_task(self._run())
        return self

    async def stop(self) -> None:
        self._registry.remove(self)
        if self._task is not None and self._task is not asyncio.current_task():
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass

    def _expiry(self) -> dt.datetime | None:
        with self._db.session() as session:
            return accounts.session_expiry(session, self.info.session_id)

    async def _run(self) -> None:
        # read once more now that a logout wakes this watch: one committed between the socket's
        # authentication and start() woke nothing, and was seen only at the next periodic check (30 s)
        expires_at: dt.datetime | None = await asyncio.to_thread(self._expiry)
        while expires_at is not None:
            left_s = (expires_at - dt.datetime.now(dt.UTC)).total_seconds()
            if left_s > 0:
                try:
                    await asyncio.wait_for(self._woken.wait(), timeout=min(left_s, self._check_s))
                except TimeoutError:
                    pass
                self._woken.clear()
            expires_at = await asyncio.to_thread(self._expiry)
        log.info(
            "session %s of %s ended: closing its socket %s",
            self.info.session_id,
            self.info.actor.username,
            self.ws.url.path,
        )
        self._registry.remove(self)
        try:
            await self.on_end()
        except Exception as exc:  # noqa: BLE001 - the socket may already be gone
            log.debug("closing a socket whose session ended: %s", exc)
