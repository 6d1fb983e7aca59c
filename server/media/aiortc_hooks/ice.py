"""ICE host addresses and UDP receive buffers (aioice `get_host_addresses`, `turn.UDP_SOCKET_BUFFER_SIZE`)."""

from __future__ import annotations

import socket
from collections.abc import Sequence

import aioice.ice
import aioice.turn

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
