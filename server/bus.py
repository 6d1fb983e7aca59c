"""What a process tells the sockets at once, its own and, through Redis, those of the site's other processes:
a notification was written, a login session ended.

A notification is a row of the outbox table (``server.services.notifications``); each ``/ws/notifications``
socket reads its user's new rows. Without a bus it would only find them by polling. Here:

- :func:`watch_commits` hooks the database's sessions: when a transaction that wrote notifications commits
  (``notifications.notify`` lists whom they are for in ``session.info``), the sockets of those units and
  users in this process are woken (:class:`NotificationHub`), and, when ``GIAOBAN_REDIS_URL`` is set, one
  message per commit is published on :data:`CHANNEL`;
- :class:`RedisBus` publishes from its own thread (a commit never waits for Redis) and listens in another: a
  message from another process wakes the sockets here of the units and users it names;
- a logout (:meth:`RedisBus.sessions_ended`) reaches the other processes the same way: their sockets opened
  with that login session re-read it and close (4401) at once, not at their next check
  (``GIAOBAN_WS_SESSION_CHECK_S``, which still catches a deactivation made from the command line).

A woken socket reads the database as it does when polling, so the bus carries no notification, only "look
now", and losing one only delays a notification to the next poll: every :data:`POLL_S` seconds, or every
``GIAOBAN_NOTIFY_FALLBACK_POLL_S`` (10 s) while the Redis bus is listening (writers outside ``giaoban
serve`` — a CLI command — do not publish). Redis down: the sockets poll every :data:`POLL_S` again until the
listener is back.
"""

from __future__ import annotations

import asyncio
import json
import logging
import queue
import threading
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import Any

import redis
from sqlalchemy import event
from sqlalchemy.orm import Session, SessionTransaction

from server.db import Database
from server.services.notifications import WRITTEN_KEY, Recipient

log = logging.getLogger(__name__)

CHANNEL = "giaoban:bus"
POLL_S = 1.0  # without the Redis bus (one process, the default): as before
REDIS_TIMEOUT_S = 1.0
RETRY_MAX_S = 5.0

Key = tuple[str, int]  # ("unit", id) or ("user", id)


def _keys(r: Recipient) -> list[Key]:
    keys: list[Key] = []
    if r.unit_id is not None:
        keys.append(("unit", r.unit_id))
    if r.user_id is not None:
        keys.append(("user", r.user_id))
    return keys


