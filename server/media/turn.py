"""Time-limited TURN credentials: the "TURN REST API" shared-secret scheme that coturn checks with
``--use-auth-secret --static-auth-secret=SECRET``.

username   = f"{expiry_unix}:{account}"
credential = base64(HMAC-SHA1(secret, username))

The TURN server recomputes the HMAC from the username and its own copy of the secret and refuses the
username once its timestamp is in the past, so no password is stored or sent anywhere else. No imports of
ours: the SFU (MediaConfig) and the signaling layer (welcome) both issue them.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from dataclasses import dataclass


@dataclass(frozen=True)
class TurnCredential:
    urls: tuple[str, ...]
    username: str
    credential: str
    expires: int  # unix seconds


def credential_for(secret: str, username: str) -> str:
    """base64(HMAC-SHA1(secret, username)), as coturn computes it."""
    digest = hmac.new(secret.encode(), username.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode("ascii")


@dataclass(frozen=True)
class TurnIssuer:
    """Issues credentials for the TURN URLs (``turn:host:3478``, no user:password) with one shared secret.

    ttl_s must outlast what uses the credential: coturn checks the timestamp on every allocation refresh,
    so a peer connection's relay dies when its credential expires.
    """

    urls: tuple[str, ...]
    secret: str
    ttl_s: int = 86_400

    def issue(self, account: str, now: float | None = None) -> TurnCredential:
        expires = int(now if now is not None else time.time()) + self.ttl_s
        username = f"{expires}:{account.replace(':', '_')}"
        return TurnCredential(self.urls, username, credential_for(self.secret, username), expires)
