"""The link-quality report of a live meeting (signaling ``link_quality``, docs/signaling.md).

Every ``INTERVAL_S`` the media room's :class:`~server.media.quality.LinkMeter` samples each participant's
round trip, loss each way and received bitrate; the chair and clerk (whoever may moderate) receive every
connection point's line, anyone else only its own. The publishers whose thumbnail some viewer receives in
place of their camera (its thin link's low layer, server/media/downlink.py) are told to send it
(``thumbnail``, server/live/wall.py). Started by the first media ``join`` of the meeting, it runs
in the room's tasks, so the meeting's end (or the server's shutdown) stops it.
"""

from __future__ import annotations

import asyncio
import logging

from server.live import wall
from server.live.connections import LiveRoom
from server.media.quality import LinkMeter, LinkSample
from server.rooms import messages as m

log = logging.getLogger(__name__)

INTERVAL_S = 2.0
TASK_NAME = "link-quality"


def start_reporting(live: LiveRoom, interval_s: float = INTERVAL_S) -> None:
    """Start the meeting's report loop unless it runs (a media room without link samples has none)."""
    if getattr(live.media, "link_samples", None) is None:
        return
    if any(task.get_name() == TASK_NAME and not task.done() for task in live.tasks):
        return
    task = asyncio.get_running_loop().create_task(report_links(live, interval_s), name=TASK_NAME)
    live.tasks.add(task)
    task.add_done_callback(live.tasks.discard)


def link_info(live: LiveRoom, sample: LinkSample) -> m.LinkInfo | None:
    p = live.room.participants.get(sample.participant_id)
    if p is None:
        return None

    def pct(x: float | None) -> float | None:
        return None if x is None else round(100.0 * x, 1)

    return m.LinkInfo(
        participant_id=sample.participant_id,
        unit=p.unit_code,
        rating=sample.rating,  # type: ignore[arg-type]
        rtt_ms=None if sample.rtt_ms is None else round(sample.rtt_ms),
        loss_up_pct=pct(sample.loss_up),
        loss_down_pct=pct(sample.loss_down),
        recv_kbps=None if sample.recv_kbps is None else round(sample.recv_kbps),
        videos_paused=list(sample.videos_paused),
        videos_reduced=list(sample.videos_reduced),
        remb_kbps=None if sample.remb_kbps is None else round(sample.remb_kbps),
    )


async def report_once(live: LiveRoom, meter: LinkMeter) -> int:
    """Sample and send one report; the number of messages sent."""
    samples = await live.media.link_samples(meter)  # type: ignore[attr-defined]
    # the thumbnails some viewer's thin link takes as the low layer of their camera: their publishers must
    # send them, whether or not a wall shows them
    low_layers = frozenset(pid for s in samples for pid in s.videos_reduced)
    if low_layers != live.low_layers:
        live.low_layers = low_layers
        await wall.sync_senders(live)
    infos = [info for info in (link_info(live, s) for s in samples) if info is not None]
    sent = 0
    for pid, conn in list(live.connections.items()):
        p = live.room.participants.get(pid)
        if conn.closed or p is None:
            continue
        links = infos if p.can_moderate else [i for i in infos if i.participant_id == pid]
        if not links:
            continue
        try:
            await conn.send(m.LinkQuality(links=links))
            sent += 1
        except Exception as exc:  # noqa: BLE001 - one broken socket must not stop the others
            log.info("meeting %s: link quality to %s not sent: %s", live.meeting_id, pid, exc)
    return sent


async def report_links(live: LiveRoom, interval_s: float = INTERVAL_S) -> None:
    meter = LinkMeter()
    while True:
        await asyncio.sleep(interval_s)
        try:
            await report_once(live, meter)
        except Exception:  # noqa: BLE001 - a failed sample must not end the reports
            log.exception("meeting %s: link quality sample failed", live.meeting_id)
