"""Live captions in a real meeting: `giaoban serve` in a subprocess with its caption process, real `giaoban
bot` speakers (VIVOS speech when ../shared/eval is present, else espeak-ng's) and a bot viewer that asked for
captions (`--captions-json`); the chair's socket, which did not ask, gets none. The floor moves from one
commune to another between the speakers, and the caption process is killed (-9) in between: it is started
again and the second speaker is captioned too. Final captions are transcript segments as the meeting runs
(found by search before it ends) and the transcript holds them when it ends.

Caption accuracy is bounded on VIVOS only (espeak's voice is read at WER ~0.9 by Whisper base: behaviour
only); the bound is loose because the process is niced and the 2-core machine is shared by the test run."""

from __future__ import annotations

import json
import os
import signal
import time
import wave
from pathlib import Path

import numpy as np
import pytest

from tests.server.live_harness import LiveServer, SocketClient, wait_bots
from tests.speech import Corpus, Utterance
from transcription.audio import SAMPLE_RATE_HZ, decode_audio
from transcription.models import discover_model
from transcription.wer import error_rates

pytestmark = [pytest.mark.asr, pytest.mark.e2e, pytest.mark.timeout(400)]

MEETING = 1  # the demo meeting (recorded), chaired by Ia Pa
LEAD_S = 2.5  # silence before the speech: the bot is given the floor and unmutes meanwhile
PAUSE_S = 0.8  # between sentences (more than the 0.5 s of silence that ends an utterance)
TAIL_S = 1.0
# Caption WER against the references (both speakers, 39 words), VIVOS: the caption process alone measured
# 0.216 (offline 0.196) in benchmarks/captions, 0.18 and 0.26 in this test; in a meeting, niced on a shared
# machine, the chunks Whisper decodes depend on the load: this bound leaves room for that noise.
MAX_VIVOS_WER = 0.40
CAPTIONS_WAIT_S = 120.0  # the niced caption process yields to everything else on a loaded machine
# sentences per speaker: two of VIVOS (accuracy over a pause); one of espeak's, which Whisper base loops on
# and decodes slowly (behaviour only, and the test stays short on CI)
PER_SPEAKER = {"vivos": 2, "espeak": 1}


