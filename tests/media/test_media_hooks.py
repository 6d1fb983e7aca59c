"""The aiortc/aioice internals the SFU relies on still exist and behave (fails loudly after an upgrade)."""

from __future__ import annotations

import asyncio
from typing import cast

import aioice
import pytest
from aiortc import RTCPeerConnection, RTCRtpReceiver, RTCRtpSender

from server.media import aiortc_hooks as hooks
from server.media.aiortc_hooks import checks


def test_self_check_passes_on_the_pinned_aiortc() -> None:
    hooks.self_check()


@pytest.mark.parametrize("dist", ["aiortc", "aioice", "pylibsrtp"])
def test_self_check_fails_on_another_version_of_a_pinned_package(
    monkeypatch: pytest.MonkeyPatch, dist: str
) -> None:
    real = checks._installed_version
    monkeypatch.setattr(checks, "_installed_version", lambda d: "9.9.9" if d == dist else real(d))
    with pytest.raises(hooks.HookError, match=f"{dist} 9.9.9 installed"):
        hooks.self_check()


def test_the_pins_in_pyproject_are_the_versions_the_hooks_check() -> None:
    import tomllib
    from pathlib import Path

    deps = tomllib.loads((Path(__file__).resolve().parents[2] / "pyproject.toml").read_text())["project"][
        "dependencies"
    ]
    for dist, version in hooks.EXPECTED_VERSIONS.items():
        assert f"{dist}=={version}" in deps


