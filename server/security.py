"""Password hashing (argon2id), opaque session tokens, and keeping tokens out of the logs."""

from __future__ import annotations

import hashlib
import logging
import re
import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

TOKEN_BYTES = 32
# argon2id costs (``GIAOBAN_PASSWORD_HASHING``): a hash records its own parameters, so one made under either
# profile verifies under both; only new hashes take the current profile's.
PASSWORD_PROFILES: dict[str, PasswordHasher] = {
    # RFC 9106 section 4, the low-memory recommendation (argon2-cffi's default)
    "strong": PasswordHasher(time_cost=3, memory_cost=64 * 1024, parallelism=4),
    # OWASP Password Storage Cheat Sheet's minimum for argon2id
    "minimal": PasswordHasher(time_cost=2, memory_cost=19 * 1024, parallelism=1),
}
_hasher = PASSWORD_PROFILES["strong"]
# A hash of a random password, verified against when the username is unknown, so that the time taken does
# not reveal which usernames exist (made under the current profile, so that it costs what a real one does).
_dummy_hash: str | None = None


def use_password_hashing(profile: str) -> None:
    """Hash new passwords under ``profile`` (a key of PASSWORD_PROFILES) from now on, in this process."""
    global _hasher, _dummy_hash
    if profile not in PASSWORD_PROFILES:
        raise ValueError(f"unknown password hashing profile {profile!r}")
    hasher = PASSWORD_PROFILES[profile]
    if hasher is not _hasher:
        _hasher, _dummy_hash = hasher, None


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    global _dummy_hash
    if _dummy_hash is None:
        _dummy_hash = _hasher.hash(secrets.token_urlsafe(16))
    try:
        return _hasher.verify(password_hash or _dummy_hash, password) and password_hash is not None
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def new_token() -> str:
    return secrets.token_urlsafe(TOKEN_BYTES)


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def new_password() -> str:
    """A one-time password that is easy to read aloud: four groups of four characters."""
    alphabet = "abcdefghjkmnpqrstuvwxyz23456789"
    return "-".join("".join(secrets.choice(alphabet) for _ in range(4)) for _ in range(4))


# ``token=`` / ``ticket=`` values in a URL's query (``/ws/meetings/2?token=...``), as uvicorn logs them.
_SECRET_QUERY_RE = re.compile(r"(?i)((?:^|[?&;\s\"'])(?:access_token|token|ticket)=)[^&\s\"']*")
REDACTED = "***"
REDACTED_LOGGERS = ("uvicorn.access", "uvicorn.error")


def redact_secrets(text: str) -> str:
    """``/ws/meetings/2?token=abc&x=1`` → ``/ws/meetings/2?token=***&x=1``."""
    return _SECRET_QUERY_RE.sub(lambda m: m.group(1) + REDACTED, text)


class RedactSecrets(logging.Filter):
    """Rewrites session tokens and socket tickets in a log record (message and arguments) to ``***``.

    uvicorn logs each request's path with its query: the access log (``uvicorn.access``) and the WebSocket
    handshake lines (``uvicorn.error``: ``"WebSocket /ws/meetings/2?token=..." [accepted]``).
    """

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str):
            record.msg = redact_secrets(record.msg)
        if isinstance(record.args, tuple):
            record.args = tuple(redact_secrets(a) if isinstance(a, str) else a for a in record.args)
        elif isinstance(record.args, dict):
            record.args = {k: redact_secrets(v) if isinstance(v, str) else v for k, v in record.args.items()}
        return True


def install_log_redaction() -> None:
    """Attach :class:`RedactSecrets` to uvicorn's loggers, once (a later logging configuration keeps them)."""
    for name in REDACTED_LOGGERS:
        logger = logging.getLogger(name)
        if not any(isinstance(f, RedactSecrets) for f in logger.filters):
            logger.addFilter(RedactSecrets())
