"""A fresh network namespace with only the loopback interface up, for tests whose traffic must stay on
127.0.0.1 (the browser tests) or cross a lossy loopback (the loss tests). Needs root and iproute2."""

from __future__ import annotations

import os
import shutil
import subprocess
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager


def _run(*cmd: str) -> None:
    subprocess.run(cmd, check=True, capture_output=True, text=True)


@contextmanager
def namespace(prefix: str, setup: Sequence[Sequence[str]] = (), *, why: str) -> Iterator[str]:
    """A namespace named ``prefix-<random>`` with ``lo`` up and each command of ``setup`` run inside it;
    deleted on exit. ``why`` is the error raised when this process cannot create one (not root, no tools)."""
    tools = ["ip", *(command[0] for command in setup)]
    if os.geteuid() != 0 or any(shutil.which(tool) is None for tool in tools):
        raise RuntimeError(why)
    name = f"{prefix}-{uuid.uuid4().hex[:8]}"
    _run("ip", "netns", "add", name)
    try:
        _run("ip", "netns", "exec", name, "ip", "link", "set", "lo", "up")
        for command in setup:
            _run("ip", "netns", "exec", name, *command)
        yield name
    finally:
        subprocess.run(["ip", "netns", "del", name], check=False, capture_output=True)
