"""Which node hosts which live meeting: ``giaoban:site:meetings`` (a Redis hash, meeting id → node id).

A meeting is placed on the least-loaded healthy node — fewest meetings placed on it, then fewest
participants, then its id (:func:`least_loaded`) — and stays there while that node heartbeats. When its node
is gone (no fresh heartbeat), the next placement of that meeting chooses again among the healthy nodes.
Placing is a compare-and-set (one Lua script): two processes re-placing the same meeting at once agree on
one node, whichever wrote first.
"""

from __future__ import annotations

from collections import Counter

from server.site.registry import PREFIX, UNAVAILABLE_MESSAGE, NodeInfo, NodeRegistry, SiteUnavailable

MEETINGS_KEY = PREFIX + "meetings"

# KEYS[1] the hash; ARGV: meeting, the owner the caller saw ('' = none), the node chosen. Returns the owner.
_PLACE_LUA = """
local cur = redis.call('HGET', KEYS[1], ARGV[1])
if (not cur and ARGV[2] == '') or cur == ARGV[2] then
  redis.call('HSET', KEYS[1], ARGV[1], ARGV[3])
  return ARGV[3]
end
return cur
"""

NO_NODE_MESSAGE = "Không có máy chủ media nào đang hoạt động để tổ chức cuộc họp."


def least_loaded(nodes: dict[str, NodeInfo], placed: Counter[str]) -> NodeInfo:
    """The node to give a new meeting: fewest meetings placed, then fewest participants, then by id."""
    if not nodes:
        raise SiteUnavailable(NO_NODE_MESSAGE)
    return min(nodes.values(), key=lambda n: (placed.get(n.id, 0), n.participants, n.id))


class Placement:
    def __init__(self, registry: NodeRegistry) -> None:
        self.registry = registry
        self.client = registry.client
        self._place = self.client.register_script(_PLACE_LUA)

    def owner(self, meeting_id: int) -> str | None:
        raw = self.registry._call(self.client.hget, MEETINGS_KEY, str(meeting_id))
        return raw.decode() if raw is not None else None

    def placed_counts(self) -> Counter[str]:
        values = self.registry._call(self.client.hvals, MEETINGS_KEY)
        return Counter(v.decode() for v in values)

    def locate(self, meeting_id: int) -> NodeInfo:
        """The healthy node hosting ``meeting_id``: where it is, or — not placed yet, or its node gone — the
        least-loaded healthy node, recorded. Raises :class:`SiteUnavailable` (Redis down, no node alive)."""
        nodes = self.registry.healthy()
        for _ in range(3):
            current = self.owner(meeting_id)
            if current is not None and current in nodes:
                return nodes[current]
            chosen = least_loaded(nodes, self.placed_counts())
            winner = self.registry._call(
                self._place, [MEETINGS_KEY], [str(meeting_id), current or "", chosen.id]
            ).decode()
            if winner in nodes:
                return nodes[winner]
            nodes = self.registry.healthy()  # someone else placed it on a node we did not see: look again
        raise SiteUnavailable(UNAVAILABLE_MESSAGE)

    def release(self, meeting_id: int) -> None:
        """The meeting ended: it no longer counts on its node."""
        self.registry._call(self.client.hdel, MEETINGS_KEY, str(meeting_id))
