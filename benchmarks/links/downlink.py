"""Downlink adaptation: what a viewer on a thin or lossy link sees, with the server's adaptation and without.

Each cell is one call in its own network namespace (tests/media/downlink_child.py): three publishers (Opus and
pre-encoded VP8 480x360@15, ~350 kb/s, a key frame a second, and — as browsers do for the chair's wall — the
camera's 240x180@15 thumbnail, ~120 kb/s) and a viewer bot; the namespace's loopback drops each UDP packet
with the cell's loss each way (iptables ``statistic``), and the viewer's downlink is capped (iptables
``hashlimit``) after ``--before`` seconds for ``--capped`` seconds, then freed for ``--after``. Each cell runs
its modes at once, on the same machine load: ``layers`` (server/media/downlink.py: cameras sent as their
thumbnails first, then paused), ``pause`` (the same policy with publishers that send no thumbnail: videos
paused only, the policy before the layer step) and ``baseline`` (adaptation off: every video to every viewer,
whatever its link). Reported for the capped phase (the whole call when there is no cap): audio freezes (runs
of 5+ audio packets lost, 100 ms) and their share of audio, the share of forwarded-video time frozen (no
showable frame for 217 ms), the shares of video time on the low layer, paused and shown (forwarded and not
frozen), the fewest videos forwarded, the video bitrate the viewer received and the median width (read from
the key frames' VP8 headers) of the showable frames of the two cameras below the pinned hall; and the time
after the cap is lifted until all three cameras show again at their full layer.

    python -m benchmarks.links.downlink                     # loss 0 / 5 % x cap none / 1 / 0.5 Mb/s (~6 min)
    python -m benchmarks.links.downlink --loss 0 2 5 10 --caps 0 2000 1000 500
    python -m benchmarks.links.downlink --loss 0 --caps 1000 --modes layers pause baseline

Needs root, iproute2 and iptables.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from tests.netns import namespace  # noqa: E402

MODES = ("layers", "pause", "baseline")


def run_call(
    loss_pct: float, cap_kbps: int, mode: str, timing: tuple[float, float, float]
) -> dict[str, Any]:
    rules: list[list[str]] = []
    if loss_pct:
        rules.append(["iptables", "-A", "OUTPUT", "-p", "udp", "-m", "statistic", "--mode", "random",
                      "--probability", f"{loss_pct / 100:.4f}", "-j", "DROP"])
    before, capped, after = timing
    command = [sys.executable, "-m", "tests.media.downlink_child", "--cap-kbps", str(cap_kbps),
               "--before", str(before), "--capped", str(capped), "--after", str(after)]
    if mode == "baseline":
        command.append("--no-adapt")
    elif mode == "pause":
        command.append("--no-thumbnail")
    why = "the downlink benchmark needs root, iproute2 and iptables (Debian: apt-get install iptables)"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    with namespace("gb-dlbench", rules, why=why) as name:
        done = subprocess.run(["ip", "netns", "exec", name, *command], capture_output=True, text=True,
                              timeout=sum(timing) + 120, env=env, cwd=REPO, check=False)
    if done.returncode != 0:
        print(f"call loss {loss_pct:g} % cap {cap_kbps} {mode} failed:\n{done.stderr[-3000:]}",
              flush=True)
        return {}
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def whole_call(result: dict[str, Any]) -> dict[str, Any]:
    """Without a cap: the three phases together, weighted by their length."""
    phases = [result[p] for p in ("before", "capped", "after")]
    total = sum(p["seconds"] for p in phases)
    out: dict[str, Any] = {"seconds": total}
    for key in ("audio_freezes", "video_freezes"):
        out[key] = sum(p[key] for p in phases)
    for key in ("audio_freeze_ratio", "video_freeze_ratio", "video_paused_ratio", "video_low_ratio",
                "video_kbps_received"):
        out[key] = sum(p[key] * p["seconds"] for p in phases) / total
    out["fewest_videos"] = min(p["fewest_videos"] for p in phases)
    widths = [w for p in phases for pid in ("chumo", "iapa") if (w := p["median_width"].get(pid))]
    out["median_width"] = {"all": sorted(widths)[len(widths) // 2] if widths else None}
    return out


def lower_width(phase: dict[str, Any]) -> str:
    """The median decoded width of the two cameras below the pinned hall (the first to a low layer)."""
    widths = [w for pid in ("chumo", "iapa", "all") if (w := phase["median_width"].get(pid))]
    return "/".join(str(w) for w in widths) if widths else "—"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--loss", type=float, nargs="+", default=[0.0, 5.0], help="loss %% each way")
    parser.add_argument("--caps", type=int, nargs="+", default=[0, 1000, 500], help="kb/s, 0: no cap")
    parser.add_argument("--before", type=float, default=6.0)
    parser.add_argument("--capped", type=float, default=24.0)
    parser.add_argument("--after", type=float, default=15.0)
    parser.add_argument("--modes", nargs="+", choices=MODES, default=list(MODES))
    args = parser.parse_args(argv)
    modes = tuple(args.modes)
    timing = (args.before, args.capped, args.after)
    print(f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}; calls of "
          f"{args.before:g} + {args.capped:g} capped + {args.after:g} s", flush=True)
    cells = [(loss, cap) for loss in args.loss for cap in args.caps]
    results: dict[tuple[float, int, str], dict[str, Any]] = {}
    t0 = time.monotonic()
    with ThreadPoolExecutor(len(modes)) as pool:  # a cell's calls at once: the same load for all
        for loss, cap in cells:
            futures = {mode: pool.submit(run_call, loss, cap, mode, timing) for mode in modes}
            for mode, future in futures.items():
                results[(loss, cap, mode)] = future.result()
    print(f"{len(cells) * len(modes)} calls in {time.monotonic() - t0:.0f} s, load average "
          f"{os.getloadavg()[0]:.1f}\n")
    print("| loss each way | viewer cap | server | audio freezes | audio lost in freezes | video time frozen "
          "| on low layer | paused | video shown | fewest videos | video received | width, 2nd/3rd camera "
          "| full layer back after the cap | frozen / layers' |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for loss, cap in cells:
        frozen: dict[str, float] = {}
        for mode in modes:
            result = results[(loss, cap, mode)]
            if not result:
                print(f"| {loss:g} % | {cap} | {mode} | failed |||||||||||")
                continue
            phase = result["capped"] if cap else whole_call(result)
            frozen[mode] = phase["video_freeze_ratio"]
            # of the three videos' time, the share with a showable picture (forwarded and not frozen)
            shown = (1 - phase["video_paused_ratio"]) * (1 - phase["video_freeze_ratio"])
            back = result["recovery_s"]
            recovery = "—" if not cap else ("not within the call" if back is None else f"{back:.1f} s")
            ratio = ""
            layered = frozen.get("layers")
            if mode != "layers" and layered is not None:
                ratio = f"{phase['video_freeze_ratio'] / layered:.1f}×" if layered > 0 else "layers: 0"
            print(f"| {loss:g} % | {'none' if not cap else f'{cap / 1000:g} Mb/s'} | {mode} | "
                  f"{phase['audio_freezes']} | {phase['audio_freeze_ratio']:.2%} | "
                  f"{phase['video_freeze_ratio']:.1%} | {phase['video_low_ratio']:.1%} | "
                  f"{phase['video_paused_ratio']:.1%} | {shown:.1%} | {phase['fewest_videos']} | "
                  f"{phase['video_kbps_received']:.0f} kb/s | {lower_width(phase)} | {recovery} | {ratio} |")
    print("\nPhase: the capped one (the whole call without a cap). Targets (issue 16): capped at 1 Mb/s, 0 "
          "audio freezes and video at a lower layer instead of frozen; full quality back within 10 s of the "
          "lift.")


if __name__ == "__main__":
    main()