class NotificationHub:
    """The notification sockets of this process waiting for their next look, by unit and by user. Lives on
    the serving loop; :meth:`wake_threadsafe` may be called from any thread."""

    def __init__(self, poll_with_bus_s: float = 10.0) -> None:
        self.poll_with_bus_s = poll_with_bus_s  # GIAOBAN_NOTIFY_FALLBACK_POLL_S
        self._waiting: dict[Key, set[asyncio.Event]] = defaultdict(set)
        self._loop: asyncio.AbstractEventLoop | None = None
        self.bus_listening = False  # set by RedisBus while its listener is subscribed
        self.woken = 0  # sockets woken (measurements, tests)

    def bind(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop

    @property
    def poll_s(self) -> float:
        return self.poll_with_bus_s if self.bus_listening else POLL_S

    @contextmanager
    def waiting(self, unit_id: int, user_id: int) -> Iterator[asyncio.Event]:
        """An event set whenever a notification for ``unit_id`` or ``user_id`` was committed."""
        wake = asyncio.Event()
        keys = [("unit", unit_id), ("user", user_id)]
        for key in keys:
            self._waiting[key].add(wake)
        try:
            yield wake
        finally:
            for key in keys:
                waiting = self._waiting.get(key)
                if waiting is not None:
                    waiting.discard(wake)
                    if not waiting:
                        del self._waiting[key]

    def wake(self, recipients: Iterable[Recipient]) -> None:
        for r in recipients:
            for key in _keys(r):
                for wake in self._waiting.get(key, ()):
                    wake.set()
                    self.woken += 1

    def wake_threadsafe(self, recipients: list[Recipient]) -> None:
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        try:
            loop.call_soon_threadsafe(self.wake, recipients)
        except RuntimeError:  # the loop closed meanwhile (shutdown)
            pass


SessionsEnded = Callable[[list[int]], object]


class RedisBus:
    """The Redis side: one publisher thread fed by a queue, one listener thread. ``on_sessions_ended`` is
    called (in the listener thread) with the login sessions another process ended."""

    def __init__(self, url: str, hub: NotificationHub, on_sessions_ended: SessionsEnded) -> None:
        self.url = url
        self.hub = hub
        self.on_sessions_ended = on_sessions_ended
        self.origin = uuid.uuid4().hex[:12]  # our own messages are not read back
        self._out: queue.Queue[dict[str, Any] | None] = queue.Queue()
        self._stop = threading.Event()
        self._threads = [
            threading.Thread(target=self._publish, name="giaoban-notify-pub", daemon=True),
            threading.Thread(target=self._listen, name="giaoban-notify-sub", daemon=True),
        ]

    def _client(self) -> redis.Redis:
        return redis.Redis.from_url(
            self.url, socket_timeout=REDIS_TIMEOUT_S, socket_connect_timeout=REDIS_TIMEOUT_S
        )

    def start(self) -> None:
        for t in self._threads:
            t.start()

    def stop(self) -> None:
        self._stop.set()
        self._out.put(None)
        for t in self._threads:
            t.join(timeout=REDIS_TIMEOUT_S * 3)

    def notified(self, recipients: list[Recipient]) -> None:
        """Queue one message: notifications were committed for these (never blocks: called at a commit)."""
        self._out.put({"to": [[r.unit_id, r.user_id] for r in recipients]})

    def sessions_ended(self, session_ids: list[int]) -> None:
        """Queue one message: these login sessions ended (logout)."""
        self._out.put({"sessions_ended": session_ids})

    def _publish(self) -> None:
        client = self._client()
        while (body := self._out.get()) is not None:
            try:
                client.publish(CHANNEL, json.dumps({"origin": self.origin, **body}))
            except redis.RedisError as exc:  # the others see it at their next poll or session check
                log.warning("bus: not published on Redis (%s)", exc)

    def _listen(self) -> None:
        wait_s = 0.2
        while not self._stop.is_set():
            pubsub = self._client().pubsub(ignore_subscribe_messages=True)
            try:
                pubsub.subscribe(CHANNEL)
                if not self.hub.bus_listening:
                    log.info("bus: listening on Redis (%s)", CHANNEL)
                self.hub.bus_listening, wait_s = True, 0.2
                while not self._stop.is_set():
                    msg = pubsub.get_message(timeout=REDIS_TIMEOUT_S / 2)
                    if msg is not None:
                        self._received(msg)
            except redis.RedisError as exc:
                if self.hub.bus_listening:
                    log.warning("bus: Redis lost, notification sockets poll every %.0f s: %s", POLL_S, exc)
                self.hub.bus_listening = False
                self._stop.wait(wait_s)
                wait_s = min(wait_s * 2, RETRY_MAX_S)
            finally:
                try:
                    pubsub.close()
                except redis.RedisError:
                    pass
        self.hub.bus_listening = False

    def _received(self, msg: dict[str, Any]) -> None:
        try:
            body = json.loads(msg["data"])
            if body.get("origin") == self.origin:
                return
            recipients = [Recipient(unit_id=u, user_id=p) for u, p in body.get("to", [])]
            ended = [int(i) for i in body.get("sessions_ended", [])]
        except (ValueError, KeyError, TypeError) as exc:
            log.warning("bus: unreadable message on %s: %s", CHANNEL, exc)
            return
        if recipients:
            self.hub.wake_threadsafe(recipients)
        if ended:
            self.on_sessions_ended(ended)


def watch_commits(db: Database, hub: NotificationHub, relay: RedisBus | None) -> None:
    """After each commit that wrote notifications: wake the sockets here, publish for the other processes."""

    def after_commit(session: Session) -> None:
        recipients: list[Recipient] | None = session.info.pop(WRITTEN_KEY, None)
        if not recipients:
            return
        hub.wake_threadsafe(recipients)
        if relay is not None:
            relay.notified(recipients)

    def after_soft_rollback(session: Session, previous: SessionTransaction) -> None:
        if previous.parent is None:  # the whole transaction, not a savepoint: nothing was written
            session.info.pop(WRITTEN_KEY, None)

    event.listen(db.sessionmaker, "after_commit", after_commit)
    event.listen(db.sessionmaker, "after_soft_rollback", after_soft_rollback)
