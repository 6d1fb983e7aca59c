"""The C sender of forwarded RTP (server/media/_rtpsend.c): the same bytes as the Python writer, real SRTP
that a receiving libsrtp session accepts, real UDP on 127.0.0.1, guards that hand the work back to Python
when aiortc's state moves, the asyncio fallback when the socket refuses a datagram, and in a real meeting
the viewers decoding what it sent."""

from __future__ import annotations

import gc
import os
import random
import socket
import types
import weakref
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import pylibsrtp
import pytest

from server.media import aiortc_hooks as hooks
from server.media.client import ClientConfig
from server.media.config import RTP_NATIVE_SEND_ENV, MediaConfig
from server.media.rtp_writer import NATIVE_SEND_AVAILABLE, RtpWriter
from tests.media.meeting import LOOPBACK, Meeting, wait_until
from tests.media.meeting import frames as frames_of_kind
from tests.media.test_media_forwarding import incoming


def frames(meeting: Meeting, viewer: str, publisher: str) -> int:
    return frames_of_kind(meeting, viewer, publisher, "video")


SMALL_VIDEO = ClientConfig(video=True, video_size=(160, 120), video_fps=15)
KEY = os.urandom(30)  # AES_CM_128_HMAC_SHA1_80: 16-byte key + 14-byte salt
PROTECT = hooks._SRTP_PROTECT_ADDRESS
MAX_PACKET_BYTES = 1500 - pylibsrtp.SRTP_MAX_TRAILER_LEN
ATTR_IS, ITEM_IS, ATTR_EMPTY = 0, 1, 2


def tx_session() -> pylibsrtp.Session:
    return pylibsrtp.Session(pylibsrtp.Policy(key=KEY, ssrc_type=pylibsrtp.Policy.SSRC_ANY_OUTBOUND))


def rx_session() -> pylibsrtp.Session:
    return pylibsrtp.Session(pylibsrtp.Policy(key=KEY, ssrc_type=pylibsrtp.Policy.SSRC_ANY_INBOUND))


def srtp_address(session: pylibsrtp.Session) -> int:
    return int(hooks._srtp_ffi.cast("uintptr_t", session._srtp[0]))


def native(writer: RtpWriter) -> Any:
    sender = writer.native_sender()
    assert sender is not None, "server/media/_rtpsend.c is not built (./scripts/test installs gcc, builds it)"
    return sender


def test_the_c_sender_is_built() -> None:
    """The test command installs a C compiler, so the extension is there (the product runs without it)."""
    assert NATIVE_SEND_AVAILABLE, "server/media/_rtpsend.c is not built: pip install -e . with gcc present"


@pytest.fixture
def udp_pair() -> Iterator[tuple[socket.socket, socket.socket]]:
    out = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    out.bind(("127.0.0.1", 0))
    out.setblocking(False)
    into = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    into.bind(("127.0.0.1", 0))
    into.settimeout(2.0)
    yield out, into
    out.close()
    into.close()


class State:
    """Stands for the aiortc / asyncio objects a real sender is guarded by."""

    def __init__(self) -> None:
        self.connected: object = "connected"
        self.queue: list[bytes] = []


def arm(
    sender: Any,
    out: socket.socket,
    into: socket.socket,
    session: pylibsrtp.Session,
    guards: tuple[tuple[Any, Any, Any, int], ...] = (),
    fallback: Any = None,
) -> list[tuple[bytes, tuple[str, int]]]:
    handed: list[tuple[bytes, tuple[str, int]]] = []
    sender.arm(
        out.fileno(),
        out.family,
        into.getsockname(),
        fallback or (lambda data, address: handed.append((data, address))),
        session,
        srtp_address(session),
        PROTECT,
        MAX_PACKET_BYTES,
        guards,
    )
    return handed


@pytest.mark.parametrize("ids", [(0, 0, 0), (1, 0, 0), (1, 3, 2), (9, 14, 11), (15, 3, 2), (1, 3, 200)])
@pytest.mark.parametrize("mid", ["0", "12", "a-mid-longer-than-sixteen-bytes"])
def test_the_c_sender_writes_the_same_packets_as_the_python_writer(
    ids: tuple[int, int, int], mid: str
) -> None:
    rng = random.Random(7)
    mid_id, abs_id, level_id = ids
    writer = RtpWriter(96, 0xDEADBEEF, mid, mid_id, abs_id, level_id)
    sender = native(writer)
    for n in range(200):
        source = incoming(
            rng.randrange(65536),
            rng.randrange(1 << 32),
            rng.randbytes(rng.randrange(0, 1200)),
            marker=n % 2,
            abs_send_time=rng.choice([None, rng.randrange(1 << 24)]),
            level=rng.choice([None, (True, rng.randrange(128))]),
        )
        seq, ts = rng.randrange(65536), rng.randrange(1 << 32)
        expected = writer.packet(seq, ts, source)
        assert sender.packet(seq, ts, source.marker, writer.tail(source), source.payload) == expected


