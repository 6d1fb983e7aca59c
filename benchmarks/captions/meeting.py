"""Benchmark live captions in a live meeting of 10: captions off (baseline) vs on, in the same run.

Each mode runs a real `giaoban serve` (fresh data dir, the demo meeting, recorded, floor control off) and ten
real `giaoban bot` participants: the chair's hall (thuky, with a camera), eight communes
and chumo speaking dev-set speech (VIVOS clips from ../shared/eval when present, else the espeak sentences;
the output says which) with its camera on. A viewer socket (giamsat) asks for captions in the "on" mode and
timestamps every caption it receives; poto asks too, through `--captions-json`. Measured per mode:

- the server process's CPU (share of one core) over the speech, and the caption process's CPU and peak RSS;
- what the bots received of the speaker: audio frames, video fps of the two cameras, packets lost;
- caption delay at the viewer, per word (the issue's measure): receive time of its final caption - the word's
  end on the meeting clock (the recording's clock, read from its manifest), p50 / p95 over the final
  captions' words; and per caption (receive time - its last word's end), the smaller figure;
- caption WER against the references and that of the offline pass of the same audio (the default engine, in
  this process after the meeting: the baseline), and the time from the meeting's end until the caption
  process has exited and the transcript holds the tail (the transcript complete and searchable).

    python -m benchmarks.captions.meeting [--clips 8]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import wave
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from benchmarks.captions.common import asr_model, load_speech, offline_pass  # noqa: E402
from recordings.manifest import read_manifest  # noqa: E402
from tests.server.live_harness import LiveServer, SocketClient, read_stats  # noqa: E402
from transcription.audio import SAMPLE_RATE_HZ  # noqa: E402
from transcription.wer import error_rates  # noqa: E402

MEETING = 1
LEAD_S = 3.0
SPEAKER = "chumo"
OTHERS = ("thuky", "poto", "churang", "iabroai", "iakdam", "iamron", "iatrok", "iatul", "kimtan")
CAMERAS = ("chumo", "thuky")
# The ten clients stand for machines elsewhere on the network, but here they share the server's 2 cores: at
# the normal priority they took ~4 of the 5 runnable tasks and the caption process (niced by 10, as shipped)
# ran 15-20 s behind the speech. Niced by 19 they take only what the server and the caption process leave.
CLIENT_NICE = 19
TICKS = os.sysconf("SC_CLK_TCK")


def cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def children(pid: int, marker: bytes) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
                if parent == pid and marker in (entry / "cmdline").read_bytes():
                    found.append(int(entry.name))
            except (OSError, IndexError, ValueError):
                continue
    return found


def peak_rss_mb(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return float("nan")


def niced(proc: subprocess.Popen[str], niceness: int) -> subprocess.Popen[str]:
    """A client process lowered to ``niceness`` (it stands for a machine elsewhere)."""
    if niceness:
        os.setpriority(os.PRIO_PROCESS, proc.pid, niceness)
    return proc


def finish_bots(procs: list[subprocess.Popen[str]]) -> int:
    """Wait for the bots; how many failed (on a machine loaded past its 2 cores a bot's ICE consent can
    expire: it is counted and said, not hidden)."""
    failed = 0
    for p in procs:
        if p.stdin is not None and not p.stdin.closed:
            p.stdin.close()
        try:
            p.wait(timeout=300)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
        if p.returncode != 0:
            failed += 1
            tail = p.stdout.read()[-400:] if p.stdout is not None else ""
            print(f"a bot failed ({p.returncode}): {tail}", file=sys.stderr)
    return failed


def write_wav(audio: np.ndarray, out: Path) -> None:
    with wave.open(str(out), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(SAMPLE_RATE_HZ)
        w.writeframes((np.clip(audio, -1, 1) * 32767).astype("<i2").tobytes())


def run_mode(
    captions: bool,
    wav: Path,
    speech_s: float,
    model: Path,
    work: Path,
    client_nice: int = CLIENT_NICE,
    settings: dict[str, str] | None = None,
) -> dict[str, Any]:
    """One meeting; ``settings``: GIAOBAN_* settings of its server (the harness's child_env drops the
    shell's, so a setting under test is passed here)."""
    env = {"GIAOBAN_ASR_MODEL": str(model), "GIAOBAN_TRANSCRIPT_SOURCE": "live", **(settings or {})}
    live = LiveServer(work / "data", None, extra_env=env).start()
    out: dict[str, Any] = {}
    try:
        assert live.proc is not None
        assert live.api("POST", f"/api/meetings/{MEETING}/start", "chutri").status_code == 200
        chair = SocketClient(live.ws_url(MEETING, live.token("chutri")))
        chair.wait_for(lambda m: m["type"] == "welcome")
        chair.send({"type": "floor_control", "enabled": False})
        viewer = TimedSocket(live.ws_url(MEETING, live.token("giamsat")))
        viewer.wait_for(lambda m: m["type"] == "welcome")
        if captions:
            viewer.send({"type": "captions", "enabled": True})
        stay_s = LEAD_S + speech_s + 60
        bots = [
            niced(
                live.bot(
                    MEETING,
                    name,
                    video=name in CAMERAS,
                    duration_s=stay_s,
                    stats=work / f"{name}.json",
                    captions=work / "captions.json" if captions and name == "poto" else None,
                ),
                client_nice,
            )
            for name in OTHERS
        ]
        for name in OTHERS:
            chair.wait_for(
                lambda m, n=name: m["type"] == "participant_joined" and m["participant"]["username"] == n, 120
            )
        time.sleep(3)  # every peer connected
        speaker = niced(
            live.bot(MEETING, SPEAKER, play=wav, video=True, duration_s=LEAD_S + speech_s + 3), client_nice
        )
        chair.wait_for(
            lambda m: m["type"] == "participant_joined" and m["participant"]["username"] == SPEAKER, 120
        )
        server0, wall0 = cpu_s(live.proc.pid), time.monotonic()
        out["bots_failed"] = finish_bots([speaker])
        window_s = time.monotonic() - wall0
        out["server_cpu_pct"] = (cpu_s(live.proc.pid) - server0) / window_s * 100
        procs = children(live.proc.pid, b"transcription.captions_worker")
        if captions:
            # the tail: wait for the last final caption (nothing new for 5 s after the speaker left)
            seen, quiet_since = len(viewer.received), time.monotonic()
            while time.monotonic() - quiet_since < 5 and time.monotonic() - wall0 < window_s + 60:
                time.sleep(0.25)
                if len(viewer.received) != seen:
                    seen, quiet_since = len(viewer.received), time.monotonic()
            out["caption_cpu_s"] = sum(cpu_s(p) for p in procs)
            out["caption_rss_mb"] = max((peak_rss_mb(p) for p in procs), default=float("nan"))
        ended_at = time.monotonic()
        assert live.api("POST", f"/api/meetings/{MEETING}/end", "chutri").status_code == 200
        out["bots_failed"] += finish_bots(bots)
        if captions:
            marker = b"transcription.captions_worker"
            while children(live.proc.pid, marker) and time.monotonic() - ended_at < 120:
                time.sleep(0.1)
            transcript = live.api("GET", f"/api/meetings/{MEETING}/transcript", "chutri").json()
            out["tail_s"] = time.monotonic() - ended_at
            out["segments"] = len(transcript["segments"])
            bot_file = work / "captions.json"
            bot_captions = json.loads(bot_file.read_text())["captions"] if bot_file.exists() else []
            out["bot_captions"] = len(bot_captions)
        origin = read_manifest(work / "data" / "recordings" / str(MEETING)).started_at.timestamp()
        timed = list(zip(viewer.receive_times, viewer.received, strict=False))
        captions_in = [(t, m) for t, m in timed if m["type"] == "caption"]
        out["finals"] = [m for _, m in captions_in if m["final"]]
        out["partials"] = len(captions_in) - len(out["finals"])
        out["delays"] = [t - (origin + m["end"]) for t, m in captions_in if m["final"]]
        out["word_delays"] = [
            t - (origin + float(w[1])) for t, m in captions_in if m["final"] for w in m.get("words") or ()
        ]
        stats = {n: read_stats(work / f"{n}.json") for n in OTHERS if (work / f"{n}.json").exists()}
        got = [s.get(SPEAKER, {}) for s in stats.values()]
        out["audio_frames"] = float(np.mean([g.get("audio_frames", 0) for g in got]))
        out["lost"] = sum(int(g.get("packets_lost", 0)) for g in got)
        fps = [
            stats[name].get(cam, {}).get("video_frames", 0) / window_s
            for name in stats
            for cam in CAMERAS
            if cam != name
        ]
        out["fps_mean"] = float(np.mean(fps))
        chair.close()
        viewer.close()
    finally:
        live.stop()
    return out


class TimedSocket(SocketClient):
    """A signaling socket that keeps the wall-clock time each message was received."""

    def __init__(self, url: str) -> None:
        self.receive_times: list[float] = []
        super().__init__(url)

    async def _reader(self) -> None:
        import websockets

        try:
            async for raw in self._ws:
                self.receive_times.append(time.time())
                self.received.append(json.loads(raw))
        except websockets.ConnectionClosed:
            pass
        self.close_code = self._ws.close_code


def parse_settings(pairs: list[str]) -> dict[str, str]:
    settings = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.startswith("GIAOBAN_"):
            raise SystemExit(f"not a GIAOBAN_KEY=VALUE setting: {pair!r}")
        settings[key] = value
    return settings


def report_on(
    mode: str,
    on: dict[str, Any],
    off: dict[str, Any],
    reference: str,
    offline_text: str,
    offline_wer: float,
    speech_s: float,
) -> None:
    captions_text = " ".join(str(m["text"]) for m in on["finals"])
    live_wer = error_rates([reference], [captions_text]).wer
    vs_offline = error_rates([offline_text], [captions_text]).wer
    delays = on.get("delays") or [float("nan")]
    p50, p95 = np.percentile(delays, [50, 95])
    word_p50, word_p95 = np.percentile(on.get("word_delays") or [float("nan")], [50, 95])
    load = on["load"]
    print(f"== captions {mode} (load average {load[0]:.2f} -> {load[1]:.2f}; off: {off['load'][0]:.2f})")
    print(
        f"meeting of 10 (1 speaker, 2 cameras), server CPU: captions off {off['server_cpu_pct']:.1f} %, "
        f"on {on['server_cpu_pct']:.1f} % of a core "
        f"(ratio {on['server_cpu_pct'] / off['server_cpu_pct']:.2f}x)"
    )
    print(
        f"received of the speaker (mean per bot): audio frames off {off['audio_frames']:.0f}, "
        f"on {on['audio_frames']:.0f}; camera fps off {off['fps_mean']:.1f}, on {on['fps_mean']:.1f}; "
        f"packets lost off {off['lost']}, on {on['lost']}"
    )
    print(
        f"captions at the viewer: {len(on['finals'])} final, {on['partials']} partial; delay per word "
        f"(its end -> its final caption received) p50 {word_p50:.2f} s, p95 {word_p95:.2f} s (target p95 "
        f"<= 3 s, ratio {word_p95 / 3:.2f}x); per caption (its last word's end -> received) p50 {p50:.2f} s, "
        f"p95 {p95:.2f} s; the bot's --captions-json: {on['bot_captions']} final"
    )
    print(
        f"WER vs references: captions {live_wer:.3f}, offline pass {offline_wer:.3f} "
        f"({100 * (live_wer - offline_wer):+.1f} points, target <= +5); captions vs the offline text "
        f"{vs_offline:.3f}"
    )
    print(
        f"caption process: CPU {on['caption_cpu_s']:.1f} s over {speech_s:.0f} s of speech "
        f"({100 * on['caption_cpu_s'] / speech_s:.0f} % of a core, model load included), "
        f"peak RSS {on['caption_rss_mb']:.0f} MB (target <= 700 MB)"
    )
    print(
        f"after the end: caption process exited and the transcript holds {on['segments']} segments "
        f"{on['tail_s']:.1f} s after the end (target <= 60 s)"
    )
    print(f"bots that failed: off {off['bots_failed']}, on {on['bots_failed']} of 10")
    print(f"the captions' text: {captions_text}\nthe offline text: {offline_text}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--clips", type=int, default=8, help="clips the speaker says (default 8)")
    parser.add_argument(
        "--client-nice",
        type=int,
        default=CLIENT_NICE,
        help=f"niceness of the ten client processes (default {CLIENT_NICE}; 0: they compete with the server)",
    )
    parser.add_argument(
        "--env",
        action="append",
        default=[],
        metavar="GIAOBAN_KEY=VALUE",
        help="a server setting in every mode (repeatable; the shell's GIAOBAN_* are not passed on)",
    )
    parser.add_argument(
        "--variant-env",
        action="append",
        default=[],
        metavar="GIAOBAN_KEY=VALUE",
        help="also run captions on with this setting (repeatable), in the same run, after the defaults",
    )
    args = parser.parse_args()
    said = load_speech(args.clips)
    spoken, speech_s, reference = said.audio, said.duration_s, said.reference
    audio = np.concatenate([np.zeros(round(LEAD_S * SAMPLE_RATE_HZ), dtype=np.float32), spoken])
    model = asr_model()
    print(f"speech: {said.corpus}, {len(said.utterances)} clips, {speech_s:.1f} s; model {model.path}")
    print(f"load average before: {os.getloadavg()[0]:.2f} (2-core machine shared with others)")
    print(f"clients niced by {args.client_nice} (they stand for machines elsewhere; the server is not niced)")
    common = parse_settings(args.env)
    modes: list[tuple[str, bool, dict[str, str]]] = [("off", False, common), ("on", True, common)]
    if args.variant_env:
        variant = {**common, **parse_settings(args.variant_env)}
        modes.append(("on, " + " ".join(args.variant_env), True, variant))
    if common:
        print(f"server settings in every mode: {common}")
    results: dict[str, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory(prefix="giaoban-captions-bench-") as tmp:
        wav = Path(tmp) / "speech.wav"
        write_wav(audio, wav)
        for number, (mode, captions, settings) in enumerate(modes):
            work = Path(tmp) / f"mode{number}"
            work.mkdir()
            load = os.getloadavg()[0]
            results[mode] = run_mode(captions, wav, speech_s, model.path, work, args.client_nice, settings)
            results[mode]["load"] = (load, os.getloadavg()[0])
            print(f"captions {mode}: done (load average {load:.2f} -> {os.getloadavg()[0]:.2f})", flush=True)
    off = results["off"]
    offline = offline_pass(model, spoken, reference, threads=2)
    offline_text, offline_wer = offline.text, offline.wer
    print(f"offline pass of the same audio: WER {offline_wer:.3f}")
    for mode, captions, _ in modes:
        if captions:
            report_on(mode, results[mode], off, reference, offline_text, offline_wer, speech_s)
    print(f"load average after: {os.getloadavg()[0]:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
