"""The real lossy path: a bot and the SFU in a network namespace whose loopback drops 5 % of UDP packets each
way (iptables ``statistic``; the kernel here has no netem), the recording tap writing the bot's microphone
through the repairing path and as before, both compared with the WAV the bot played."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from tests.audio import pcm
from tests.netns import namespace
from tests.speech import spoken

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
LOSS = 0.05
SPEECH_KEYS = ("GB01", "GB02", "GB07")  # tests/speech.py's sentences, synthesised once per session
FRAME_16K = 320  # 20 ms at 16 kHz


@pytest.fixture
def lossy_netns() -> Iterator[str]:
    """A network namespace with only ``lo`` up, dropping each UDP packet with probability LOSS."""
    drop = ["iptables", "-A", "OUTPUT", "-p", "udp", "-m", "statistic", "--mode", "random", "--probability",
            str(LOSS), "-j", "DROP"]
    why = "this test needs root, iproute2 and iptables (Debian: apt-get install iptables)"
    with namespace("gb-loss", [drop], why=why) as name:
        yield name


def best_lag(recorded: np.ndarray, source: np.ndarray) -> int:
    """Samples by which ``recorded`` lags ``source`` (FFT cross-correlation)."""
    n = len(recorded) + len(source) - 1
    size = 1 << (n - 1).bit_length()
    xc = np.fft.irfft(np.fft.rfft(recorded, size) * np.conj(np.fft.rfft(source, size)), size)
    return int(np.argmax(np.concatenate([xc[-(len(source) - 1):], xc[: len(recorded)]]))) - (len(source) - 1)


def frame_correlations(
    recorded: np.ndarray, source: np.ndarray, spans: list[list[float]], lag: int
) -> list[float]:
    """Correlation of each 20 ms frame of ``recorded`` with ``source`` shifted by ``lag``."""
    out = []
    for start_s, _ in spans:
        at = round(start_s * 16000)
        a = recorded[at : at + FRAME_16K]
        b = source[at - lag : at - lag + FRAME_16K] if at - lag >= 0 else np.zeros(0)
        if len(a) == len(b) == FRAME_16K and np.std(a) > 0 and np.std(b) > 0:
            out.append(float(np.corrcoef(a, b)[0, 1]))
    return out


@pytest.mark.e2e
def test_five_percent_udp_loss_each_way_recorded_with_holes_filled(lossy_netns: str, tmp_path: Path) -> None:
    wav = spoken(SPEECH_KEYS, 48000)
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    done = subprocess.run(
        ["ip", "netns", "exec", lossy_netns, sys.executable, str(HERE / "loss_child.py"), str(wav),
         str(tmp_path / "data"), "14"],
        capture_output=True, text=True, timeout=120, env=env, cwd=REPO,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    source = pcm(wav)
    repaired, plain = pcm(Path(result["repaired"])), pcm(Path(result["plain"]))
    holes = result["holes"]
    # the frames the plain file left silent: every hole (the repaired file filled most of them)
    print(f"netns {LOSS:.0%} UDP loss each way: {result['packets']} packets recorded, {holes} holes, "
          f"{result['recovered_fec']} recovered from FEC, {result['concealed']} concealed, "
          f"{result['reordered']} reordered, {result['late']} late")
    assert result["packets"] > 400 and holes >= 5  # 5 % of ~600 packets sent
    assert result["recovered_fec"] >= 0.5 * holes
    assert result["recovered_fec"] + result["concealed"] == holes
    assert len(result["losses"]) <= result["concealed"]
    # every 20 ms frame of the tracks against the WAV, aligned: the repaired file is closer where it differs
    length = min(len(repaired), len(plain)) // FRAME_16K
    grid = [[k * FRAME_16K / 16000, 0.0] for k in range(length)]
    # one alignment for both: the two files hold the same packets sample for sample, only the holes differ
    # (aligned each on its own, the plain file's silent holes can pull its best lag a loop or a few samples
    # away, and every frame then compares as different: 126 'plain closer' frames seen where 114 differ)
    lag = best_lag(repaired, source)
    rep_c = np.array(frame_correlations(repaired, source, grid, lag))
    plain_c = np.array(frame_correlations(plain, source, grid, lag))
    n = min(len(rep_c), len(plain_c))
    better = int(np.sum(rep_c[:n] > plain_c[:n] + 0.2))
    worse = int(np.sum(plain_c[:n] > rep_c[:n] + 0.2))
    print(f"frames of speech: {n}; repaired clearly closer to the WAV in {better}, plain in {worse}; "
          f"median correlation {np.median(rep_c):.3f} vs {np.median(plain_c):.3f}")
    # where the two files differ (the holes and the frames just after them), the repaired one is the WAV's
    # sound: one correlation over all those frames together. Frame by frame, the frame after a recovered one
    # can come out a little worse than after the plain file's silence (the decoder meets a re-encoded frame):
    # 'plain clearly closer' in 0-20 frames for 22-48 'repaired clearly closer' was seen, so it is not counted
    def frame(x: np.ndarray, k: int, shift: int = 0) -> np.ndarray:
        return x[k * FRAME_16K - shift : (k + 1) * FRAME_16K - shift]

    differ = [
        k for k in range(length)
        if np.abs(frame(repaired, k) - frame(plain, k)).max() > 1e-3
        and 0 <= k * FRAME_16K - lag <= len(source) - FRAME_16K
    ]
    wav_part = np.concatenate([frame(source, k, lag) for k in differ])
    rep_all, plain_all = (
        float(np.corrcoef(np.concatenate([frame(x, k) for k in differ]), wav_part)[0, 1])
        for x in (repaired, plain)
    )
    print(f"the {len(differ)} frames where the files differ: correlation with the WAV {rep_all:.3f} "
          f"repaired, {plain_all:.3f} plain")
    assert better >= 0.5 * result["recovered_fec"], (better, result["recovered_fec"])
    assert rep_all >= plain_all + 0.05, (rep_all, plain_all)
