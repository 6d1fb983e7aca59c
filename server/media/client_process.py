"""Run MediaClients in another process, driven over a multiprocessing pipe (tests, benchmarks, load).

Messages to the child: ("offer", key, Offer) -> ("answer", key, sdp); ("stats",) -> ("stats", {key:
ClientStats}); ("close",) -> ("closed",). The clients of the participant ids given at the start are made
then (keyed by their id); a key never seen before gets its client on its first offer, for the offer's
participant id (a load driver keys its clients by meeting and account, the server gives the id). Any other
message goes to the child's extension, when the process has one (the Janus benchmark's publishers), and its
reply goes back.
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
from collections.abc import Callable
from multiprocessing.connection import Connection
from typing import Any, Protocol

from server.media.client import ClientConfig, MediaClient
from server.media.events import Offer
from server.media.stats import ClientStats

logger = logging.getLogger(__name__)


class ChildExtension(Protocol):
    """What a child process does besides its MediaClients: answers its own messages, closes last."""

    async def handle(self, message: tuple[Any, ...]) -> tuple[object, ...]: ...

    async def close(self) -> None: ...


# Called in the child with the participant ids and the config; sent to it by pickling (spawn): a class or a
# function at a module's top level.
ExtensionFactory = Callable[[list[str], ClientConfig], ChildExtension]


def client_process_main(
    conn: Connection,
    participant_ids: list[str],
    config: ClientConfig,
    extension: ExtensionFactory | None = None,
) -> None:
    """Entry point of the child process: one event loop holding one MediaClient per key."""
    asyncio.run(_serve(conn, participant_ids, config, extension))


async def _serve(
    conn: Connection, participant_ids: list[str], config: ClientConfig, extension: ExtensionFactory | None
) -> None:
    loop = asyncio.get_running_loop()
    extra = extension(participant_ids, config) if extension is not None else None
    clients = {pid: MediaClient(pid, config) for pid in participant_ids}
    try:
        while True:
            message = await loop.run_in_executor(None, conn.recv)
            if message[0] == "offer":
                _, key, offer = message
                client = clients.get(key)
                if client is None:
                    client = clients[key] = MediaClient(offer.participant_id, config)
                try:
                    conn.send(("answer", key, await client.accept_offer(offer)))
                except Exception as exc:  # noqa: BLE001 - one client's failure (e.g. its connection closed)
                    # is reported to the parent; the process and its other clients go on
                    conn.send(("failed", key, f"{type(exc).__name__}: {exc}"))
            elif message[0] == "stats":
                conn.send(("stats", {key: c.stats() for key, c in clients.items()}))
            elif message[0] == "close":
                break
            elif extra is not None:
                conn.send(await extra.handle(message))
            else:
                logger.warning("client process: unknown message %r", message[0])
    finally:
        for client in clients.values():
            await client.close()
        if extra is not None:
            await extra.close()
        conn.send(("closed",))


class ClientFailed(RuntimeError):
    """One client of the process could not do what was asked (its process goes on)."""


class ClientProcess:
    """The parent's handle on a child process of MediaClients; calls are answered one at a time, in order,
    whichever tasks make them."""

    def __init__(
        self,
        participant_ids: list[str],
        config: ClientConfig,
        extension: ExtensionFactory | None = None,
    ) -> None:
        ctx = multiprocessing.get_context("spawn")
        self._conn, child = ctx.Pipe()
        self._lock = asyncio.Lock()
        self.participant_ids = participant_ids
        self.process = ctx.Process(
            target=client_process_main, args=(child, participant_ids, config, extension), daemon=True
        )
        self.process.start()

    async def answer(self, key: str, offer: Offer) -> str:
        """The answer of the client of ``key`` (a participant id given at the start, or any other key: its
        client is made now, for ``offer.participant_id``)."""
        reply = await self.call("offer", key, offer)
        if reply[0] != "answer":
            raise ClientFailed(f"client {key} could not answer: {reply[2]}")
        return str(reply[2])

    async def stats(self) -> dict[str, ClientStats]:
        reply = await self.call("stats")
        stats: dict[str, ClientStats] = reply[1]
        return stats

    async def close(self) -> None:
        try:
            await self.call("close")
        finally:
            self.process.join(timeout=10)
            if self.process.is_alive():
                self.process.kill()

    async def call(self, *message: object) -> tuple[Any, ...]:
        """Send one message and wait for its reply (an extension's messages go this way too)."""
        loop = asyncio.get_running_loop()
        async with self._lock:
            self._conn.send(message)
            reply: tuple[Any, ...] = await loop.run_in_executor(None, self._conn.recv)
            return reply
