"""ICE sockets drained each turn of the event loop (server/media/aiortc_hooks/ice.py `install_udp_drain`).

Issue 15: at 1 hall + 135 communes with the chair's wall, the hall's connection closed on ICE consent
expiry (both sides: "no check answered for 32 s" in the hall's client, 36 s in the server) while every
commune's held. asyncio reads one datagram per socket per turn of the loop; with 136 sockets a turn is
long, and the busiest socket (the hall's) falls behind until its 4 MB buffer holds ~30 s of packets, which
its consent checks and their answers wait behind. Here two real aioice connections on loopback; the
server's loop is made slow (each turn burns TURN_S, as 135 other sockets' datagrams would), a backlog of
BACKLOG datagrams waits on the server's socket, and the peer sends a consent check as aioice's consent task
does (retransmitted, answered within CONSENT_ANSWER_WINDOW_S): drained, it is answered in time; read one
datagram a turn (asyncio's own), it is not.
"""

from __future__ import annotations

import asyncio
import asyncio.selector_events
import socket
import time
from collections.abc import Callable
from typing import Any

import aioice.ice
import aioice.stun
import pytest

from server.media import aiortc_hooks as hooks
from server.media.aiortc_hooks import ice as ice_hooks

pytestmark = pytest.mark.any_database

# datagrams waiting on the server's socket: as many as its receive buffer holds, up to 1000 (a 100-byte
# loopback datagram takes ~830 bytes of it: 1000 fit in this machine's 8 MB, ~250 in a stock kernel's 208 KB)
BACKLOG = min(1000, hooks.effective_udp_rcvbuf_bytes(hooks.DEFAULT_UDP_RCVBUF_BYTES) // 1000)
# one turn of a loop holding ~136 busy ICE sockets (5 ms for 1000): one datagram a turn, the backlog takes
# 5 s, over the 3.5 s answer window; drained, 32 a turn, ~0.2 s
TURN_S = 5.0 / BACKLOG


@pytest.fixture(autouse=True)
def receive_buffers() -> None:
    hooks.install_udp_rcvbuf()  # the server's: the backlog below is sized to what the kernel grants


async def consent_answered(server: aioice.ice.Connection, peer: aioice.ice.Connection) -> float | None:
    """Seconds the peer's consent check took to be answered behind the backlog on a slow loop (None: not
    within the window)."""
    loop = asyncio.get_running_loop()
    burning = True

    def turn() -> None:  # one callback a turn: the turn takes TURN_S
        end = time.perf_counter() + TURN_S
        while time.perf_counter() < end:
            pass
        if burning:
            loop.call_soon(turn)

    pair = next(iter(peer._nominated.values()))
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as junk:
        for i in range(BACKLOG):  # not STUN: RTP-like datagrams queued for the server's connection
            junk.sendto(bytes([0x80, 96]) + i.to_bytes(2, "big") + bytes(96), pair.remote_addr)
    loop.call_soon(turn)
    t0 = loop.time()
    try:
        await pair.protocol.request(
            peer.build_request(pair, nominate=False),
            pair.remote_addr,
            integrity_key=peer.remote_password.encode("utf8"),
            retransmissions=hooks.CONSENT_RETRANSMISSIONS,
        )
        return loop.time() - t0
    except aioice.stun.TransactionError:
        return None
    finally:
        burning = False


@pytest.mark.asyncio
async def test_a_drained_socket_answers_consent_behind_a_backlog(connect: Callable[[], Any]) -> None:
    hooks.install_udp_drain()
    assert hooks.udp_drain_installed()
    server, peer = await connect()
    took = await consent_answered(server, peer)
    assert took is not None and took < hooks.CONSENT_ANSWER_WINDOW_S, took
    assert server._queue.qsize() >= BACKLOG - 10  # the backlog was read, not lost


@pytest.mark.asyncio
async def test_one_datagram_a_turn_misses_the_window(
    connect: Callable[[], Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The baseline: asyncio's own read, one datagram a turn (the hall's closed connection)."""
    transport = asyncio.selector_events._SelectorDatagramTransport  # type: ignore[attr-defined]
    monkeypatch.setattr(transport, "_read_ready", ice_hooks._original_read_ready)
    server, peer = await connect()
    assert await consent_answered(server, peer) is None


def test_other_datagram_sockets_read_as_asyncio_does() -> None:
    assert hooks.udp_drain_problems() == []
    hooks.install_udp_drain()

    class Other(asyncio.DatagramProtocol):
        got: list[bytes] = []

        def datagram_received(self, data: bytes, addr: tuple[Any, ...]) -> None:
            self.got.append(data)

    async def run() -> int:
        loop = asyncio.get_running_loop()
        transport, protocol = await loop.create_datagram_endpoint(Other, local_addr=("127.0.0.1", 0))
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            for _ in range(5):
                s.sendto(b"x", transport.get_extra_info("sockname"))
        await asyncio.sleep(0)
        await asyncio.sleep(0)
        transport.close()
        return len(protocol.got)

    assert 1 <= asyncio.run(run()) <= 2  # one a turn: the drain is for ICE sockets only


def test_changed_internals_switch_the_drain_off_at_start(monkeypatch: pytest.MonkeyPatch) -> None:
    """Checked at import with the other hooks (self_check): when asyncio's read changed shape, `udp_drain` is
    listed off (as /api/health shows it) and installing it leaves asyncio's own read in place."""
    transport = asyncio.selector_events._SelectorDatagramTransport  # type: ignore[attr-defined]
    monkeypatch.setattr(transport, "_read_ready", ice_hooks._original_read_ready)
    changed = (*ice_hooks._READ_READY_NEEDS, "self._reads_a_batch()")
    monkeypatch.setattr(ice_hooks, "_READ_READY_NEEDS", changed)
    try:
        hooks.self_check()
        assert list(hooks.disabled_accelerations()) == ["udp_drain"]
        assert "self._reads_a_batch()" in hooks.disabled_accelerations()["udp_drain"][0]
        hooks.install_udp_drain()
        assert not hooks.udp_drain_installed()
    finally:
        monkeypatch.undo()
        hooks.self_check()
    assert hooks.accelerated("udp_drain")
