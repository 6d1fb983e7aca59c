"""The environment of a process a test starts (a server, a worker, a bot, the CLI): the runner's, without the
GIAOBAN_* settings a shell may have set, but with the ones the test suite runs every process with
(TEST_SETTINGS, put in the environment by tests/conftest.py: a benchmark that starts servers through the same
harness, outside pytest, runs them on the product's defaults)."""

from __future__ import annotations

import os

# argon2id at OWASP's floor instead of RFC 9106's recommendation: each test seeds and logs in several
# accounts, and the strong profile (~0.15-0.5 s per hash on these 2 cores) made most of a test's setup.
# tests/server/test_security.py checks both profiles.
TEST_SETTINGS = {"GIAOBAN_PASSWORD_HASHING": "minimal"}


def child_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIAOBAN_") or k in TEST_SETTINGS}
    env.update(extra)
    return env
