"""Downlink adaptation: each viewer receives the videos its link carries (issue 16).

What the server reads of each viewer's link, every ``interval_s``:

- loss, over the newest intervals (within ``loss_window_s``) that hold ``min_packets``: the video packets the
  viewer asked again for (NACK: a receiver sends one as soon as it misses a packet), of those sent; without
  enough video for that (audio only), the ``fraction lost`` of its RTCP Receiver Reports about the streams
  forwarded to it, weighted by the packets each stream carried (reports come every second or five);
- REMB: the receiver's estimate of the bitrate it can take, sent when ``goog-remb`` is negotiated (the SFU
  offers it on video, as aiortc does). Chromium sends one REMB for all the video SSRCs it receives (its
  receive-side estimator runs on abs-send-time, which the SFU forwards); aiortc's receiver — the bot — sends
  one per video m-line, its estimator seeing only that m-line's packets. aiortc offers no transport-wide
  congestion control (no ``transport-cc`` feedback, no transport-wide sequence numbers), so Chromium never
  sends transport-cc feedback to this server: REMB, NACKs and Receiver Reports are all there is. A REMB is
  taken per set of SSRCs it names (a newer one replaces those it overlaps); the sum over the sets is reported
  (link_quality ``remb_kbps``) but not acted on: a delay-based estimate caps itself near 1.5x what arrives (it
  cannot say when to go up), a policer drops without delay first (it cannot say when to go down), and aiortc's
  estimator in a loaded process said 25-60 % of what arrived whole (442 kb/s for 1.8 Mb/s at 2 % loss);
- sent: the bytes the server forwarded to the viewer.

The policy, per viewer, in steps down a ladder (:func:`ladder`) over the videos it would get (screens, then
its last-N cameras, the most important first): first each camera whose publisher sends a thumbnail (the
chair's wall's half-size copy, ≤ 150 kb/s, ≤ 15 fps) is sent as that thumbnail instead — the low layer, the
least important first; a video without one below it is paused before — then the videos are paused, the least
important first, down to none (audio only). Without thumbnails that is all the videos, one fewer … one, none.
Audio is never dropped. A step down comes after ``lossy_intervals`` consecutive lossy intervals (loss at least
``lossy``), or at once when the loss is ``severe``. From above the step where every camera is at its thumbnail
it goes as many steps down as the throughput that arrived (sent x (1 - loss)) cannot carry, each video costing
what its layer carried (a low layer not seen yet: ``LOW_SHARE`` of a full one), but no further than that step
(the thumbnails are tried before any of them is paused); below it, one video paused at a time.
Up, after ``up_after_s`` clean: one step at a time (paused -> thumbnail -> full) while a step where the link
failed is known above; with none known, 1, 2, 4 ... steps while each holds (``up_stride``: nine cameras'
eighteen steps back in five). The step where the link
last failed is its *ceiling*: a step up to it (a probe) waits a back-off besides, which doubles (from
``up_after_s`` to ``backoff_max_s``) with each failure and goes back to zero once a step up has held for
``probe_window_s`` — unless the throughput that arrived at the failure carries it with ``headroom``; the probe
must hold ``probe_hold_s`` clean (its layer's key frame comes first) before the step above it is tried. A
probe that meets loss goes back ONE step, to the step that held (not as far as the reading says: a starved
process or a probe's own losses read 40-50 %), and there — hysteresis — a severe reading alone is not enough
to go further down, only ``lossy_intervals`` in a row.
The room switches a camera to its thumbnail on the same outgoing m-line at the
thumbnail's next key frame (StreamForwarder.set_layer; PLI), the viewer seeing one continuous stream. A
policer (a capped 3G/4G link) shows no queue before it drops, so stepping up is the only probe: a failed one
costs a second or two of loss on the probed video, repaired in part by retransmissions (NACK), rarely on
audio (small audio packets pass a byte-counting limiter before large video ones). A resumed video starts at a
key frame, which the room asks of its publisher (StreamForwarder.restart, PLI): no longer freeze than that.

Losses under ``lossy`` (10 %, GCC's threshold) are taken as the link's own noise, not congestion: a viewer on
a link losing 5 % at random keeps every video.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from server.media.participants import SendSlot

FULL, LOW, PAUSED = 2, 1, 0  # a video's layer for one viewer: its camera, its thumbnail, none
LOW_SHARE = 0.3  # a thumbnail's bitrate for a camera's until one is measured (~120-150 of 450-600 kb/s)
Levels = tuple[int, ...]


@functools.lru_cache(maxsize=512)  # the same few shapes, for every viewer at each change
def ladder(has_low: tuple[bool, ...]) -> tuple[Levels, ...]:
    """The steps of one viewer's videos, given in priority order (screens, then cameras in last-N order) with
    whether each has a low layer: from every video FULL (step 0) down to every one PAUSED.

    First the videos with a low layer go to it, the least important first (a less important video without
    one, still FULL, is paused just before: it cannot be reduced, and is worth less); then the videos are
    paused, the least important first. Without low layers: all, one fewer, ..., none."""
    levels = [FULL] * len(has_low)
    steps = [tuple(levels)]
    for i in reversed(range(len(has_low))):
        if not has_low[i]:
            continue
        for j in range(len(has_low) - 1, i, -1):
            if levels[j] == FULL and not has_low[j]:
                levels[j] = PAUSED
                steps.append(tuple(levels))
        levels[i] = LOW
        steps.append(tuple(levels))
    for i in reversed(range(len(has_low))):
        if levels[i] != PAUSED:
            levels[i] = PAUSED
            steps.append(tuple(levels))
    return tuple(steps)


def reduced_step(has_low: tuple[bool, ...]) -> int:
    """The step of the ladder where every video with a low layer is at it, none of them paused yet: a step
    down from above it goes no further in one go (the thumbnails are tried before any of them is paused)."""
    wanted = sum(has_low)
    if not wanted:
        return 0
    return next(i for i, levels in enumerate(ladder(has_low)) if levels.count(LOW) == wanted)


@dataclass(frozen=True)
class DownlinkConfig:
    """Settings of the downlink policy (MediaConfig.downlink; ``enabled=False``: every viewer gets every video
    its last-N gives it, whatever its link — the baseline of benchmarks/links/downlink.py)."""

    enabled: bool = True
    interval_s: float = 0.5
    lossy: float = 0.10
    severe: float = 0.20
    lossy_intervals: int = 2
    # a packet NACKed again within this is not counted again: aiortc's receiver repeats every packet still
    # missing (up to a few hundred) in each NACK it sends, long after they were lost
    nack_memory_s: float = 60.0
    loss_window_s: float = 3.0  # loss counted over the latest intervals of this long that hold min_packets
    min_packets: int = 100  # packets a loss figure needs (5 % random loss over fewer reads 10 % too often)
    remb_fresh_s: float = 3.0
    settle_s: float = 1.0  # after a change, reports still describe the link before it: not judged
    up_after_s: float = 1.5  # clean before a step up
    probe_hold_s: float = 2.5  # clean at a step that had failed before it counts as held (a key frame's wait)
    probe_window_s: float = 6.0  # a step up held this long: the back-off starts afresh
    backoff_max_s: float = 4.0
    headroom: float = 0.85  # a step up costing under this share of the throughput at the last failure


@dataclass
class ViewerLink:
    """What the policy knows of one viewer."""

    level: int | None = None  # steps down its ladder now; None: every video at its full layer
    ladder: tuple[Levels, ...] = ((),)  # of the videos it would get now (`DownlinkPolicy.levels`)
    reduced_step: int = 0  # its step with every camera at its thumbnail (`reduced_step`), 0: none has one
    forwarded: int = 0  # videos forwarded to it at the last interval
    paused: tuple[str, ...] = ()  # publishers whose video it would get but does not, to save its link
    reduced: tuple[str, ...] = ()  # publishers whose camera it gets as the thumbnail (the low layer)
    lossy_run: int = 0
    last_lossy_s: float = -math.inf
    last_change_s: float = -math.inf
    last_up_s: float = -math.inf
    backoff_s: float = 0.0
    at_s: float | None = None
    counters: dict[int, tuple[int, int]] = field(default_factory=dict)  # id(forwarder) -> (bytes, packets)
    remb: dict[frozenset[int], tuple[int, float]] = field(default_factory=dict)  # SSRCs -> (bps, at)
    nacked: dict[tuple[int, int], float] = field(default_factory=dict)  # (SSRC, seq) asked again -> when
    new_nacks: int = 0  # packets asked again for the first time this interval
    # (at, NACKed, video packets sent, RR-reported lost, packets the RRs weigh) of the intervals in the window
    window: list[tuple[float, int, int, float, int]] = field(default_factory=list)
    ceiling: int | None = None  # the step where the link last failed (lossy), until a probe of it holds
    ceiling_bps: float | None = None  # the throughput that arrived then (audio included)
    good_level: int | None = None  # the step a failed probe went back to: it held before the probe
    up_stride: int = 1  # steps the next step up takes with no known failure above: doubles while they hold
    # the last interval's figures (link_quality reports them)
    loss: float | None = None
    sent_bps: float | None = None
    remb_bps: float | None = None
    steps_down: int = 0
    steps_up: int = 0


@dataclass(frozen=True)
class Interval:
    """One interval of a viewer's link."""

    seconds: float
    loss: float | None  # None: no Receiver Report in the interval
    sent_bps: float
    audio_bps: float  # audio and a wall's thumbnails (not stepped)
    video_bps: float
    videos: int  # videos that carried packets (cameras and screens), at either layer
    remb_bps: float | None  # the REMBs in force, summed
    low_videos: int = 0  # of `videos`, those sent at their low layer (a thumbnail in place of the camera)
    low_bps: float = 0.0  # of `video_bps`, theirs


