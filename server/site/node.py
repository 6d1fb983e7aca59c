"""This process as a media node of the site: its heartbeat, and where each meeting's media is held.

The heartbeat is a background task of the serving loop that only schedules work: every Redis call runs in
the node's own small thread pool (a Redis that does not answer waits there ``REDIS_TIMEOUT_S``, never on the
loop that forwards RTP). Each beat publishes this node's load, then runs ``tick`` (the live core closes the
rooms of meetings ended through another process). Redis unreachable: the beat logs once and keeps trying;
live meetings go on; :meth:`SiteNode.locate` raises :class:`SiteUnavailable` until Redis answers again.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import uuid
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from server.config import Settings
from server.live.site_port import PlacedNode
from server.site.placement import Placement
from server.site.registry import NodeInfo, NodeRegistry, SiteUnavailable, connect

log = logging.getLogger(__name__)

T = TypeVar("T")
Load = Callable[[], tuple[list[int], int]]  # (meetings whose room is here, participants in them)
Tick = Callable[[], Awaitable[None]]


def default_node_url(settings: Settings) -> str:
    """``GIAOBAN_NODE_URL`` or, unset, the served host and port (a wildcard host → this machine's name)."""
    if settings.node_url:
        return settings.node_url.rstrip("/")
    host = settings.host if settings.host not in ("0.0.0.0", "::", "") else socket.gethostname()
    return f"http://{host}:{settings.port}"


def socket_url(node_url: str, meeting_id: int) -> str:
    """The signaling socket of ``meeting_id`` on the node at ``node_url`` (http → ws, https → wss)."""
    return node_url.replace("http", "ws", 1).rstrip("/") + f"/ws/meetings/{meeting_id}"


class SiteNode:
    def __init__(
        self,
        settings: Settings,
        *,
        load: Load,
        tick: Tick | None = None,
        registry: NodeRegistry | None = None,
    ) -> None:
        if registry is None:
            assert settings.redis_url, "a site needs GIAOBAN_REDIS_URL"
            registry = NodeRegistry(connect(settings.redis_url), settings.node_ttl_s)
        self.id = uuid.uuid4().hex[:12]
        self.url = default_node_url(settings)
        self.registry = registry
        self.placement = Placement(registry)
        self.heartbeat_s = settings.node_heartbeat_s
        self.load = load
        self.tick = tick
        self.redis_ok: bool | None = None
        self._pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="giaoban-site")
        self._task: asyncio.Task[None] | None = None

    async def _off_loop(self, fn: Callable[..., T], *args: object) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._pool, fn, *args)

    def info(self) -> NodeInfo:
        rooms, participants = self.load()
        return NodeInfo(
            id=self.id, url=self.url, meetings=len(rooms), participants=participants, rooms=tuple(rooms)
        )

    # ---- heartbeat ----------------------------------------------------------------------------------
    async def beat(self) -> bool:
        """One heartbeat; whether Redis took it."""
        try:
            await self._off_loop(self.registry.heartbeat, self.info())
        except SiteUnavailable as exc:
            if self.redis_ok is not False:
                log.error("site: Redis unreachable, no heartbeat (live meetings go on): %s", exc.details)
            self.redis_ok = False
            return False
        if self.redis_ok is False:
            log.warning("site: Redis reachable again; node %s registered (%s)", self.id, self.url)
        self.redis_ok = True
        return True

    async def _run(self) -> None:
        while True:
            await self.beat()
            if self.tick is not None:
                try:
                    await self.tick()
                except Exception:  # noqa: BLE001 - the heartbeat outlives a failing tick
                    log.exception("site: tick failed")
            await asyncio.sleep(self.heartbeat_s)

    async def start(self) -> None:
        await self.beat()
        log.info("site: node %s at %s (heartbeat %.1f s)", self.id, self.url, self.heartbeat_s)
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
        try:
            await self._off_loop(self.registry.withdraw, self.id)
        except SiteUnavailable:
            pass
        self._pool.shutdown(wait=False)

    # ---- placement ----------------------------------------------------------------------------------
    async def _registered(self) -> dict[str, NodeInfo]:
        """The healthy nodes, this one included: its entry missing (Redis back after an outage longer than
        the TTL, or flushed) is written now rather than at the next beat. Raises :class:`SiteUnavailable`."""
        nodes = await self._off_loop(self.registry.healthy)
        if self.id not in nodes:
            await self._off_loop(self.registry.heartbeat, self.info())
            self.redis_ok = True
            nodes = await self._off_loop(self.registry.healthy)
        return nodes

    async def check(self) -> None:
        """Raise :class:`SiteUnavailable` unless Redis answers (before a start: nothing changes then)."""
        await self._registered()

    async def locate(self, meeting_id: int) -> NodeInfo:
        """The node hosting ``meeting_id``, placing (or re-placing) it when needed."""
        await self._registered()
        return await self._off_loop(self.placement.locate, meeting_id)

    def is_self(self, node: PlacedNode) -> bool:
        return node.id == self.id

    async def held_elsewhere(self, meeting_id: int) -> bool:
        try:
            nodes = await self._off_loop(self.registry.healthy)
        except SiteUnavailable:
            return False
        return any(meeting_id in n.rooms for n in nodes.values() if n.id != self.id)

    async def moved_elsewhere(self, meeting_ids: list[int]) -> dict[int, str]:
        if not meeting_ids:
            return {}

        def look() -> dict[int, str]:
            nodes = self.registry.healthy()
            owners = [self.placement.owner(m) for m in meeting_ids]
            return {
                m: socket_url(nodes[o].url, m)
                for m, o in zip(meeting_ids, owners, strict=True)
                if o is not None and o != self.id and o in nodes
            }

        try:
            return await self._off_loop(look)
        except SiteUnavailable:
            return {}  # Redis down: the meetings go on here

    async def release(self, meeting_id: int) -> None:
        try:
            await self._off_loop(self.placement.release, meeting_id)
        except SiteUnavailable as exc:
            log.warning("site: meeting %s ended but its placement stays until Redis returns: %s", meeting_id,
                        exc.details)