def test_a_sent_packet_is_srtp_that_the_receiver_unprotects(
    udp_pair: tuple[socket.socket, socket.socket],
) -> None:
    out, into = udp_pair
    writer = RtpWriter(111, 0x1234, "1", 1, 3, 2)
    sender = native(writer)
    arm(sender, out, into, tx_session())
    assert sender.armed
    rx = rx_session()
    for seq in range(100, 110):
        source = incoming(seq, seq * 960, os.urandom(60), level=(True, 40))
        size = sender.send(seq, seq * 960, source.marker, writer.tail(source), source.payload)
        plain = writer.packet(seq, seq * 960, source)
        assert size == len(plain)
        data, _ = into.recvfrom(2048)
        assert data != plain and len(data) == len(plain) + 10  # HMAC-SHA1-80 tag
        assert rx.unprotect(data) == plain
    assert sender.counts == (10, 0, 0)


def test_a_failed_guard_disarms_and_hands_the_packet_back_to_python(
    udp_pair: tuple[socket.socket, socket.socket],
) -> None:
    out, into = udp_pair
    writer = RtpWriter(111, 0x1234, "1", 1, 0, 0)
    source = incoming(1, 960, b"opus")
    tail = writer.tail(source)
    cases: list[tuple[str, Any]] = [
        ("attribute changed", lambda state, nominated: setattr(state, "connected", "closed")),
        ("attribute gone", lambda state, nominated: delattr(state, "connected")),
        ("queue not empty", lambda state, nominated: state.queue.append(b"waiting")),
        ("item changed", lambda state, nominated: nominated.__setitem__(1, "another pair")),
        ("item gone", lambda state, nominated: nominated.clear()),
    ]
    for what, change in cases:
        state = State()
        nominated = {1: "pair"}
        sender = native(writer)
        guards = (
            (state, "connected", state.connected, ATTR_IS),
            (nominated, 1, "pair", ITEM_IS),
            (state, "queue", None, ATTR_EMPTY),
        )
        arm(sender, out, into, tx_session(), guards)
        assert sender.send(1, 960, 0, tail, source.payload) > 0, what
        into.recvfrom(2048)
        change(state, nominated)
        assert sender.send(2, 1920, 0, tail, source.payload) == -1, what
        assert not sender.armed and sender.counts == (1, 0, 1), what
        assert sender.send(3, 2880, 0, tail, source.payload) == -1, what  # stays disarmed until armed again
    into.settimeout(0.2)
    with pytest.raises(TimeoutError):
        into.recvfrom(2048)


def test_a_datagram_the_socket_refuses_goes_to_the_fallback_protected(
    udp_pair: tuple[socket.socket, socket.socket],
) -> None:
    out, into = udp_pair
    writer = RtpWriter(111, 0x1234, "1", 1, 0, 0)
    sender = native(writer)
    handed = arm(sender, out, into, tx_session())
    out.connect(into.getsockname())
    out.shutdown(socket.SHUT_WR)  # sendto now fails (EPIPE), as a full or failing socket would
    source = incoming(5, 4800, b"opus payload")
    assert sender.send(5, 4800, 0, writer.tail(source), source.payload) == len(writer.packet(5, 4800, source))
    assert len(handed) == 1 and handed[0][1] == into.getsockname()
    assert rx_session().unprotect(handed[0][0]) == writer.packet(5, 4800, source)
    assert sender.counts == (0, 1, 0)


def test_packets_srtp_cannot_take_are_refused_not_sent(udp_pair: tuple[socket.socket, socket.socket]) -> None:
    out, into = udp_pair
    writer = RtpWriter(96, 0x1234, "1", 1, 0, 0)
    sender = native(writer)
    arm(sender, out, into, tx_session())
    source = incoming(1, 0, b"\x00" * 1400)
    assert sender.send(1, 0, 0, writer.tail(source), source.payload) == 0  # header + 1400 > 1500 - trailer
    assert sender.armed and sender.counts == (0, 0, 0)


def test_arguments_out_of_range_raise() -> None:
    sender = native(RtpWriter(96, 0x1234, "1", 1, 0, 0))
    with pytest.raises(OverflowError):
        sender.packet(65536, 0, 0, b"", b"")
    with pytest.raises(TypeError):
        sender.packet(1, 0, 0, b"")  # type: ignore[call-arg]
    with pytest.raises(ValueError, match="layout"):
        sender.packet(1, 0, 0, b"\x00" * 40, b"")
    with pytest.raises(ValueError, match="numeric"):
        sender.arm(0, socket.AF_INET, ("localhost", 9), print, object(), 1, PROTECT, 100, ())
    with pytest.raises(ValueError, match="family"):
        sender.arm(0, socket.AF_INET6, ("127.0.0.1", 9), print, object(), 1, PROTECT, 100, ())
    with pytest.raises(ValueError, match="guard"):
        sender.arm(0, socket.AF_INET, ("127.0.0.1", 9), print, object(), 1, PROTECT, 100, ((1, 2, 3, 9),))
    assert not sender.armed


