"""Last-N ranking cost of a province meeting (issue 15): cameras ranked per viewer vs once per call.

    python benchmarks/sfu/ranking.py [--communes 135] [--rounds 50] [--baseline-commit db64ab4]

Every `levels_interval_s` (0.5 s) a room with `last_n` recomputes each viewer's last-N cameras
(`MediaRoom._apply_last_n`, which in a bounded meeting also rebalances each viewer's m-lines), and every join,
leave or change of audible speakers rebalances every viewer (`_notify_others`, `_select_audio`). Baseline,
in the same run: server/media/room.py as of `--baseline-commit` (read from git), which ranked every camera
for each viewer (136 sorts of 136 per call: O(N^2 log N)); against the current room.py, which ranks once
per call and takes each viewer's set from the shared ranking. Both rooms hold the same state: the hall
(pinned) and N communes, each with a microphone and a camera, a few recent speakers, peer connections
created but not connected (the ranking and m-line choice are measured, not the media path).
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import statistics
import subprocess
import sys
import time
from pathlib import Path
from types import ModuleType
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from server.media.audio_selection import PreRoll  # noqa: E402
from server.media.config import MediaConfig  # noqa: E402
from server.media.participants import Participant, PublishedStream  # noqa: E402


def baseline_module(commit: str) -> ModuleType:
    """server/media/room.py as of `commit`, importable beside the current one."""
    source = subprocess.run(
        ["git", "-C", str(ROOT), "show", f"{commit}:server/media/room.py"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    spec = importlib.util.spec_from_loader("room_baseline", loader=None)
    assert spec is not None
    module = importlib.util.module_from_spec(spec)
    exec(compile(source, f"{commit}:server/media/room.py", "exec"), module.__dict__)
    return module


def populate(room: Any, communes: int) -> None:
    """The hall and `communes` communes, each publishing a microphone and a camera; the hall pinned."""
    ids = ["hall", *(f"xa-{i:03d}" for i in range(communes))]
    for pid in ids:
        room._participants[pid] = Participant(pid, pid, pid, True, False, room._new_pc(pid))
        mic = PublishedStream(pid, "audio", "microphone", preroll=PreRoll(12, 0.3))
        room._streams[(pid, "microphone")] = mic
        room._streams[(pid, "camera")] = PublishedStream(pid, "video", "camera")
    now = time.monotonic()
    for pid in ids[5:9]:  # a few communes spoke recently: ranked after the hall, before join order
        for _ in range(20):
            room._speakers.update(pid, 127, now)
    room.set_pinned(["hall"])


def time_calls(room: Any, rounds: int) -> tuple[float, float]:
    """Median ms of `_apply_last_n()` and of `_notify_others(one commune)` over `rounds` calls each."""
    last_n, notify = [], []
    for _ in range(rounds):
        t0 = time.perf_counter()
        room._apply_last_n()
        t1 = time.perf_counter()
        room._notify_others("xa-000")
        t2 = time.perf_counter()
        last_n.append((t1 - t0) * 1000)
        notify.append((t2 - t1) * 1000)
    return statistics.median(last_n), statistics.median(notify)


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--communes", type=int, default=135)
    parser.add_argument("--rounds", type=int, default=50)
    parser.add_argument("--baseline-commit", default="db64ab4", help="room.py ranking per viewer")
    parser.add_argument("--last-n", type=int, default=2)
    args = parser.parse_args()
    from server.media import room as current

    config = MediaConfig(last_n=args.last_n, bounded_from=20, audio_speakers=3)
    results: dict[str, tuple[float, float]] = {}
    wanted: dict[str, list[list[tuple[str, str]]]] = {}
    for label, module in (("baseline", baseline_module(args.baseline_commit)), ("current", current)):
        room = module.MediaRoom(label, config)
        populate(room, args.communes)
        # compared before timing: the speakers' hold (10 s) may run out during a slow baseline
        wanted[label] = [sorted(room._wanted(p)) for p in room._participants.values()]
        results[label] = time_calls(room, args.rounds)
        await room.close()
        last_n_ms, notify_ms = results[label]
        print(
            f"{label:8s} ({1 + args.communes} participants, last_n {args.last_n}): _apply_last_n "
            f"{last_n_ms:.2f} ms, _notify_others {notify_ms:.2f} ms (median of {args.rounds})",
            flush=True,
        )
    same = wanted["baseline"] == wanted["current"]
    (b_last, b_notify), (c_last, c_notify) = results["baseline"], results["current"]
    print(
        f"baseline / current: _apply_last_n {b_last / c_last:.1f}x, "
        f"_notify_others {b_notify / c_notify:.1f}x; "
        f"every viewer's streams identical: {same}",
        flush=True,
    )
    if not same:
        raise SystemExit("the current room chose different streams than the baseline")


if __name__ == "__main__":
    asyncio.run(main())
