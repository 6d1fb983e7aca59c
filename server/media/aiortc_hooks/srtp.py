"""pylibsrtp sessions used without their per-call wrapper (`Session._srtp`, `_cdata`, `_buffer`): the
protect of the direct send and the unprotect of the receive fast path, and libsrtp's `srtp_protect` address
for the C sender."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pylibsrtp
from pylibsrtp import SRTP_MAX_TRAILER_LEN as SRTP_MAX_TRAILER_BYTES
from pylibsrtp._binding import ffi as _srtp_ffi
from pylibsrtp._binding import lib as _srtp_lib


def srtp_protector(session: pylibsrtp.Session) -> Callable[[bytes], bytes | None]:
    """`session.protect(packet)` without pylibsrtp's per-call wrapper (None where it would raise).

    pylibsrtp's `Session.protect` checks the argument, allocates a C int, copies the packet into the
    session's buffer (`_cdata` / `_buffer`), calls `srtp_protect(_srtp[0], ...)` and slices the result out:
    about a third of its cost for a forwarded packet is the wrapper. This does the same with the int
    allocated once. The session's buffer is shared with pylibsrtp's own calls: safe on one event-loop thread.
    """
    return _srtp_call(session, _srtp_lib.srtp_protect, SRTP_MAX_TRAILER_BYTES)


def _srtp_call(
    session: pylibsrtp.Session, function: Any, trailer_bytes: int
) -> Callable[[bytes], bytes | None]:
    """`function(srtp, buffer, length)` (srtp_protect / srtp_unprotect) on the session's own buffer: the
    packet copied in, the result sliced out, None where libsrtp refuses or the packet (plus `trailer_bytes` it
    may grow by) does not fit the buffer."""
    srtp = session._srtp[0]
    cdata = session._cdata
    buffer = session._buffer
    max_packet_bytes = len(cdata) - trailer_bytes
    length = _srtp_ffi.new("int *")

    # `_keep` holds the session: `srtp` is a raw pointer that its collection would free
    def run(packet: bytes, _keep: pylibsrtp.Session = session) -> bytes | None:
        size = len(packet)
        if size > max_packet_bytes:
            return None
        buffer[0:size] = packet
        length[0] = size
        if function(srtp, cdata, length):
            return None
        result: bytes = buffer[0 : length[0]]
        return result

    return run


def srtp_unprotector(session: pylibsrtp.Session) -> Callable[[bytes], bytes | None]:
    """`session.unprotect(packet)` without pylibsrtp's per-call wrapper (None where it would raise).

    The same internals as `srtp_protector` (`_srtp`, `_cdata`, `_buffer`) with `srtp_unprotect`, which checks
    the authentication tag and the replay window and decrypts in place. Safe on one event-loop thread.
    """
    return _srtp_call(session, _srtp_lib.srtp_unprotect, 0)


def _srtp_function_address(name: str) -> int:
    """The address of a libsrtp function in pylibsrtp's binding, for the C sender (0 when it cannot be had:
    arming then fails and the Python path is used; `self_check` names the problem)."""
    try:
        return int(_srtp_ffi.cast("uintptr_t", _srtp_ffi.addressof(_srtp_lib, name)))
    except (AttributeError, TypeError, _srtp_ffi.error):
        return 0


_SRTP_PROTECT_ADDRESS = _srtp_function_address("srtp_protect")


def _refuse(packet: bytes) -> bytes | None:
    return None