def test_self_check_fails_when_an_internal_disappears(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delattr(RTCRtpReceiver, "_send_rtcp_pli")
    with pytest.raises(hooks.HookError, match="_send_rtcp_pli"):
        hooks.self_check()


def test_self_check_fails_when_rtcp_routing_changes(monkeypatch: pytest.MonkeyPatch) -> None:
    from aiortc.rtcdtlstransport import RTCDtlsTransport

    async def routes_elsewhere(self: RTCDtlsTransport, data: bytes) -> None:
        return None

    monkeypatch.setattr(RTCDtlsTransport, "_handle_rtcp_data", routes_elsewhere)
    with pytest.raises(hooks.HookError, match="route_rtcp"):
        hooks.self_check()


@pytest.mark.asyncio
async def test_fir_routing_wraps_a_transport_once() -> None:
    pc = RTCPeerConnection()
    try:
        transceiver = pc.addTransceiver("video", direction="sendonly")
        transport = transceiver.sender.transport
        hooks.route_fir_by_target(transport)
        wrapped = transport._rtp_router.route_rtcp
        hooks.route_fir_by_target(transport)
        assert transport._rtp_router.route_rtcp is wrapped
    finally:
        await pc.close()


@pytest.mark.asyncio
async def test_ice_gathers_only_on_the_configured_loopback_address() -> None:
    hooks.install_ice_host_addresses(["127.0.0.1"])
    connection = aioice.Connection(ice_controlling=True, components=1)
    try:
        await connection.gather_candidates()
        hosts = {c.host for c in connection.local_candidates}
        assert hosts == {"127.0.0.1"}
    finally:
        await connection.close()


@pytest.mark.asyncio
async def test_pc_offer_carries_only_loopback_candidates() -> None:
    hooks.install_ice_host_addresses(["127.0.0.1"])
    from server.media.config import MediaConfig

    pc = RTCPeerConnection(MediaConfig().rtc_configuration())
    try:
        pc.addTransceiver("audio", direction="recvonly")
        await pc.setLocalDescription(await pc.createOffer())
        candidates = [line for line in pc.localDescription.sdp.splitlines() if line.startswith("a=candidate")]
        assert candidates and all(" 127.0.0.1 " in line for line in candidates)
    finally:
        await pc.close()


class _StunServer(asyncio.DatagramProtocol):
    """The closed network's own STUN server, on 127.0.0.1: answers every Binding request with a fixed
    reflexive address (as a NAT in front of the server would)."""

    MAPPED = ("198.51.100.7", 40000)  # TEST-NET-2

    def __init__(self) -> None:
        self.requests = 0
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        from aioice import stun

        request = stun.parse_message(data)
        if request.message_method != stun.Method.BINDING or request.message_class != stun.Class.REQUEST:
            return
        self.requests += 1
        response = stun.Message(
            message_method=stun.Method.BINDING,
            message_class=stun.Class.RESPONSE,
            transaction_id=request.transaction_id,
        )
        response.attributes["XOR-MAPPED-ADDRESS"] = self.MAPPED
        assert self.transport is not None
        self.transport.sendto(bytes(response), addr)


@pytest.mark.asyncio
async def test_the_configured_stun_server_is_the_one_asked() -> None:
    from server.config import Settings
    from server.media_settings import media_config

    hooks.install_ice_host_addresses(["127.0.0.1"])
    loop = asyncio.get_running_loop()
    transport, server = await loop.create_datagram_endpoint(_StunServer, local_addr=("127.0.0.1", 0))
    port = transport.get_extra_info("sockname")[1]
    settings = Settings(ice_addresses=["127.0.0.1"], ice_servers=[f"stun:127.0.0.1:{port}"])
    pc = RTCPeerConnection(media_config(settings).rtc_configuration())
    try:
        pc.addTransceiver("audio", direction="recvonly")
        await pc.setLocalDescription(await pc.createOffer())
        candidates = [line for line in pc.localDescription.sdp.splitlines() if line.startswith("a=candidate")]
        assert server.requests >= 1
        assert any("198.51.100.7 40000 typ srflx raddr 127.0.0.1" in line for line in candidates), candidates
    finally:
        await pc.close()
        transport.close()


def test_ice_server_settings_become_rtc_ice_servers() -> None:
    from server.config import Settings
    from server.media_settings import media_config, parse_ice_server

    turn = parse_ice_server("turn:giaoban:p@ss:w0rd@10.10.0.2:3478?transport=udp")
    assert turn.urls == ("turn:10.10.0.2:3478?transport=udp",)
    assert (turn.username, turn.credential) == ("giaoban", "p@ss:w0rd")
    stun = parse_ice_server("stun:10.10.0.1:3478")
    assert stun.urls == ("stun:10.10.0.1:3478",) and stun.username is None and stun.credential is None
    settings = Settings(ice_servers=["stun:10.10.0.1:3478", "turn:giaoban:secret@10.10.0.2:3478"])
    servers = media_config(settings).rtc_configuration().iceServers or []
    assert [(s.urls, s.username, s.credential) for s in servers] == [
        (["stun:10.10.0.1:3478"], None, None),
        (["turn:10.10.0.2:3478"], "giaoban", "secret"),
    ]
    # nothing configured: no ICE server at all (aiortc would otherwise ask a public STUN server)
    assert media_config(Settings()).rtc_configuration().iceServers == []


def test_udp_receive_buffer_is_raised() -> None:
    hooks.install_udp_rcvbuf(4 * 1024 * 1024)
    assert aioice.turn.UDP_SOCKET_BUFFER_SIZE == 4 * 1024 * 1024
    # the kernel grants at least the default, at most 2 x rmem_max; the request itself is what we control
    assert hooks.effective_udp_rcvbuf_bytes(4 * 1024 * 1024) > 0


@pytest.mark.asyncio
async def test_receiver_and_sender_hooks_attach_to_real_objects() -> None:
    pc = RTCPeerConnection(hooks_config())
    try:
        transceiver = pc.addTransceiver("video", direction="sendrecv")
        seen: list[int] = []

        async def on_rtp(packet: object, arrival_ms: int) -> None:
            seen.append(arrival_ms)

        hooks.intercept_rtp(transceiver.receiver, on_rtp)
        from aiortc.rtp import RtpPacket

        await transceiver.receiver._handle_rtp_packet(RtpPacket(), arrival_time_ms=7)
        assert seen == [7]
        assert hooks.rtx_ssrcs(transceiver.receiver) == {}
        assert isinstance(hooks.sender_ssrc(transceiver.sender), int)
        assert not hooks.decoder_error_flag(transceiver.receiver).is_set()
        idle = hooks.IdleTrack("video")
        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(idle.recv(), timeout=0.05)
        assert isinstance(transceiver.sender, RTCRtpSender)
    finally:
        await pc.close()


def hooks_config():  # type: ignore[no-untyped-def]
    from server.media.config import MediaConfig

    return MediaConfig().rtc_configuration()


def test_self_check_fails_when_the_sender_report_path_changes(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delattr(RTCRtpSender, "_send_rtcp")
    with pytest.raises(hooks.HookError, match="_send_rtcp"):
        hooks.self_check()


def test_srtp_protector_matches_pylibsrtp() -> None:
    import os

    import pylibsrtp

    key = os.urandom(30)

    def session() -> pylibsrtp.Session:
        policy = pylibsrtp.Policy(key=key, ssrc_type=pylibsrtp.Policy.SSRC_ANY_OUTBOUND)
        policy.allow_repeat_tx = True
        return pylibsrtp.Session(policy)

    from aiortc.rtp import RtpPacket

    reference, ours = session(), session()
    protect = hooks.srtp_protector(ours)
    for seq, size in ((1, 10), (2, 1000), (3, 0)):
        packet = RtpPacket(payload_type=96, sequence_number=seq, ssrc=7, payload=bytes(size))
        data = packet.serialize()
        assert protect(data) == reference.protect(data)
    assert protect(b"\x80" * 1500) is None  # too long for the session buffer: refused, not raised


@pytest.mark.asyncio
async def test_rtp_output_and_sender_reports_on_a_connected_pair() -> None:
    """Raw RTP written with rtp_output arrives at a real aiortc receiver; the SR carries our sender info."""
    from aiortc.rtp import RtcpSenderInfo, RtcpSrPacket, RtpPacket

    hooks.install_ice_host_addresses(["127.0.0.1"])
    server, client = RTCPeerConnection(hooks_config()), RTCPeerConnection(hooks_config())
    try:
        transceiver = server.addTransceiver("audio", direction="sendonly")
        transceiver.sender.replaceTrack(hooks.IdleTrack("audio"))
        info = RtcpSenderInfo(ntp_timestamp=1 << 40, rtp_timestamp=4321, packet_count=3, octet_count=99)
        hooks.intercept_sender_reports(transceiver.sender, lambda: info)
        output = hooks.rtp_output(transceiver.sender.transport)
        assert not output(b"\x80" * 20)  # not connected yet

        received: list[RtpPacket] = []
        reports: list[RtcpSrPacket] = []

        @client.on("track")
        def on_track(track: object) -> None:
            receiver = client.getTransceivers()[0].receiver

            async def on_rtp(packet: RtpPacket, arrival_ms: int) -> None:
                received.append(packet)

            hooks.intercept_rtp(receiver, on_rtp)
            original = receiver._handle_rtcp_packet

            async def on_rtcp(packet: object) -> None:
                if isinstance(packet, RtcpSrPacket):
                    reports.append(packet)
                await original(packet)  # type: ignore[arg-type]

            receiver._handle_rtcp_packet = on_rtcp  # type: ignore[method-assign]

        await server.setLocalDescription(await server.createOffer())
        await client.setRemoteDescription(server.localDescription)
        await client.setLocalDescription(await client.createAnswer())
        await server.setRemoteDescription(client.localDescription)
        for _ in range(100):
            if server.connectionState == "connected" and client.connectionState == "connected":
                break
            await asyncio.sleep(0.05)
        pt = hooks.negotiated_codecs(transceiver)[0].payloadType or 0
        ssrc = hooks.sender_ssrc(transceiver.sender)
        for _ in range(100):
            packet = RtpPacket(payload_type=pt, sequence_number=1, timestamp=960, ssrc=ssrc, payload=b"opus")
            assert output(packet.serialize())
            await asyncio.sleep(0.05)
            if received and reports:
                break
        assert received and received[0].payload == b"opus" and received[0].ssrc == ssrc
        assert reports and reports[0].ssrc == ssrc and reports[0].sender_info == info
    finally:
        await client.close()
        await server.close()


def test_srtp_unprotector_matches_pylibsrtp_and_refuses_replays_and_forgeries() -> None:
    import os

    import pylibsrtp
    from aiortc.rtp import RtpPacket

    key = os.urandom(30)
    sender = pylibsrtp.Session(pylibsrtp.Policy(key=key, ssrc_type=pylibsrtp.Policy.SSRC_ANY_OUTBOUND))
    reference = pylibsrtp.Session(pylibsrtp.Policy(key=key, ssrc_type=pylibsrtp.Policy.SSRC_ANY_INBOUND))
    ours = pylibsrtp.Session(pylibsrtp.Policy(key=key, ssrc_type=pylibsrtp.Policy.SSRC_ANY_INBOUND))
    unprotect = hooks.srtp_unprotector(ours)
    for seq, size in ((1, 10), (2, 1000), (3, 0)):
        plain = RtpPacket(payload_type=96, sequence_number=seq, ssrc=7, payload=bytes(size)).serialize()
        protected = sender.protect(plain)
        assert unprotect(protected) == reference.unprotect(protected) == plain
        assert unprotect(protected) is None  # a replay
    forged = bytearray(sender.protect(RtpPacket(payload_type=96, sequence_number=4, ssrc=7).serialize()))
    forged[-1] ^= 0xFF  # the authentication tag
    assert unprotect(bytes(forged)) is None
    assert unprotect(b"\x80" * 1600) is None  # too long for the session buffer: refused, not raised


@pytest.mark.asyncio
async def test_rtp_fast_path_takes_routed_ssrcs_and_leaves_the_rest_to_aiortc() -> None:
    """On a connected pair: RTP of a routed SSRC reaches the handler as plaintext, synchronously; an unrouted
    SSRC and RTCP still take aiortc's way; the transport's receive counters count both."""
    from aiortc.rtp import RtpPacket

    hooks.install_ice_host_addresses(["127.0.0.1"])
    hooks.install_udp_drain()  # as every media room does (process-wide): a burst is read in one turn
    sender_pc, receiver_pc = RTCPeerConnection(hooks_config()), RTCPeerConnection(hooks_config())
    try:
        transceiver = sender_pc.addTransceiver("audio", direction="sendonly")
        transceiver.sender.replaceTrack(hooks.IdleTrack("audio"))
        via_aiortc: list[RtpPacket] = []
        arrivals: list[tuple[str, int, int]] = []  # (way, SSRC, sequence number), in the order handled

        @receiver_pc.on("track")
        def on_track(track: object) -> None:
            async def on_rtp(packet: RtpPacket, arrival_ms: int) -> None:
                via_aiortc.append(packet)
                arrivals.append(("aiortc", packet.ssrc, packet.sequence_number))

            hooks.intercept_rtp(receiver_pc.getTransceivers()[0].receiver, on_rtp)

        await sender_pc.setLocalDescription(await sender_pc.createOffer())
        await receiver_pc.setRemoteDescription(sender_pc.localDescription)
        await receiver_pc.setLocalDescription(await receiver_pc.createAnswer())
        await sender_pc.setRemoteDescription(receiver_pc.localDescription)
        for _ in range(100):
            if sender_pc.connectionState == "connected" and receiver_pc.connectionState == "connected":
                break
            await asyncio.sleep(0.05)
        transport = receiver_pc.getTransceivers()[0].receiver.transport
        fast = hooks.RtpFastPath(transport)
        fast.attach()
        fast.attach()  # idempotent
        assert len(fast._shadowed) == len(transport.transport._connection._protocols) >= 1
        via_fast: list[bytes] = []

        def on_fast(data: bytes) -> None:
            via_fast.append(data)
            arrivals.append(("fast", int.from_bytes(data[8:12], "big"), int.from_bytes(data[2:4], "big")))

        fast.route(1111, on_fast)
        output = hooks.rtp_output(transceiver.sender.transport)
        pt = hooks.negotiated_codecs(transceiver)[0].payloadType or 0
        sent = [
            RtpPacket(payload_type=pt, sequence_number=seq, timestamp=960 * seq, ssrc=ssrc, payload=b"opus")
            for seq, ssrc in ((1, 1111), (2, 1111), (3, 2222), (4, 1111))
        ]
        # one at a time: an ICE socket is drained each turn (install_udp_drain), and a routed packet read in
        # the same turn behind one queued for aiortc takes aiortc's way too (the burst below)
        for i, packet in enumerate(sent):
            assert output(packet.serialize())
            assert await _eventually(lambda i=i: len(via_fast) + len(via_aiortc) == i + 1)
        assert await _eventually(lambda: len(via_fast) == 3 and len(via_aiortc) == 1)
        assert via_fast == [p.serialize() for p in sent if p.ssrc == 1111]
        assert via_aiortc[0].ssrc == 2222 and via_aiortc[0].sequence_number == 3
        assert (fast.packets, fast.refused, fast.failed) == (3, 0, 0)
        stats = await receiver_pc.getStats()
        received = sum(getattr(s, "packetsReceived", 0) for s in stats.values() if s.type == "transport")
        assert received >= 4  # the transport stats count fast-path datagrams too

        # a burst, read in one turn (the drain): whichever way each packet takes, the routed SSRC's packets
        # are handled in order; the unrouted one goes aiortc's way
        arrivals.clear()
        burst = ((5, 1111), (6, 2222), (7, 1111), (8, 1111))
        for seq, ssrc in burst:
            packet = RtpPacket(payload_type=pt, sequence_number=seq, timestamp=960 * seq, ssrc=ssrc)
            assert output(packet.serialize())
        assert await _eventually(lambda: len(arrivals) == len(burst)), arrivals
        assert [seq for _, ssrc, seq in arrivals if ssrc == 1111] == [5, 7, 8], arrivals
        assert ("aiortc", 2222, 6) in arrivals

        fast.unroute(1111, via_fast.append)  # another handler: still routed
        assert 1111 in fast.routes
        protocols = list(fast._shadowed)
        fast.detach()
        assert not fast.routes and all("datagram_received" not in vars(p) for p in protocols)
        n_aiortc, n_fast = len(via_aiortc), len(via_fast)
        assert output(RtpPacket(payload_type=pt, sequence_number=9, ssrc=1111, payload=b"x").serialize())
        assert await _eventually(lambda: len(via_aiortc) == n_aiortc + 1)  # detached: aiortc's way again
        assert len(via_fast) == n_fast
    finally:
        await receiver_pc.close()
        await sender_pc.close()


async def _eventually(predicate, timeout_s: float = 3.0) -> bool:  # type: ignore[no-untyped-def]
    for _ in range(int(timeout_s / 0.02)):
        if predicate():
            return True
        await asyncio.sleep(0.02)
    return bool(predicate())


@pytest.mark.parametrize(
    ("owner", "name", "match"),
    [
        (aioice.ice.StunProtocol, "datagram_received", "datagram_received"),
        (aioice.ice.Connection, "data_received", "_queue"),
        ("aiortc.rtcdtlstransport.RTCDtlsTransport", "_recv_next", "_recv_next"),
    ],
)
def test_a_changed_receive_path_switches_the_fast_path_off_not_the_sfu(
    monkeypatch: pytest.MonkeyPatch, owner: object, name: str, match: str
) -> None:
    if isinstance(owner, str):
        module, _, attr = owner.rpartition(".")
        owner = getattr(__import__(module, fromlist=[attr]), attr)

    def replaced(self, *args):  # type: ignore[no-untyped-def]
        return None

    monkeypatch.setattr(owner, name, replaced)
    try:
        hooks.self_check()  # required internals intact: no HookError
        assert not hooks.accelerated("fast_path")
        assert any(match in problem for problem in hooks.disabled_accelerations()["fast_path"])
        assert hooks.accelerated("direct_send") and hooks.accelerated("report_interval")
    finally:
        monkeypatch.undo()
        hooks.self_check()
    assert hooks.accelerated("fast_path")


def test_without_srtp_unprotect_the_fast_path_is_off(monkeypatch: pytest.MonkeyPatch) -> None:
    import types

    without_unprotect = types.SimpleNamespace(srtp_protect=checks._srtp_lib.srtp_protect)
    monkeypatch.setattr(checks, "_srtp_lib", without_unprotect)
    try:
        hooks.self_check()
        assert "srtp_unprotect" in " ".join(hooks.disabled_accelerations()["fast_path"])
    finally:
        monkeypatch.undo()
        hooks.self_check()


def test_a_changed_srtp_protect_switches_the_c_sender_off_and_warns(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(checks, "_srtp_protect_type", lambda: "int(*)(void *)")
    try:
        with caplog.at_level("WARNING", logger=hooks.__name__):
            hooks.self_check()
        assert list(hooks.disabled_accelerations()) == ["c_sender"]
        assert "c_sender switched off" in caplog.text
        sender = types_rtp_sender()
        assert not hooks.arm_rtp_sender(sender, None)  # type: ignore[arg-type]
    finally:
        monkeypatch.undo()
        hooks.self_check()
    assert hooks.disabled_accelerations() == {}


def test_a_changed_report_loop_keeps_aiortcs_reports(monkeypatch: pytest.MonkeyPatch) -> None:
    import types

    original = RTCRtpSender.send

    async def send(self, parameters):  # type: ignore[no-untyped-def]  # no longer starts _run_rtcp
        return await original(self, parameters)

    monkeypatch.setattr(RTCRtpSender, "send", send)
    try:
        hooks.self_check()
        assert list(hooks.disabled_accelerations()) == ["report_interval"]
        sender = types.SimpleNamespace()
        hooks.report_every(sender, 5.0)  # type: ignore[arg-type]
        assert vars(sender) == {}  # aiortc's own loop stays
    finally:
        monkeypatch.undo()
        hooks.self_check()


def types_rtp_sender():  # type: ignore[no-untyped-def]
    """A C RtpSender (server/media/_rtpsend.c) that is never armed."""
    from server.media.rtp_writer import NATIVE_SEND_AVAILABLE, RtpWriter

    assert NATIVE_SEND_AVAILABLE
    sender = RtpWriter(96, 0x1234, "1", 1, 0, 0).native_sender()
    assert sender is not None
    return sender


def test_srtp_closures_keep_their_session_alive() -> None:
    """The closures use the session's raw libsrtp pointer: a session dropped by its owner must stay allocated
    (it would be freed by its collection and the next call would use freed memory)."""
    import gc
    import os

    import pylibsrtp
    from aiortc.rtp import RtpPacket

    key = os.urandom(30)
    protect = hooks.srtp_protector(
        pylibsrtp.Session(pylibsrtp.Policy(key=key, ssrc_type=pylibsrtp.Policy.SSRC_ANY_OUTBOUND))
    )
    unprotect = hooks.srtp_unprotector(
        pylibsrtp.Session(pylibsrtp.Policy(key=key, ssrc_type=pylibsrtp.Policy.SSRC_ANY_INBOUND))
    )
    gc.collect()
    plain = RtpPacket(payload_type=96, sequence_number=1, ssrc=7, payload=b"still here").serialize()
    protected = protect(plain)
    assert protected is not None and unprotect(protected) == plain
