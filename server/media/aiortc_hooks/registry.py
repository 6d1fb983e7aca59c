"""The start-up registry of the aiortc hooks: the versions they were written for, `HookError`, and the
accelerations `checks.self_check()` switches off when their internals changed (`accelerated`,
`disabled_accelerations`). Every module of the package logs as ``server.media.aiortc_hooks``."""

from __future__ import annotations

import logging

logger = logging.getLogger(__package__)

EXPECTED_AIORTC_VERSION = "1.16.0"
EXPECTED_VERSIONS = {"aiortc": EXPECTED_AIORTC_VERSION, "aioice": "0.13.0", "pylibsrtp": "1.0.0"}


class HookError(RuntimeError):
    """An aiortc/aioice internal that the SFU relies on is missing or changed shape."""


# What only accelerates: each name below is a faster way to do what aiortc does; when its internals changed,
# the feature is switched off with a warning and the plain aiortc path does the work (the SFU is slower, not
# broken). Everything else self_check() verifies is required: without it the SFU cannot forward at all.
# `consent_window` is a tolerance rather than a speed-up, switched off the same way: aioice's stricter checks.
# `udp_drain` keeps a busy ICE socket's STUN from waiting behind its backlog: off, asyncio's one read a turn.
ACCELERATIONS = ("direct_send", "c_sender", "fast_path", "report_interval", "consent_window", "udp_drain")
_disabled: dict[str, list[str]] = {}


def accelerated(name: str) -> bool:
    """True while the acceleration `name` (one of ACCELERATIONS) is usable on the installed internals."""
    return name not in _disabled


def disabled_accelerations() -> dict[str, list[str]]:
    """The accelerations switched off at import, each with the internals that changed (for /api/health)."""
    return {name: list(problems) for name, problems in _disabled.items()}
