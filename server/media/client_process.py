"""Run MediaClients in another process, driven over a multiprocessing pipe (tests, benchmark, load).

Messages to the child: ("offer", participant_id, Offer) -> ("answer", participant_id, sdp);
("stats",) -> ("stats", {participant_id: ClientStats}); ("close",) -> ("closed",).
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
from multiprocessing.connection import Connection

from server.media.client import ClientConfig, MediaClient
from server.media.events import Offer
from server.media.stats import ClientStats

logger = logging.getLogger(__name__)


def client_process_main(conn: Connection, participant_ids: list[str], config: ClientConfig) -> None:
    """Entry point of the child process: one event loop holding one MediaClient per participant id."""
    asyncio.run(_serve(conn, participant_ids, config))


async def _serve(conn: Connection, participant_ids: list[str], config: ClientConfig) -> None:
    loop = asyncio.get_running_loop()
    clients = {pid: MediaClient(pid, config) for pid in participant_ids}
    try:
        while True:
            message = await loop.run_in_executor(None, conn.recv)
            if message[0] == "offer":
                _, pid, offer = message
                sdp = await clients[pid].accept_offer(offer)
                conn.send(("answer", pid, sdp))
            elif message[0] == "stats":
                conn.send(("stats", {pid: c.stats() for pid, c in clients.items()}))
            elif message[0] == "close":
                break
    finally:
        for client in clients.values():
            await client.close()
        conn.send(("closed",))


class ClientProcess:
    """The parent's handle on a child process of MediaClients."""

    def __init__(self, participant_ids: list[str], config: ClientConfig) -> None:
        ctx = multiprocessing.get_context("spawn")
        self._conn, child = ctx.Pipe()
        self.participant_ids = participant_ids
        self.process = ctx.Process(
            target=client_process_main, args=(child, participant_ids, config), daemon=True
        )
        self.process.start()

    async def answer(self, participant_id: str, offer: Offer) -> str:
        reply = await self._call(("offer", participant_id, offer))
        return str(reply[2])

    async def stats(self) -> dict[str, ClientStats]:
        reply = await self._call(("stats",))
        stats: dict[str, ClientStats] = reply[1]  # type: ignore[assignment]
        return stats

    async def close(self) -> None:
        try:
            await self._call(("close",))
        finally:
            self.process.join(timeout=10)
            if self.process.is_alive():
                self.process.kill()

    async def _call(self, message: tuple[object, ...]) -> tuple[object, ...]:
        loop = asyncio.get_running_loop()
        self._conn.send(message)
        reply: tuple[object, ...] = await loop.run_in_executor(None, self._conn.recv)
        return reply