def test_the_sender_keeps_its_session_alive_and_is_collected_in_a_cycle(
    udp_pair: tuple[socket.socket, socket.socket],
) -> None:
    out, into = udp_pair
    writer = RtpWriter(111, 0x1234, "1", 1, 0, 0)
    sender = native(writer)
    arm(sender, out, into, tx_session())  # nobody else holds the session: the sender must
    gc.collect()
    source = incoming(9, 0, b"x" * 100)
    assert sender.send(9, 0, 0, writer.tail(source), source.payload) > 0
    assert rx_session().unprotect(into.recvfrom(2048)[0]) == writer.packet(9, 0, source)

    owner = State()
    owner.sender = sender  # type: ignore[attr-defined]
    arm(sender, out, into, tx_session(), ((owner, "connected", owner.connected, ATTR_IS),))  # a cycle
    alive = weakref.ref(owner)
    del owner, sender
    gc.collect()
    assert alive() is None


@pytest.mark.asyncio
async def test_in_a_meeting_the_c_sender_carries_the_forwarded_media_and_viewers_decode_it() -> None:
    meeting = Meeting(replace(LOOPBACK, rtp_native_send=True))
    try:
        for pid in ("a", "b", "c"):
            await meeting.join(pid, SMALL_VIDEO)
        for viewer, publisher in (("a", "b"), ("b", "c"), ("c", "a")):
            assert await wait_until(lambda v=viewer, p=publisher: frames(meeting, v, p) > 15, 5.0)
        stats = meeting.room.stats()
        assert stats.packets_native > 0.9 * stats.packets_out, stats
        for forwarded in stats.forwarded:
            assert forwarded.packets_native > 0.9 * forwarded.packets_sent, forwarded
        for client in meeting.clients.values():
            for remote in client.stats().participants:
                assert remote.decode_errors == 0 and remote.packets_lost == 0, remote
    finally:
        await meeting.close()


@pytest.mark.asyncio
async def test_a_reconnecting_viewer_gets_media_again_through_a_rearmed_sender() -> None:
    """The old connection's guards fail (its DTLS transport closes); the new one arms new senders."""
    meeting = Meeting(replace(LOOPBACK, rtp_native_send=True))
    try:
        await meeting.join("a", SMALL_VIDEO)
        await meeting.join("b", SMALL_VIDEO)
        assert await wait_until(lambda: frames(meeting, "b", "a") > 10, 5.0)
        old = meeting.clients.pop("b")
        await old.close()
        await meeting.join("b", SMALL_VIDEO)
        assert await wait_until(lambda: frames(meeting, "b", "a") > 10, 5.0)
        forwarded = [f for f in meeting.room.stats().forwarded if f.viewer_id == "b" and f.kind == "video"]
        assert forwarded and all(f.packets_native > 0 for f in forwarded)
    finally:
        await meeting.close()


@pytest.mark.asyncio
@pytest.mark.parametrize("without", ["the setting", "the extension"])
async def test_without_the_c_sender_the_python_path_does_everything(
    without: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Native sending turned off, or a machine without a C compiler (installed without the extension):
    meetings work the same."""
    from server.media import rtp_writer

    if without == "the extension":
        monkeypatch.setattr(rtp_writer, "_rtpsend", None)
    meeting = Meeting(replace(LOOPBACK, rtp_native_send=without == "the extension"))
    try:
        await meeting.join("a", SMALL_VIDEO)
        await meeting.join("b", SMALL_VIDEO)
        assert await wait_until(lambda: min(frames(meeting, "b", "a"), frames(meeting, "a", "b")) > 10, 5.0)
        stats = meeting.room.stats()
        assert stats.packets_out > 0 and stats.packets_native == 0
    finally:
        await meeting.close()


def test_the_native_send_setting_reads_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(RTP_NATIVE_SEND_ENV, raising=False)
    assert MediaConfig().rtp_native_send
    for off in ("0", "false", "off", "No"):
        monkeypatch.setenv(RTP_NATIVE_SEND_ENV, off)
        assert not MediaConfig().rtp_native_send


def test_arming_needs_a_connected_transport() -> None:
    sender = native(RtpWriter(96, 0x1234, "1", 1, 0, 0))
    transport = types.SimpleNamespace(_state=hooks.DtlsState.NEW, _tx_srtp=None)
    assert not hooks.arm_rtp_sender(sender, transport)  # type: ignore[arg-type]
    assert not sender.armed
