"""Types of the optional C extension server/media/_rtpsend.c (see its header comment)."""

from collections.abc import Callable, Sequence
from typing import Any

GUARD_ATTR_IS: int
GUARD_ITEM_IS: int
GUARD_ATTR_EMPTY: int
BUFFER_BYTES: int

class RtpSender:
    def __init__(
        self, payload_type: int, ssrc: int, profile: int, layouts: Sequence[tuple[int, bytes]]
    ) -> None: ...
    def arm(
        self,
        fd: int,
        family: int,
        address: tuple[str, int],
        fallback: Callable[[bytes, tuple[str, int]], object],
        session: object,
        srtp: int,
        protect: int,
        max_packet_bytes: int,
        guards: Sequence[tuple[Any, Any, Any, int]],
        /,
    ) -> None: ...
    def disarm(self) -> None: ...
    def send(self, seq: int, ts: int, marker: int, tail: bytes, payload: bytes, /) -> int: ...
    def packet(self, seq: int, ts: int, marker: int, tail: bytes, payload: bytes, /) -> bytes: ...
    payload_type: int
    @property
    def armed(self) -> bool: ...
    @property
    def counts(self) -> tuple[int, int, int]: ...
