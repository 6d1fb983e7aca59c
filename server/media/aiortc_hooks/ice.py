"""ICE host addresses and UDP receive buffers (aioice `get_host_addresses`, `turn.UDP_SOCKET_BUFFER_SIZE`),
and ICE sockets drained each turn of the event loop (asyncio `_SelectorDatagramTransport._read_ready`)."""

from __future__ import annotations

import asyncio
import asyncio.selector_events
import inspect
import socket
from collections.abc import Sequence
from typing import Any

import aioice.ice
import aioice.turn

from server.media.aiortc_hooks.registry import accelerated

DEFAULT_UDP_RCVBUF_BYTES = 4 * 1024 * 1024


_host_addresses: list[str] | None = None
_original_get_host_addresses = aioice.ice.get_host_addresses


def _configured_host_addresses(use_ipv4: bool, use_ipv6: bool) -> list[str]:
    if _host_addresses is None:
        return _original_get_host_addresses(use_ipv4=use_ipv4, use_ipv6=use_ipv6)
    return list(_host_addresses)


def install_ice_host_addresses(addresses: Sequence[str]) -> None:
    """Make aioice gather host candidates on exactly these addresses (process-wide).

    aioice's `get_host_addresses` skips loopback and offers every other interface address; on a closed
    network the operator chooses the addresses. Server and client share the same setting.
    """
    global _host_addresses
    _host_addresses = list(addresses)
    aioice.ice.get_host_addresses = _configured_host_addresses


def install_udp_rcvbuf(size_bytes: int = DEFAULT_UDP_RCVBUF_BYTES) -> None:
    """Ask for `size_bytes` of UDP receive buffer on every ICE socket (aioice reads this constant per bind).

    The kernel caps the value at net.core.rmem_max unless the process may use SO_RCVBUFFORCE.
    """
    aioice.turn.UDP_SOCKET_BUFFER_SIZE = size_bytes


def effective_udp_rcvbuf_bytes(size_bytes: int) -> int:
    """What the kernel grants for a requested SO_RCVBUF (it doubles the request and caps at rmem_max)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, size_bytes)
        return int(sock.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF))


# asyncio's datagram transport reads ONE datagram per readiness of its socket, per turn of the event loop
# (`_SelectorDatagramTransport._read_ready`). With 136 ICE sockets in one loop, a turn costs every ready
# socket's datagram: a socket that receives more datagrams per second than the loop has turns (the chairing
# hall's: its camera and microphone, forwarded to 135 viewers each, plus its RTCP for the 25 thumbnails of its
# wall) falls behind for good, and its 4 MB buffer (thousands of datagrams: tens of seconds of the hall's)
# fills: its STUN consent checks and answers wait behind that backlog longer than the answer window, in both
# directions, and the hall's connection closes on consent expiry (issue 15). An ICE socket here reads what is
# waiting, up to UDP_READS_PER_TURN datagrams a turn (asyncio's own loop, repeated; other sockets unchanged).
UDP_READS_PER_TURN = 32
_original_read_ready = asyncio.selector_events._SelectorDatagramTransport._read_ready  # type: ignore[attr-defined]
_READ_READY_NEEDS = (
    "if self._conn_lost:",
    "data, addr = self._sock.recvfrom(self.max_size)",
    "except (BlockingIOError, InterruptedError):",
    "except OSError as exc:",
    "self._protocol.error_received(exc)",
    "self._fatal_error(exc, 'Fatal read error on datagram transport')",
    "self._protocol.datagram_received(data, addr)",
)
_INIT_NEEDS = "self._sock_fd, self._read_ready)"


def _read_ready_draining(self: Any) -> None:
    """asyncio's `_SelectorDatagramTransport._read_ready` (uses _conn_lost, _closing, _sock, max_size,
    _protocol, _fatal_error), repeated while datagrams wait, up to UDP_READS_PER_TURN, on aioice's ICE
    sockets."""
    if not isinstance(self._protocol, aioice.ice.StunProtocol):
        _original_read_ready(self)
        return
    for _ in range(UDP_READS_PER_TURN):
        if self._conn_lost or self._closing:  # asyncio removes its reader at close(); stop reading as well
            return
        try:
            data, addr = self._sock.recvfrom(self.max_size)
        except (BlockingIOError, InterruptedError):
            return
        except OSError as exc:
            self._protocol.error_received(exc)
            return
        except (SystemExit, KeyboardInterrupt):
            raise
        except BaseException as exc:  # noqa: BLE001 - asyncio's own handling, as in _read_ready
            self._fatal_error(exc, "Fatal read error on datagram transport")
            return
        self._protocol.datagram_received(data, addr)


def udp_drain_problems() -> list[str]:
    """What `install_udp_drain` relies on in asyncio and no longer finds (empty: all there)."""
    transport = asyncio.selector_events._SelectorDatagramTransport  # type: ignore[attr-defined]
    problems: list[str] = []
    if not isinstance(getattr(aioice.ice, "StunProtocol", None), type):
        problems.append("aioice.ice.StunProtocol (the ICE sockets' protocol) is missing")
    read_src = inspect.getsource(_original_read_ready)
    for needle in _READ_READY_NEEDS:
        if needle not in read_src:
            problems.append(f"asyncio's datagram _read_ready no longer does {needle!r}")
    if "self._closing = False" not in inspect.getsource(asyncio.selector_events._SelectorTransport.__init__):  # type: ignore[attr-defined]
        problems.append("asyncio's selector transport no longer has a _closing flag")
    if _INIT_NEEDS not in inspect.getsource(transport.__init__):
        problems.append("asyncio's datagram transport no longer registers self._read_ready as its reader")
    return problems


def install_udp_drain() -> None:
    """ICE sockets read every waiting datagram (up to UDP_READS_PER_TURN) each turn of the loop (process-wide,
    for the sockets made after it); a no-op while the `udp_drain` hook is off (self_check found asyncio's or
    aioice's internals changed, warned and listed it in /api/health)."""
    transport = asyncio.selector_events._SelectorDatagramTransport  # type: ignore[attr-defined]
    if accelerated("udp_drain") and transport._read_ready is not _read_ready_draining:
        transport._read_ready = _read_ready_draining


def udp_drain_installed() -> bool:
    transport = asyncio.selector_events._SelectorDatagramTransport  # type: ignore[attr-defined]
    return transport._read_ready is _read_ready_draining  # type: ignore[no-any-return]
