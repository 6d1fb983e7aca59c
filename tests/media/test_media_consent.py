"""ICE consent freshness (server/media/aiortc_hooks/consent.py `install_consent_window`): a peer that answers
every consent check, but late, keeps its connection; a peer that stops answering loses it on time (RFC 7675).

Two real aioice connections on loopback; the checks' interval is shortened (aioice's CONSENT_INTERVAL, read
at each check) so that consent expires after 2.4 s instead of 30 s. The late peer delays each answer by
0.8 s, over STUN's first RTO (0.5 s): aioice's own check counted every such answer as a failure.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import aioice.ice
import pytest

from server.media import aiortc_hooks as hooks

INTERVAL_S = 0.4  # expiry: 6 checks' worth, 2.4 s
LATE_S = 0.8


@pytest.fixture(autouse=True)
def short_consent(monkeypatch: pytest.MonkeyPatch) -> None:
    hooks.install_ice_host_addresses(["127.0.0.1"])
    monkeypatch.setattr(aioice.ice, "CONSENT_INTERVAL", INTERVAL_S)


Pair = tuple[aioice.ice.Connection, aioice.ice.Connection]


def answer_late(peer: aioice.ice.Connection, delay_s: float | None) -> None:
    """The peer answers each check `delay_s` late (None: never), as a peer whose loop or link is slow."""
    answer = peer.request_received
    loop = asyncio.get_running_loop()

    def late(*args: Any) -> None:
        if delay_s is not None:
            loop.call_later(delay_s, answer, *args)

    peer.request_received = late  # type: ignore[method-assign]


async def closed_within(conn: aioice.ice.Connection, timeout_s: float) -> bool:
    try:
        while True:
            event = await asyncio.wait_for(conn.get_event(), timeout_s)
            if isinstance(event, aioice.ice.ConnectionClosed):
                return True
    except TimeoutError:
        return False


@pytest.mark.asyncio
async def test_late_answers_keep_consent_with_the_window(
    connect: Callable[[], Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(aioice.ice.Connection, "query_consent", hooks._original_query_consent)
    hooks.install_consent_window()
    assert hooks.consent_window_installed()
    server, peer = await connect()
    answer_late(peer, LATE_S)
    assert not await closed_within(server, 6.0)  # 2.5 expiries' time
    await server.send(b"still here")
    assert await asyncio.wait_for(peer.recv(), 2.0) == b"still here"


@pytest.mark.asyncio
async def test_aioices_own_check_drops_the_same_peer(
    connect: Callable[[], Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The baseline: the same late peer, aioice's check (each answer must come within 0.5 s)."""
    monkeypatch.setattr(aioice.ice.Connection, "query_consent", hooks._original_query_consent)
    server, peer = await connect()
    answer_late(peer, LATE_S)
    assert await closed_within(server, 6.0)


@pytest.mark.asyncio
async def test_a_silent_peer_loses_consent_on_time(
    connect: Callable[[], Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(aioice.ice.Connection, "query_consent", hooks._original_query_consent)
    hooks.install_consent_window()
    server, peer = await connect()
    answer_late(peer, None)
    started = asyncio.get_running_loop().time()
    assert await closed_within(server, 10.0)
    # no answer for 2.4 s, noticed at the end of the check in flight (up to its 3.5 s window) + one interval
    assert asyncio.get_running_loop().time() - started < 2.4 + hooks.CONSENT_ANSWER_WINDOW_S + 1.5
