"""Link quality of each participant as the server sees it: round trip, loss each way, bitrate it receives.

Read from RTCP and the server's own counters, over the interval since the meter's last sample:

- round trip: from the viewer's RTCP Receiver Reports, LSR/DLSR against the Sender Reports the server sends on
  each forwarded stream (:class:`ReportTimes`; aiortc's own estimate compares LSR with the SR it built, whose
  sender info the SFU replaces, so it never matches); none before the participant receives anything;
- loss down: the ``fraction lost`` of those Receiver Reports (what the participant did not receive of what the
  server sent it), weighted by the packets each stream carried;
- loss up: packets of the participant's own streams the server never received (expected − received of the
  RFC 3550 reception statistics the server keeps for its own Receiver Reports);
- received bitrate: the bytes the server forwarded to the participant.

:func:`rate` turns a sample into the three words a user reads (``good`` / ``fair`` / ``poor``).
"""

from __future__ import annotations

import statistics
import time
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from aiortc.rtp import RtcpReceiverInfo

from server.media import aiortc_hooks as hooks
from server.media.incoming import ReceptionStats

if TYPE_CHECKING:
    from server.media.participants import Participant, PublishedStream

# Ia Pa's 4G links: 100-200 ms of round trip and a few percent of loss are ordinary ("fair"); Opus FEC and the
# recorder's repair keep speech whole up to ~5 %; past 8 % or half a second, speech breaks up ("poor").
GOOD_LOSS = 0.02
POOR_LOSS = 0.08
GOOD_RTT_MS = 150.0
POOR_RTT_MS = 500.0
RATINGS = ("good", "fair", "poor", "unknown")
SENT_REPORTS_KEPT = 8  # Sender Reports remembered per stream for matching LSR (one every 1-5 s)
RTT_ALPHA = 0.85  # smoothing of the round trip, as aiortc's


class ReportTimes:
    """The Sender Reports sent on one forwarded stream and what the viewer's Receiver Reports say of them."""

    __slots__ = ("_sent", "rtt_ms", "fraction_lost", "reported_at")

    def __init__(self) -> None:
        self._sent: OrderedDict[int, float] = OrderedDict()  # LSR (middle 32 bits of the NTP time) -> sent at
        self.rtt_ms: float | None = None
        self.fraction_lost: float | None = None  # of the latest report, 0..1
        self.reported_at: float | None = None

    def sent(self, ntp_timestamp: int, now_s: float | None = None) -> None:
        self._sent[(ntp_timestamp >> 16) & 0xFFFFFFFF] = time.time() if now_s is None else now_s
        while len(self._sent) > SENT_REPORTS_KEPT:
            self._sent.popitem(last=False)

    def received(self, report: RtcpReceiverInfo, now_s: float | None = None) -> None:
        """One report block about this stream (RFC 3550 §6.4.1: RTT = A - LSR - DLSR)."""
        now = time.time() if now_s is None else now_s
        self.fraction_lost = report.fraction_lost / 256.0
        self.reported_at = now
        sent_at = self._sent.get(report.lsr) if report.lsr else None
        if sent_at is None:
            return
        rtt_ms = max(0.0, (now - sent_at - report.dlsr / 65536.0) * 1000.0)
        self.rtt_ms = rtt_ms if self.rtt_ms is None else RTT_ALPHA * self.rtt_ms + (1 - RTT_ALPHA) * rtt_ms


@dataclass(frozen=True)
class LinkSample:
    participant_id: str
    rtt_ms: float | None  # round trip server <-> participant
    loss_up: float | None  # share of the participant's packets the server did not receive (0..1)
    loss_down: float | None  # share of what the server sent that the participant reported lost (0..1)
    recv_kbps: float | None  # what the server sent the participant (kilobits per second)
    videos_paused: tuple[str, ...] = ()  # publishers whose video it is not sent, to spare its link
    videos_reduced: tuple[str, ...] = ()  # publishers whose camera it is sent as the thumbnail, to spare it
    remb_kbps: float | None = None  # its receiver's own estimate of what it can take (REMB), if it sends one

    @property
    def rating(self) -> str:
        return rate(self.rtt_ms, self.loss_up, self.loss_down)


def rate(rtt_ms: float | None, loss_up: float | None, loss_down: float | None) -> str:
    """``good`` / ``fair`` / ``poor`` from the worse way's loss and the round trip; ``unknown`` when nothing
    has been measured yet."""
    losses = [x for x in (loss_up, loss_down) if x is not None]
    if rtt_ms is None and not losses:
        return "unknown"
    loss = max(losses, default=0.0)
    rtt = rtt_ms or 0.0
    if loss >= POOR_LOSS or rtt >= POOR_RTT_MS:
        return "poor"
    if loss >= GOOD_LOSS or rtt >= GOOD_RTT_MS:
        return "fair"
    return "good"


class LinkMeter:
    """Differences of the cumulative counters between two samples (one meter per room)."""

    def __init__(self) -> None:
        self._sent_bytes: dict[int, int] = {}  # id(forwarder) -> bytes_sent at the last sample
        self._sent_packets: dict[int, int] = {}
        self._reception: dict[int, tuple[int, int]] = {}  # id(ReceptionStats) -> (expected, received)
        self._at: float | None = None

    async def sample(
        self, participants: Sequence[Participant], streams: Sequence[PublishedStream], now_s: float
    ) -> list[LinkSample]:
        elapsed = now_s - self._at if self._at is not None else None
        self._at = now_s
        sent_bytes: dict[int, int] = {}
        sent_packets: dict[int, int] = {}
        reception: dict[int, tuple[int, int]] = {}
        published: dict[str, list[PublishedStream]] = {}
        for stream in streams:
            published.setdefault(stream.participant_id, []).append(stream)
        out = []
        for p in participants:
            rtts: list[float] = []
            lost_weighted = 0.0
            weight = 0
            byte_delta = 0
            for slot in p.slots:
                forwarder = slot.forwarder
                if forwarder is None:
                    continue
                key = id(forwarder)
                sent_bytes[key], sent_packets[key] = forwarder.bytes_sent, forwarder.packets_sent
                byte_delta += forwarder.bytes_sent - self._sent_bytes.get(key, 0)
                packets = forwarder.packets_sent - self._sent_packets.get(key, 0)
                reports = slot.reports
                if reports.rtt_ms is not None:
                    rtts.append(reports.rtt_ms)
                if reports.fraction_lost is not None and packets > 0:
                    lost_weighted += packets * reports.fraction_lost
                    weight += packets
            expected = received = 0
            for stream in published.get(p.participant_id, ()):
                if stream.transceiver is None:
                    continue
                for stats in hooks.reception_statistics(stream.transceiver.receiver).values():
                    if not isinstance(stats, ReceptionStats):
                        continue
                    now = (stats.expected, stats.received)
                    before = self._reception.get(id(stats), (0, 0))
                    if now[0] < before[0] or now[1] < before[1]:
                        before = (0, 0)  # the count restarted (a new sender on that SSRC)
                    reception[id(stats)] = now
                    expected += now[0] - before[0]
                    received += now[1] - before[1]
            out.append(
                LinkSample(
                    participant_id=p.participant_id,
                    rtt_ms=statistics.median(rtts) if rtts else None,
                    loss_up=max(0.0, (expected - received) / expected) if expected > 0 else None,
                    loss_down=lost_weighted / weight if weight else None,
                    recv_kbps=byte_delta * 8 / 1000 / elapsed if elapsed and p.slots else None,
                )
            )
        self._sent_bytes, self._sent_packets, self._reception = sent_bytes, sent_packets, reception
        return out