def speech_file(utterances: tuple[Utterance, ...], out: Path) -> Path:
    """The utterances one after another with pauses, after a lead of silence, as 16 kHz mono WAV."""
    lead = np.zeros(round(LEAD_S * SAMPLE_RATE_HZ), dtype=np.float32)
    pause = np.zeros(round(PAUSE_S * SAMPLE_RATE_HZ), dtype=np.float32)
    tail = np.zeros(round(TAIL_S * SAMPLE_RATE_HZ), dtype=np.float32)
    spoken = [part for u in utterances for part in (decode_audio(u.path), pause)]
    audio = np.concatenate([lead, *spoken, tail])
    with wave.open(str(out), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(SAMPLE_RATE_HZ)
        w.writeframes((np.clip(audio, -1, 1) * 32767).astype("<i2").tobytes())
    return out


def caption_processes(server_pid: int) -> list[int]:
    """The caption processes the server started (children running transcription.captions_worker)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        parent = int(stat.rsplit(")", 1)[1].split()[1])
        if parent == server_pid and b"transcription.captions_worker" in cmdline:
            found.append(int(entry.name))
    return found


def joined(chair: SocketClient, username: str) -> str:
    msg = chair.wait_for(
        lambda m: m["type"] == "participant_joined" and m["participant"]["username"] == username, 60
    )
    return str(msg["participant"]["id"])


def give_floor(chair: SocketClient, pid: str) -> None:
    chair.send({"type": "give_floor", "participant_id": pid})
    chair.wait_for(lambda m: m["type"] == "floor" and m["participant_id"] == pid)


def cpu_ticks(pid: int) -> int:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])  # utime + stime


def settle(client: SocketClient, unit: str, process: int, idle_s: float = 2.0) -> None:
    """Wait until the caption process has nothing left to decode (its CPU time stood still for ``idle_s``:
    nobody speaks now, so it only works on what it holds) and ``unit``'s last caption is final."""
    deadline = time.monotonic() + CAPTIONS_WAIT_S
    ticks, since = cpu_ticks(process), time.monotonic()
    while time.monotonic() < deadline:
        time.sleep(0.25)
        now = cpu_ticks(process)
        if now != ticks:
            ticks, since = now, time.monotonic()
            continue
        mine = [m for m in client.received if m["type"] == "caption" and m["unit"] == unit]
        if mine and mine[-1]["final"] and time.monotonic() - since >= idle_s:
            return
    raise AssertionError(f"the captions of {unit} did not settle")


def finals_of(client: SocketClient, unit: str) -> list[dict[str, object]]:
    return [m for m in client.received if m["type"] == "caption" and m["final"] and m["unit"] == unit]


def test_live_captions_follow_the_floor_reach_who_asked_and_become_the_transcript(
    speech_corpus: Corpus, tmp_path: Path, database_url: str | None, tmp_path_factory: pytest.TempPathFactory
) -> None:
    model = discover_model(None, cache_dir=tmp_path_factory.mktemp("models") / "whisper-base-ct2")
    utterances = speech_corpus.utterances()
    per_speaker = PER_SPEAKER[speech_corpus.name]
    first, second = utterances[:per_speaker], utterances[per_speaker : 2 * per_speaker]
    speech_a = speech_file(first, tmp_path / "a.wav")
    speech_b = speech_file(second, tmp_path / "b.wav")
    length_a = LEAD_S + sum(decode_audio(u.path).size / SAMPLE_RATE_HZ + PAUSE_S for u in first) + TAIL_S
    length_b = LEAD_S + sum(decode_audio(u.path).size / SAMPLE_RATE_HZ + PAUSE_S for u in second) + TAIL_S
    # with 10 s of audio context (GIAOBAN_CAPTIONS_CONTEXT_S; the default, none, is what the browser test and
    # the caption process's tests run) and 0.6 s of end-of-utterance silence: the settings reach the process
    # and the floor moves through it
    env = {
        "GIAOBAN_ASR_MODEL": str(model.path),
        "GIAOBAN_TRANSCRIPT_SOURCE": "live",
        "GIAOBAN_CAPTIONS_CONTEXT_S": "10",
        "GIAOBAN_CAPTIONS_SILENCE_FLUSH_S": "0.6",
    }
    live = LiveServer(tmp_path / "data", database_url, extra_env=env).start()
    try:
        assert live.proc is not None
        assert live.api("POST", f"/api/meetings/{MEETING}/start", "chutri").status_code == 200
        chair = SocketClient(live.ws_url(MEETING, live.token("chutri")))  # never asks for captions
        chair.wait_for(lambda m: m["type"] == "welcome")
        clerk = SocketClient(live.ws_url(MEETING, live.token("thuky")))  # asks, to follow them in the test
        clerk.wait_for(lambda m: m["type"] == "welcome")
        # a malformed request is refused with the documented error, the socket stays open
        clerk.send({"type": "captions", "enabled": "yes"})
        error = clerk.wait_for(lambda m: m["type"] == "error")
        assert error["code"] == "bad_captions" and "true hoặc false" in error["message"]
        clerk.send({"type": "captions", "enabled": True})
        clerk.send({"type": "ping"})
        clerk.wait_for(lambda m: m["type"] == "pong")
        deadline = time.monotonic() + 30
        while not caption_processes(live.proc.pid) and time.monotonic() < deadline:
            time.sleep(0.2)
        (process,) = caption_processes(live.proc.pid)
        cmdline = Path(f"/proc/{process}/cmdline").read_bytes()
        assert b"\0--context-s\x0010\0" in cmdline and b"\0--final-context-s\x00" in cmdline
        assert b"\0--silence-flush-s\x000.6\0" in cmdline
        assert os.getpriority(os.PRIO_PROCESS, process) >= os.getpriority(os.PRIO_PROCESS, live.proc.pid) + 10

        total_s = 300.0  # the viewer stays until the meeting ends
        viewer = live.bot(MEETING, "poto", duration_s=total_s, captions=tmp_path / "poto.json")
        a = live.bot(MEETING, "chumo", play=speech_a, duration_s=length_a + 4)
        joined(chair, "poto")
        give_floor(chair, joined(chair, "chumo"))
        wait_bots(a)
        # the first speaker's captions came, final, while the meeting goes on (its leaving ended its speech)
        settle(clerk, "CHUMO", process)
        got_a = finals_of(clerk, "CHUMO")
        assert got_a and got_a[0]["username"] == "chumo" and got_a[0]["text"]
        # the caption process dies (kill -9): logged, started again, the meeting goes on
        os.kill(process, signal.SIGKILL)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            restarted = [p for p in caption_processes(live.proc.pid) if p != process]
            if restarted:
                break
            time.sleep(0.2)
        assert restarted, "the caption process was not started again"
        chair.send({"type": "ping"})
        chair.wait_for(lambda m: m["type"] == "pong")

        b = live.bot(MEETING, "iatul", play=speech_b, duration_s=length_b + 4)
        give_floor(chair, joined(chair, "iatul"))  # the floor moves to the second commune
        wait_bots(b)
        settle(clerk, "IATUL", restarted[0])

        # each final caption carries its words' times on the meeting clock (a client can follow the recording)
        for caption in finals_of(clerk, "CHUMO") + finals_of(clerk, "IATUL"):
            words = caption["words"]
            assert " ".join(w for _, _, w in words) == caption["text"], caption
            if words:
                assert caption["start"] == pytest.approx(words[0][0], abs=1e-3)
                assert caption["end"] == pytest.approx(words[-1][1], abs=1e-3)
                assert all(a <= b for a, b, _ in words)

        # searchable during the meeting, by whoever may see it
        word = max(str(finals_of(clerk, "CHUMO")[0]["text"]).split(), key=len).strip(".,?!")
        hits = live.api("GET", "/api/search", "chutri", params={"q": word}).json()
        assert any(h["kind"] == "segment" and h["meeting_id"] == MEETING for h in hits["hits"]), (word, hits)

        ended = live.api("POST", f"/api/meetings/{MEETING}/end", "chutri")
        assert ended.status_code == 200  # the viewer bot leaves at the end
        wait_bots(viewer, timeout_s=60)
        # nobody who did not ask got a caption
        assert not [m for m in chair.received if m["type"] == "caption"]
        received = json.loads((tmp_path / "poto.json").read_text(encoding="utf-8"))["captions"]
        assert received and all(set(c) == {"unit", "text", "start", "end"} for c in received)
        units = [c["unit"] for c in received]
        assert set(units) == {"CHUMO", "IATUL"}, units
        assert units.index("IATUL") > max(i for i, u in enumerate(units) if u == "CHUMO")  # in order
        assert all(c["start"] <= c["end"] for c in received)
        text_a = " ".join(c["text"] for c in received if c["unit"] == "CHUMO")
        text_b = " ".join(c["text"] for c in received if c["unit"] == "IATUL")
        references = [" ".join(u.text for u in first), " ".join(u.text for u in second)]
        wer = error_rates(references, [text_a, text_b]).wer
        print(f"\n{speech_corpus.name}: caption WER at the viewer {wer:.3f}")
        print(f"captions: {text_a} | {text_b}\nreference: {references}")
        if speech_corpus.name == "vivos":
            assert wer <= MAX_VIVOS_WER

        # the transcript holds the live segments of both units, the tail included, once the process closed
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            transcript = live.api("GET", f"/api/meetings/{MEETING}/transcript", "chutri").json()
            segs = transcript["segments"]
            if {s["unit"] for s in segs} >= {"CHUMO", "IATUL"} and len(segs) >= len(received):
                break
            time.sleep(0.5)
        assert {s["unit"] for s in segs} >= {"CHUMO", "IATUL"}, transcript
        assert transcript["status"] == "done"
        stored = {(s["unit"], s["text"]) for s in segs}
        assert all((c["unit"], c["text"]) in stored for c in received)
        # a commune that may see the meeting finds it too; the caption process has exited
        assert live.api("GET", "/api/search", "iatul", params={"q": word}).json()["hits"]
        deadline = time.monotonic() + 30
        while caption_processes(live.proc.pid) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not caption_processes(live.proc.pid)
        chair.close()
        clerk.close()
    finally:
        live.stop()