def _windowed_loss(window: Sequence[tuple[float, int, int, float, int]], min_packets: int) -> float | None:
    """The loss over the newest intervals that hold `min_packets` video packets (NACKed of sent), else over
    those that hold as many packets weighed by Receiver Reports; None when neither is there."""
    nacked = sent = 0
    for _, n, packets, _, _ in reversed(window):
        nacked, sent = nacked + n, sent + packets
        if sent >= min_packets:
            return min(1.0, nacked / sent)
    lost = 0.0
    weight = 0
    for _, _, _, rr_lost, rr_weight in reversed(window):
        lost, weight = lost + rr_lost, weight + rr_weight
        if weight >= min_packets:
            return lost / weight
    return None


class DownlinkPolicy:
    """The per-viewer steps of one room. The room calls :meth:`remb` and :meth:`nack` from its RTCP handler,
    :meth:`tick` from its periodic task, and :meth:`levels` / :meth:`applied` where it picks the videos."""

    def __init__(self, config: DownlinkConfig) -> None:
        self.config = config
        self._links: dict[str, ViewerLink] = {}

    def link(self, viewer_id: str) -> ViewerLink:
        return self._links.setdefault(viewer_id, ViewerLink())

    def forget(self, viewer_id: str) -> None:
        self._links.pop(viewer_id, None)

    def remb(self, viewer_id: str, bitrate_bps: int, ssrcs: Iterable[int], now_s: float) -> None:
        link = self.link(viewer_id)
        key = frozenset(ssrcs)
        if not key:
            return
        for other in [k for k in link.remb if k & key]:
            del link.remb[other]
        link.remb[key] = (bitrate_bps, now_s)

    def nack(self, viewer_id: str, ssrc: int, sequence_numbers: Iterable[int], now_s: float) -> None:
        link = self.link(viewer_id)
        for seq in sequence_numbers:
            if (ssrc, seq) not in link.nacked:
                link.nacked[(ssrc, seq)] = now_s
                link.new_nacks += 1

    # --- what the room asks -----------------------------------------------------------------------

    def levels(self, viewer_id: str, has_low: Sequence[bool]) -> Levels:
        """Each video's layer for this viewer now (FULL / LOW / PAUSED), of the videos it would get in
        priority order (screens first, then cameras in the last-N order: the pinned hall and floor holder
        before recent speakers), given whether each has a low layer (its publisher sends a thumbnail)."""
        steps = ladder(tuple(has_low))
        link = self.link(viewer_id)
        link.ladder = steps
        link.reduced_step = reduced_step(tuple(has_low))
        if not self.config.enabled or link.level is None:
            return steps[0]
        return steps[min(link.level, len(steps) - 1)]

    def applied(self, viewer_id: str, paused: Sequence[str], reduced: Sequence[str] = ()) -> None:
        """What the room chose: the videos of `paused` held back, those of `reduced` at their low layer."""
        link = self.link(viewer_id)
        link.paused = tuple(paused)
        link.reduced = tuple(reduced)

    # --- each interval ------------------------------------------------------------------------------

    def tick(self, viewer_id: str, slots: Sequence[SendSlot], now_s: float) -> bool:
        """Measure the viewer's last interval and step; True when its cap changed."""
        link = self.link(viewer_id)
        if link.at_s is not None and now_s - link.at_s < self.config.interval_s:
            return False
        interval = self._measure(link, slots, now_s)
        if interval is None or not self.config.enabled:
            return False
        return self._step(link, interval, now_s)

    def _measure(self, link: ViewerLink, slots: Sequence[SendSlot], now_s: float) -> Interval | None:
        previous_at, link.at_s = link.at_s, now_s
        link_before = link.counters
        counters: dict[int, tuple[int, int]] = {}
        audio_bytes = video_bytes = low_bytes = 0
        low_videos = 0
        lost_weighted = 0.0
        weight = 0
        videos = 0
        for slot in slots:
            forwarder = slot.forwarder
            if forwarder is None:
                continue
            key = id(forwarder)
            counters[key] = (forwarder.bytes_sent, forwarder.packets_sent)
            before = link.counters.get(key, (0, 0))
            sent, packets = forwarder.bytes_sent - before[0], forwarder.packets_sent - before[1]
            if slot.kind == "audio" or (slot.stream is not None and slot.stream[1] == "thumbnail"):
                audio_bytes += sent  # what the policy does not step: audio, and a wall's thumbnails
            else:
                video_bytes += sent
                if packets > 0:
                    videos += 1
                    if forwarder.low_layer:  # a thumbnail in place of the camera, now
                        low_bytes += sent
                        low_videos += 1
            reports = slot.reports
            fresh = previous_at is not None and reports.reported_at is not None and (
                reports.reported_at > previous_at
            )
            if fresh and reports.fraction_lost is not None and packets > 0:
                lost_weighted += packets * reports.fraction_lost
                weight += packets
        link.counters = counters
        nacked, link.new_nacks = link.new_nacks, 0
        link.nacked = {k: at for k, at in link.nacked.items() if now_s - at <= self.config.nack_memory_s}
        video_packets = sum(
            counters[id(s.forwarder)][1] - link_before.get(id(s.forwarder), (0, 0))[1]
            for s in slots
            if s.forwarder is not None and s.kind == "video"
        )
        if previous_at is None or now_s <= previous_at:
            return None
        seconds = now_s - previous_at
        remb_bps = 0.0
        fresh_rembs = 0
        for ssrcs, (bps, at) in list(link.remb.items()):
            if now_s - at > self.config.remb_fresh_s:
                del link.remb[ssrcs]
                continue
            fresh_rembs += 1
            remb_bps += bps
        window = [w for w in link.window if now_s - w[0] < self.config.loss_window_s]
        window.append((now_s, nacked, video_packets, lost_weighted, weight))
        link.window = window
        loss = _windowed_loss(window, self.config.min_packets)
        interval = Interval(
            seconds=seconds,
            loss=loss,
            sent_bps=(audio_bytes + video_bytes) * 8 / seconds,
            audio_bps=audio_bytes * 8 / seconds,
            video_bps=video_bytes * 8 / seconds,
            videos=videos,
            remb_bps=remb_bps if fresh_rembs else None,
            low_videos=low_videos,
            low_bps=low_bytes * 8 / seconds,
        )
        link.loss, link.sent_bps, link.remb_bps = interval.loss, interval.sent_bps, interval.remb_bps
        link.forwarded = videos
        return interval

    def _step(self, link: ViewerLink, interval: Interval, now_s: float) -> bool:
        c = self.config
        if now_s - link.last_change_s < c.settle_s:
            return False
        depth = len(link.ladder) - 1  # the last step: every video paused
        current = link.level or 0
        loss = interval.loss
        if loss is not None and loss >= c.lossy:
            link.lossy_run += 1
            link.last_lossy_s = now_s
            # the last change was a step up, not held for long: a probe that found the link's ceiling
            probing = link.last_change_s == link.last_up_s and now_s - link.last_up_s < c.probe_window_s
            # hysteresis: the step a failed probe went back to held before it; only a sustained loss takes
            # the viewer below it (a severe reading there is most often the probe's own losses, reported late)
            severe = loss >= c.severe and current != link.good_level
            enough = severe or link.lossy_run >= c.lossy_intervals
            if interval.videos == 0 or current >= depth or not enough:
                return False
            arrived = interval.sent_bps * (1.0 - loss)
            if probing:
                target = current + 1  # back to the step that held before it
                link.good_level = target
            elif current < link.reduced_step:
                # from above the thumbnails: as far down as the throughput that arrived carries, but no
                # further than every camera at its thumbnail (they are tried before any video is paused)
                fit = self._fit(link.ladder, interval, arrived - interval.audio_bps)
                target = min(max(current + 1, fit), link.reduced_step)
                link.good_level = None
            else:
                target = current + 1  # pausing: one video at a time
                link.good_level = None
            link.ceiling, link.ceiling_bps = current, arrived
            # each step down makes the next probe of the ceiling wait longer, while the probes keep failing
            link.backoff_s = min(c.backoff_max_s, max(c.up_after_s, 2 * link.backoff_s))
            link.level = min(depth, target)
            link.up_stride = 1
            link.lossy_run = 0
            link.window = []  # the losses of what was sent before
            link.last_change_s = now_s
            link.steps_down += 1
            return True
        link.lossy_run = 0
        quiet_since = max(link.last_lossy_s, link.last_change_s)
        if link.last_up_s > link.last_lossy_s and link.ceiling is not None and current <= link.ceiling and (
            now_s - link.last_up_s >= c.probe_hold_s
        ):
            link.ceiling = link.ceiling_bps = None  # the probe held: the link carries what failed before
            link.good_level = None
            link.up_stride = 1
        if link.last_up_s > link.last_lossy_s and now_s - link.last_up_s > c.probe_window_s:
            link.backoff_s = 0.0  # the last step up held long enough: the next failure starts afresh
        if link.level is None:
            return False
        # near a step that failed (the ceiling, until a probe of it holds): one step up at a time, paused ->
        # thumbnail -> full; with none known, 1, 2, 4... steps, as long as each holds (nine cameras' eighteen
        # steps back in five)
        stride = 1 if link.ceiling is not None else link.up_stride
        target = max(0, current - stride)
        wait = c.up_after_s
        if link.ceiling is not None:
            if current <= link.ceiling:
                wait = c.probe_hold_s  # at the ceiling's step: it must hold before the next is tried
            elif target <= link.ceiling and not self._headroom(link, interval, target):
                wait += link.backoff_s  # a probe of the step that failed: after the back-off
        if now_s - quiet_since < wait:
            return False
        link.level = target if target > 0 else None
        link.up_stride = 1 if link.ceiling is not None else min(2 * stride, len(link.ladder))
        link.last_up_s = link.last_change_s = now_s
        link.window = []
        link.steps_up += 1
        return True

    def _headroom(self, link: ViewerLink, interval: Interval, target: int) -> bool:
        """Whether the throughput that arrived when the link last failed carries the `target` step with a
        margin (``headroom``), at the bitrates each layer carried in the interval: then a probe need not wait
        the back-off (the videos' bitrates fell since, or a failure was read from a burst)."""
        if link.ceiling_bps is None:
            return True
        costs = _layer_costs(interval)
        if costs is None:
            return False
        levels = link.ladder[min(target, len(link.ladder) - 1)]
        need = interval.audio_bps + _cost(levels, *costs)
        return need <= self.config.headroom * link.ceiling_bps

    @staticmethod
    def _fit(steps: Sequence[Levels], interval: Interval, video_budget_bps: float) -> int:
        """The first step of the ladder whose videos the budget carries, at the bitrates each layer carried
        in the interval (`_layer_costs`); the last step (no video) when none does."""
        costs = _layer_costs(interval)
        if costs is None:
            return len(steps) - 1
        for i, levels in enumerate(steps):
            if _cost(levels, *costs) <= video_budget_bps:
                return i
        return len(steps) - 1


def _layer_costs(interval: Interval) -> tuple[float, float] | None:
    """A full and a low layer's bitrate, as carried in the interval (a layer not sent in it: LOW_SHARE of a
    full one, or a full one 1 / LOW_SHARE of a low one); None without video."""
    full_videos = interval.videos - interval.low_videos
    full = (interval.video_bps - interval.low_bps) / full_videos if full_videos > 0 else None
    low = interval.low_bps / interval.low_videos if interval.low_videos > 0 else None
    if full is None and low is None:
        return None
    full = full if full is not None else (low or 0.0) / LOW_SHARE
    low = low if low is not None else full * LOW_SHARE
    return full, low


def _cost(levels: Levels, full_bps: float, low_bps: float) -> float:
    return sum(full_bps if x == FULL else low_bps if x == LOW else 0.0 for x in levels)
