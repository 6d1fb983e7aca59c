"""ICE consent freshness with an answer window (aioice `Connection.query_consent`): the `consent_window`
acceleration."""

from __future__ import annotations

import asyncio
import random

import aioice.ice
import aioice.stun

from server.media.aiortc_hooks.registry import accelerated, logger

# RFC 7675: consent to send expires when no check has been answered for 30 s. aioice 0.13 sends each check
# with no retransmission and counts it failed when its answer takes over 0.5 s (STUN's first RTO), closing the
# connection after 6 such checks in a row: a peer whose answers are late by more than half a second for 30 s
# (a 4G link in a queue, a client process busy with a hundred peers) loses its connection though it
# answered every check. The check below retransmits on STUN's schedule (0.5, 1, 2 s: answered within
# CONSENT_ANSWER_WINDOW_S) and expires consent on time, 30 s after the last answered check, as libnice does.
CONSENT_RETRANSMISSIONS = 2
CONSENT_ANSWER_WINDOW_S = 3.5  # STUN's RTO 0.5 s doubled per retransmission: 0.5 + 1 + 2
_original_query_consent = aioice.ice.Connection.query_consent


async def _query_consent_with_window(self: aioice.ice.Connection) -> None:
    """aioice's Connection.query_consent (uses remote_password, _nominated, build_request, pair.protocol
    .request, _query_consent_task, close; CONSENT_INTERVAL and CONSENT_FAILURES read at each check), with
    retransmitted checks and a time-based expiry."""
    assert self.remote_password is not None
    loop = asyncio.get_running_loop()
    expiry_s = aioice.ice.CONSENT_INTERVAL * aioice.ice.CONSENT_FAILURES  # 30 s with aioice's constants
    answered_at = loop.time()
    while True:
        await asyncio.sleep(aioice.ice.CONSENT_INTERVAL * (0.8 + 0.4 * random.random()))
        for pair in self._nominated.values():
            request = self.build_request(pair, nominate=False)
            try:
                await pair.protocol.request(
                    request,
                    pair.remote_addr,
                    integrity_key=self.remote_password.encode("utf8"),
                    retransmissions=CONSENT_RETRANSMISSIONS,
                )
                answered_at = loop.time()
            except aioice.stun.TransactionError:
                pass
            if loop.time() - answered_at >= expiry_s:
                logger.info("ICE consent expired: no check answered for %.0f s", loop.time() - answered_at)
                self._query_consent_task = None
                return await self.close()


def install_consent_window() -> None:
    """Answered-late consent checks count (process-wide); a no-op while the `consent_window` hook is off."""
    if accelerated("consent_window"):
        aioice.ice.Connection.query_consent = _query_consent_with_window  # type: ignore[method-assign]


def consent_window_installed() -> bool:
    return aioice.ice.Connection.query_consent is _query_consent_with_window  # type: ignore[comparison-overlap]
