"""The web client's unit tests (tests/web/*.test.mjs, node's own test runner) as part of the pytest run: the
room reducer (web/js/room/state.js) is imported by node exactly as the browser loads it."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
NODE_TIMEOUT_S = 120


def test_node_unit_tests_pass() -> None:
    node = shutil.which("node")
    assert node is not None, "node is needed for the web client's unit tests (Debian: nodejs)"
    files = sorted(p.relative_to(ROOT).as_posix() for p in (ROOT / "tests" / "web").glob("*.test.mjs"))
    assert files, "no tests/web/*.test.mjs found"
    run = subprocess.run(
        [node, "--test", "--test-reporter=spec", *files],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=NODE_TIMEOUT_S,
        check=False,
    )
    output = run.stdout + run.stderr
    assert run.returncode == 0, f"node --test failed (exit {run.returncode}):\n{output}"
    passed = re.search(r"^\S*\s*pass (\d+)", output, re.MULTILINE)
    assert passed is not None and int(passed.group(1)) > 0, output
    assert re.search(r"^\S*\s*fail 0$", output, re.MULTILINE), output
