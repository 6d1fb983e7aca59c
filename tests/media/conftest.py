"""Fixtures of the media tests."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

import aioice.ice
import pytest_asyncio

from server.media import aiortc_hooks as hooks


@pytest_asyncio.fixture
async def connect() -> AsyncIterator[Callable[[], Any]]:
    """`await connect()`: two real aioice connections on loopback, connected, (server, peer); closed after."""
    hooks.install_ice_host_addresses(["127.0.0.1"])
    made: list[aioice.ice.Connection] = []

    async def make() -> tuple[aioice.ice.Connection, aioice.ice.Connection]:
        server = aioice.ice.Connection(ice_controlling=True, use_ipv6=False)
        peer = aioice.ice.Connection(ice_controlling=False, use_ipv6=False)
        made.extend([server, peer])
        await asyncio.gather(server.gather_candidates(), peer.gather_candidates())
        for a, b in ((server, peer), (peer, server)):
            a.remote_username, a.remote_password = b.local_username, b.local_password
            for candidate in b.local_candidates:
                await a.add_remote_candidate(candidate)
            await a.add_remote_candidate(None)
        await asyncio.gather(server.connect(), peer.connect())
        return server, peer

    yield make
    for conn in made:
        await conn.close()
