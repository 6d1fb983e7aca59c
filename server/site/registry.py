"""The site's media nodes in Redis: each heartbeat rewrites its node's entry with a TTL.

``giaoban:site:node:<id>`` holds a node's JSON (:class:`NodeInfo`) and expires ``ttl_s`` after its last
heartbeat, so a node that stopped (killed, frozen, cut off) disappears by itself: :meth:`NodeRegistry.healthy`
lists only the entries still present, and a stale node is never chosen. ``giaoban:site:nodes`` is the set of
ids ever registered (pruned of the expired ones as they are found).

Calls are synchronous (redis-py with short socket timeouts): the live core runs them in a thread
(``SiteNode``), never on the loop that forwards media. A Redis that does not answer raises
:class:`SiteUnavailable`.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from typing import Any

import redis

from server.errors import Unavailable

PREFIX = "giaoban:site:"
NODES_KEY = PREFIX + "nodes"
REDIS_TIMEOUT_S = 1.0  # a Redis that does not answer within this is treated as down
UNAVAILABLE_MESSAGE = "Không truy cập được Redis (điều phối): chưa thể xếp cuộc họp vào máy chủ media."


class SiteUnavailable(Unavailable):
    """Redis cannot be reached: live meetings go on, new placements are refused (503 ``site_unavailable``)."""

    code = "site_unavailable"


def node_key(node_id: str) -> str:
    return f"{PREFIX}node:{node_id}"


@dataclass(frozen=True)
class NodeInfo:
    """One media node as the others see it."""

    id: str
    url: str  # advertised base URL (GIAOBAN_NODE_URL), e.g. http://10.0.0.5:8000
    meetings: int = 0  # live meetings hosted
    participants: int = 0  # sockets in them
    rooms: tuple[int, ...] = ()  # the meetings whose room this node holds


def connect(url: str) -> redis.Redis:
    return redis.Redis.from_url(url, socket_timeout=REDIS_TIMEOUT_S, socket_connect_timeout=REDIS_TIMEOUT_S)


class NodeRegistry:
    def __init__(self, client: redis.Redis, ttl_s: float) -> None:
        self.client = client
        self.ttl_ms = max(1, int(ttl_s * 1000))

    def _call(self, fn: Any, *args: Any) -> Any:
        try:
            return fn(*args)
        except redis.RedisError as exc:
            raise SiteUnavailable(UNAVAILABLE_MESSAGE, details={"reason": str(exc)[:200]}) from exc

    def heartbeat(self, node: NodeInfo) -> None:
        """Register or renew ``node`` for the next ``ttl_s``."""
        pipe = self.client.pipeline(transaction=False)
        pipe.set(node_key(node.id), json.dumps(asdict(node)), px=self.ttl_ms)
        pipe.sadd(NODES_KEY, node.id)
        self._call(pipe.execute)

    def withdraw(self, node_id: str) -> None:
        """A node stopping cleanly leaves at once (its meetings are then placed again on their next join)."""
        pipe = self.client.pipeline(transaction=False)
        pipe.delete(node_key(node_id))
        pipe.srem(NODES_KEY, node_id)
        self._call(pipe.execute)

    def healthy(self) -> dict[str, NodeInfo]:
        """Every node whose heartbeat is fresh, by id."""
        ids = sorted(m.decode() for m in self._call(self.client.smembers, NODES_KEY))
        if not ids:
            return {}
        raw = self._call(self.client.mget, [node_key(i) for i in ids])
        out: dict[str, NodeInfo] = {}
        stale = []
        for node_id, value in zip(ids, raw, strict=True):
            if value is None:
                stale.append(node_id)
                continue
            data = json.loads(value)
            data["rooms"] = tuple(data.get("rooms", ()))
            out[node_id] = NodeInfo(**data)
        if stale:
            self._call(self.client.srem, NODES_KEY, *stale)
        return out
