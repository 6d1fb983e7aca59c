"""Time-limited TURN credentials (server/media/turn.py, the TURN REST API scheme coturn checks with
--use-auth-secret): the format against an HMAC computed here, expiry, fresh credentials per SFU peer
connection, and a real coturn (Debian's `turnserver`, on 127.0.0.1) granting a relay to an aiortc peer with an
issued credential and refusing an expired one or one made with another secret."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import os
import shutil
import socket
import struct
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from aiortc import RTCConfiguration, RTCIceServer, RTCPeerConnection

from server.config import Settings
from server.media.turn import TurnIssuer, credential_for
from server.media_settings import media_config

SECRET = "north-hall-secret"
READY_TIMEOUT_S = 15.0


def test_credential_matches_an_independent_hmac_sha1() -> None:
    # RFC 2202 test case 2 for HMAC-SHA1, then base64: the scheme's arithmetic, not ours
    assert (
        credential_for("Jefe", "what do ya want for nothing?")
        == base64.b64encode(bytes.fromhex("effcdf6ae5eb2fa2d27416d5f184df9c259a7c79")).decode()
    )
    issued = TurnIssuer(("turn:10.0.0.3:3478",), SECRET, ttl_s=3600).issue("chumo", now=1_767_225_600.7)
    assert issued.username == "1767229200:chumo"  # expiry = now + ttl, whole seconds
    assert issued.expires == 1_767_229_200
    expected = base64.b64encode(
        hmac.new(SECRET.encode(), b"1767229200:chumo", hashlib.sha1).digest()
    ).decode()
    assert issued.credential == expected
    assert issued.urls == ("turn:10.0.0.3:3478",)
    # a colon in the account would change where the timestamp ends: it is replaced
    assert TurnIssuer((), SECRET, 60).issue("a:b", now=0).username == "60:a_b"


def test_expiry_follows_the_ttl_and_the_clock() -> None:
    before = int(time.time())
    issued = TurnIssuer(("turn:h:3478",), SECRET, ttl_s=7200).issue("iapa")
    assert before + 7200 <= issued.expires <= int(time.time()) + 7200
    assert issued.username.startswith(f"{issued.expires}:")


def test_each_sfu_peer_connection_gets_a_fresh_credential() -> None:
    settings = Settings(turn_urls=["turn:10.0.0.3:3478"], turn_secret=SECRET, turn_ttl_s=5400)
    config = media_config(settings)
    first = (config.rtc_configuration().iceServers or [])[-1]
    time.sleep(1.1)
    second = (config.rtc_configuration().iceServers or [])[-1]
    assert first.urls == ["turn:10.0.0.3:3478"]
    for server in (first, second):
        assert server.username is not None and server.credential == credential_for(SECRET, server.username)
        expires, _, account = server.username.partition(":")
        assert account == "giaoban-sfu"
        assert abs(int(expires) - (time.time() + 5400)) < 5
    assert int(second.username.partition(":")[0]) > int(first.username.partition(":")[0])
    # no secret or no URL: no TURN entry
    assert media_config(Settings(turn_urls=["turn:10.0.0.3:3478"])).rtc_configuration().iceServers == []
    assert media_config(Settings(turn_secret=SECRET)).rtc_configuration().iceServers == []


# ---- a real coturn -----------------------------------------------------------------------------------


def _free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _stun_answers(port: int) -> bool:
    """A STUN Binding request to the server: True once it answers."""
    request = struct.pack("!HHI", 0x0001, 0, 0x2112A442) + os.urandom(12)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(0.3)
        s.sendto(request, ("127.0.0.1", port))
        try:
            data = s.recv(2048)
        except OSError:
            return False
    return data[8:20] == request[8:20]


@pytest.fixture
def coturn(tmp_path: Path) -> Iterator[int]:
    turnserver = shutil.which("turnserver")
    assert turnserver is not None, "coturn is needed for the TURN tests (Debian: coturn)"
    port = _free_udp_port()
    relay_low = 49_200 + (os.getpid() % 50) * 200
    log = (tmp_path / "turn.log").open("wb")
    proc = subprocess.Popen(
        [
            turnserver, "-n", "--listening-ip=127.0.0.1", "--relay-ip=127.0.0.1", f"--listening-port={port}",
            f"--min-port={relay_low}", f"--max-port={relay_low + 199}", "--use-auth-secret",
            f"--static-auth-secret={SECRET}", "--realm=giaoban", "--no-tls", "--no-dtls", "--no-cli",
            "--log-file=stdout", "--simple-log", f"--db={tmp_path / 'turndb'}",
            f"--pidfile={tmp_path / 'turn.pid'}",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + READY_TIMEOUT_S
        while not _stun_answers(port):
            assert proc.poll() is None, (tmp_path / "turn.log").read_text(errors="replace")
            assert time.monotonic() < deadline, "coturn did not answer STUN"
        yield port
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        log.close()


async def _candidate_types(server: RTCIceServer) -> list[str]:
    pc = RTCPeerConnection(RTCConfiguration(iceServers=[server]))
    try:
        pc.createDataChannel("probe")
        await pc.setLocalDescription(await pc.createOffer())
        lines = [line for line in pc.localDescription.sdp.splitlines() if line.startswith("a=candidate:")]
        return [line.split(" typ ")[1].split()[0] for line in lines]
    finally:
        await pc.close()


def test_coturn_relays_for_an_issued_credential_only(coturn: int) -> None:
    url = f"turn:127.0.0.1:{coturn}"
    # the SFU's own credential, exactly as its peer connections get it
    sfu = media_config(Settings(ice_addresses=["127.0.0.1"], turn_urls=[url], turn_secret=SECRET))
    (server,) = sfu.rtc_configuration().iceServers or []
    assert "relay" in asyncio.run(_candidate_types(server))

    issuer = TurnIssuer((url,), SECRET, ttl_s=3600)
    expired = issuer.issue("chumo", now=time.time() - 3660)  # expired a minute ago
    assert expired.expires < time.time()
    types = asyncio.run(_candidate_types(RTCIceServer([url], expired.username, expired.credential)))
    assert "host" in types and "relay" not in types

    forged = TurnIssuer((url,), "another-secret", ttl_s=3600).issue("chumo")
    types = asyncio.run(_candidate_types(RTCIceServer([url], forged.username, forged.credential)))
    assert "host" in types and "relay" not in types

    fresh = issuer.issue("chumo")
    assert "relay" in asyncio.run(_candidate_types(RTCIceServer([url], fresh.username, fresh.credential)))
