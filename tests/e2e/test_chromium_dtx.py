"""Opus DTX in a real Chromium (Debian's): the server's offer says ``usedtx=1`` in the Opus fmtp, and a
browser whose microphone is silent then sends (almost) nothing — against a room that does not offer it, in the
same run. The media side runs in tests/e2e/dtx_child.py (two MediaRooms + Playwright in one process,
inside the test's network namespace)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
WINDOW_S = 6
OPUS_PACKETS_PER_S = 50  # 20 ms frames


def opus_fmtp(sdp: str) -> str:
    """The fmtp parameters of the (first) Opus payload type of an SDP."""
    lines = sdp.splitlines()
    pt = next(line.split(":", 1)[1].split()[0] for line in lines if line.lower().endswith("opus/48000/2"))
    return next(line.split(" ", 1)[1] for line in lines if line.startswith(f"a=fmtp:{pt} "))


@pytest.mark.e2e
def test_a_silent_chromium_sends_far_fewer_audio_packets_when_the_server_offers_dtx(
    netns: str, tmp_path: Path
) -> None:
    # a muted-by-the-room microphone: digital silence, 48 kHz mono (-D: sox adds no dither; with +-1 LSB of
    # dither libopus' VAD hears noise and Chromium's DTX only drops 301 to 224 packets in 6 s, measured)
    silence = tmp_path / "silence.wav"
    subprocess.run(["sox", "-D", "-n", "-r", "48000", "-c", "1", "-b", "16", str(silence), "trim", "0", "10"],
                   check=True)
    done = subprocess.run(
        ["ip", "netns", "exec", netns, sys.executable, str(HERE / "dtx_child.py"), str(silence),
         str(WINDOW_S)],
        capture_output=True, text=True, timeout=120, env={**os.environ, "PYTHONPATH": str(REPO)}, cwd=REPO,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    r = json.loads(done.stdout.strip().splitlines()[-1])
    dtx, plain = r["dtx"], r["no_dtx"]
    print(f"silent Chromium over {WINDOW_S} s: the server received {dtx['received']} audio packets with DTX "
          f"offered, {plain['received']} without (Chromium says it sent {dtx['sent']} / {plain['sent']}); "
          f"Opus fmtp offered {opus_fmtp(dtx['offer'])!r} / {opus_fmtp(plain['offer'])!r}, "
          f"answered {opus_fmtp(dtx['answer'])!r} / {opus_fmtp(plain['answer'])!r}")
    # the offers as the page holds them: DTX said in one room only, FEC in both
    assert "usedtx=1" in opus_fmtp(dtx["offer"]).split(";")
    assert "usedtx" not in opus_fmtp(plain["offer"])
    assert "useinbandfec=1" in opus_fmtp(dtx["offer"]) and "useinbandfec=1" in opus_fmtp(plain["offer"])
    # without DTX a silent microphone is still 50 packets a second; with it, a few (comfort noise updates)
    assert plain["received"] >= 0.8 * OPUS_PACKETS_PER_S * WINDOW_S
    assert dtx["received"] <= 0.2 * plain["received"]
    assert dtx["received"] > 0  # the connection is alive: DTX still sends its comfort-noise updates
