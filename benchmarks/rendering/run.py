"""Document rendering against the live event loop: a real ``giaoban serve`` subprocess with a long meeting
(``--segments`` transcript segments, one contribution each), ``--parallel`` minutes.pdf downloads at once, and
the signaling socket's ``ping`` round trip sampled every 60 ms before and during them. Each mode runs on a
fresh server in the same run:

- ``pool``: renders in the render processes (``GIAOBAN_RENDER_WORKERS``, default 2), the shipped default;
- ``threadpool``: the baseline, ``GIAOBAN_RENDER_WORKERS=0`` (renders in the server's threadpool, as before).

    python benchmarks/rendering/run.py [--modes pool,threadpool] [--segments 3000] [--parallel 4] [--quiet 5]

Prints per mode: ping round trip p50/p99/max quiet and under load, the downloads' wall time and throughput
(PDFs per minute), then the ratios baseline / pool. Target: p99 ≤ 20 ms under load.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.server.live_harness import LiveServer  # noqa: E402
from tests.server.render_load import LoadFigures, measure_renders, percentile, store_long_meeting  # noqa: E402

MEETING = 1  # the demo meeting
MODES = {"pool": None, "threadpool": "0"}  # GIAOBAN_RENDER_WORKERS; None keeps the default
SPIKE_MS = 50.0


@dataclass(frozen=True)
class Result:
    mode: str
    figures: LoadFigures

    @property
    def throughput_per_min(self) -> float:
        return len(self.figures.downloads) / self.figures.wall_s * 60


def run_mode(mode: str, segments: int, parallel: int, quiet_s: float, workers: str | None) -> Result:
    with tempfile.TemporaryDirectory(prefix="bench-render-") as tmp:
        env = {"GIAOBAN_RENDER_WORKERS": MODES[mode]} if MODES[mode] is not None else {}
        if workers is not None and mode == "pool":
            env["GIAOBAN_RENDER_WORKERS"] = workers
        live = LiveServer(Path(tmp) / "data", None, extra_env=env).start()
        try:
            store_long_meeting(live, MEETING, segments)
            token = live.token("chutri")
            live.api("POST", f"/api/meetings/{MEETING}/start", "chutri").raise_for_status()
            figures = measure_renders(live, MEETING, token, parallel=parallel, quiet_s=quiet_s)
        finally:
            live.stop()
    bad = [d.status for d in figures.downloads if d.status != 200]
    if bad:
        raise SystemExit(f"{mode}: downloads failed with {bad}")
    return Result(mode, figures)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--modes", default="pool,threadpool")
    parser.add_argument("--segments", type=int, default=3000)
    parser.add_argument("--parallel", type=int, default=4)
    parser.add_argument("--quiet", type=float, default=5.0, help="seconds of pings before the downloads")
    parser.add_argument("--workers", default=None, help="GIAOBAN_RENDER_WORKERS of the pool mode")
    args = parser.parse_args()
    results = []
    for mode in args.modes.split(","):
        result = run_mode(mode, args.segments, args.parallel, args.quiet, args.workers)
        f = result.figures
        print(f"== {mode}: {args.parallel} × minutes.pdf of {args.segments} segments")
        print(f"   ping quiet : {f.summary(f.quiet_ms)}")
        print(f"   ping loaded: {f.summary(f.loaded_ms)}")
        print(f"   renders    : {f.wall_s:.1f} s wall, {result.throughput_per_min:.1f} PDFs/min, "
              f"{f.downloads[0].size} bytes each")
        print(f"   loaded pings over {SPIKE_MS:.0f} ms: {f.spikes(SPIKE_MS) or 'none'}", flush=True)
        results.append(result)
    by_mode = {r.mode: r for r in results}
    if "pool" in by_mode and "threadpool" in by_mode:
        pool, base = by_mode["pool"].figures, by_mode["threadpool"].figures
        print("== baseline (threadpool) / pool")
        for q in (50, 99):
            b, p = percentile(base.loaded_ms, q), percentile(pool.loaded_ms, q)
            print(f"   ping p{q} under load: {b:.1f} / {p:.1f} ms = {b / p:.1f}×")
        print(
            f"   throughput: {by_mode['threadpool'].throughput_per_min:.1f} / "
            f"{by_mode['pool'].throughput_per_min:.1f} PDFs/min = "
            f"{by_mode['threadpool'].throughput_per_min / by_mode['pool'].throughput_per_min:.2f}×"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
