"""One site, several processes: media nodes registered in Redis, meetings placed on them.

Processes that share ``GIAOBAN_DATABASE_URL`` and ``GIAOBAN_REDIS_URL`` form one site. Each registers as a
media node (``registry``: its id, advertised URL and load, renewed by a heartbeat with a short TTL); a meeting
is placed on the least-loaded healthy node (``placement``: meeting → node, in Redis); ``node`` is the
process's own side: the heartbeat task off the media loop, placement on start, where a signaling socket
belongs, and a meeting whose node stopped heartbeating placed again. Without Redis there is no site: one
process hosts every meeting (the embedded default).
"""

from server.site.node import SiteNode
from server.site.placement import Placement
from server.site.registry import NodeInfo, NodeRegistry, SiteUnavailable

__all__ = ["NodeInfo", "NodeRegistry", "Placement", "SiteNode", "SiteUnavailable"]
