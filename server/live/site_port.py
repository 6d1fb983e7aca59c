"""What the live core asks of the site (``server.site.SiteNode``) when several processes serve one site.

Absent (``LiveMeetings.site is None``: no Redis, the embedded default) this process hosts every meeting.
"""

from __future__ import annotations

from typing import Protocol


class PlacedNode(Protocol):
    @property
    def id(self) -> str: ...

    @property
    def url(self) -> str: ...


class SitePort(Protocol):
    async def check(self) -> None:
        """Raise ``SiteUnavailable`` (503) when no new meeting can be placed (Redis down, no node alive)."""

    async def locate(self, meeting_id: int) -> PlacedNode:
        """The healthy node holding ``meeting_id``, placing it (least loaded) when it has none."""

    def is_self(self, node: PlacedNode) -> bool: ...

    async def held_elsewhere(self, meeting_id: int) -> bool:
        """Whether another healthy node reports holding the meeting's room (False when Redis is down)."""

    async def moved_elsewhere(self, meeting_ids: list[int]) -> dict[int, str]:
        """Of ``meeting_ids`` (held here), those now placed on another healthy node — re-placed while this
        node was cut off from Redis — with the signaling URL their sockets should go to."""

    async def release(self, meeting_id: int) -> None:
        """The meeting ended: forget its placement (never raises)."""
