"""TURN with time-limited credentials in real Chromium: a real coturn (Debian's `turnserver`,
``--use-auth-secret``) in the test's namespace, the server configured with GIAOBAN_TURN_URLS and
GIAOBAN_TURN_SECRET; a commune's browser joins the room and its peer connection holds the credential issued
for its socket (``<expiry>:chumo``). Direct UDP between the browser and the SFU is dropped in the namespace
(iptables: only coturn's listening and relay ports pass), so the media can only flow through coturn: the
browser's peer connection connects over a relay pair, which needs the issued credential to be accepted."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.conftest import Chromium, RunningServer
from tests.e2e.pages import join_room, login, new_page, open_demo_meeting

pytestmark = [pytest.mark.e2e, pytest.mark.any_database]

TURN_PORT = 3478  # free by construction: the namespace holds only the server (8000)
TURN_SECRET = "e2e-turn-secret"
TURN_TTL_S = 7200
TURN_ENV = {
    "GIAOBAN_TURN_URLS": f"turn:127.0.0.1:{TURN_PORT}",
    "GIAOBAN_TURN_SECRET": TURN_SECRET,
    "GIAOBAN_TURN_TTL_S": str(TURN_TTL_S),
}
READY_TIMEOUT_S = 15

STUN_PROBE = f"""
import os, socket, struct, sys, time
end = time.time() + {READY_TIMEOUT_S}
while time.time() < end:
    req = struct.pack("!HHI", 1, 0, 0x2112A442) + os.urandom(12)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(0.3)
        s.sendto(req, ("127.0.0.1", {TURN_PORT}))
        try:
            if s.recv(2048)[8:20] == req[8:20]:
                sys.exit(0)
        except OSError:
            pass
sys.exit(1)
"""

CONFIGURED_JS = "() => window.__giaoban.session.pc.getConfiguration().iceServers"

SELECTED_PAIR_JS = """async () => {
  const pc = window.__giaoban.session.pc;
  const stats = new Map();
  (await pc.getStats()).forEach((s) => stats.set(s.id, s));
  const transport = [...stats.values()].find((s) => s.type === "transport" && s.selectedCandidatePairId);
  if (pc.connectionState !== "connected" || !transport) return null;
  const pair = stats.get(transport.selectedCandidatePairId);
  const type = (id) => stats.get(id).candidateType;
  return { local: type(pair.localCandidateId), remote: type(pair.remoteCandidateId),
    received: pair.bytesReceived, sent: pair.bytesSent };
}"""
ONLY_TURN_UDP = ["OUTPUT", "-p", "udp", "-m", "multiport", "!", "--ports", f"{TURN_PORT},50000:50100",
                 "-j", "DROP"]  # fmt: skip


@pytest.fixture
def coturn(netns: str, tmp_path: Path) -> Iterator[Path]:
    turnserver = shutil.which("turnserver")
    assert turnserver is not None, "coturn is needed for the TURN tests (Debian: coturn)"
    log_path = tmp_path / "turn.log"
    log = log_path.open("wb")
    proc = subprocess.Popen(
        ["ip", "netns", "exec", netns, turnserver, "-n", "--listening-ip=127.0.0.1", "--relay-ip=127.0.0.1",
         f"--listening-port={TURN_PORT}", "--min-port=50000", "--max-port=50100", "--use-auth-secret",
         f"--static-auth-secret={TURN_SECRET}", "--realm=giaoban", "--no-tls", "--no-dtls", "--no-cli",
         "--allow-loopback-peers", "--log-file=stdout", "--simple-log", f"--db={tmp_path / 'turndb'}",
         f"--pidfile={tmp_path / 'turn.pid'}"],
        stdout=log,
        stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        probe = subprocess.run(["ip", "netns", "exec", netns, sys.executable, "-c", STUN_PROBE], check=False)
        assert probe.returncode == 0, "coturn did not answer STUN:\n" + log_path.read_text(errors="replace")
        subprocess.run(["ip", "netns", "exec", netns, "iptables", "-A", *ONLY_TURN_UDP], check=True)
        try:
            yield log_path
        finally:
            subprocess.run(["ip", "netns", "exec", netns, "iptables", "-D", *ONLY_TURN_UDP], check=True)
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        log.close()


@pytest.mark.parametrize("server_extra_env", [TURN_ENV], ids=["turn"], indirect=True)
def test_browser_gets_a_relay_from_coturn_with_its_issued_credential(
    coturn: Path, server: RunningServer, chromium: Chromium
) -> None:
    hall, commune = chromium.launch(), chromium.launch()
    chair = new_page(hall, server.base_url)
    login(chair, "chutri", server.accounts["chutri"].password)
    meeting_id = open_demo_meeting(chair)
    page = new_page(commune, server.base_url)
    login(page, "chumo", server.accounts["chumo"].password)
    sent: list[str] = []  # what the browser sends on its sockets: the answer, trickled candidates
    page.on("websocket", lambda ws: ws.on("framesent", lambda payload: sent.append(str(payload))))
    before = int(time.time())
    join_room(page, meeting_id)

    servers = page.evaluate(CONFIGURED_JS)
    turn = [s for s in servers if f"turn:127.0.0.1:{TURN_PORT}" in (s.get("urls") or [])]
    assert len(turn) == 1, servers
    expires, _, account = turn[0]["username"].partition(":")
    assert account == "chumo"
    assert before + TURN_TTL_S <= int(expires) <= int(time.time()) + TURN_TTL_S

    # coturn accepted the credential: with direct UDP dropped, the browser's media connects through a relay
    deadline = time.monotonic() + 30
    pair = page.evaluate(SELECTED_PAIR_JS)
    while time.monotonic() < deadline and not (pair and pair["received"] > 0):
        time.sleep(0.5)
        pair = page.evaluate(SELECTED_PAIR_JS)
    assert pair is not None, f"not connected; coturn log:\n{coturn.read_text(errors='replace')[-2000:]}"
    assert "relay" in (pair["local"], pair["remote"]) and pair["received"] > 0 and pair["sent"] > 0, pair
    relays = _relays(sent)
    assert relays and all(r[0] == "127.0.0.1" and 50000 <= r[1] <= 50100 for r in relays), relays


def _relays(frames: list[str]) -> list[tuple[str, int]]:
    """(address, port) of the relay candidates in the frames sent (SDP a=candidate lines or ice messages)."""
    found = re.findall(r"candidate:\S+ \d+ udp \d+ (\S+) (\d+) typ relay", "\n".join(frames))
    return [(address, int(port)) for address, port in found]
