"""Uplink estimate: the bitrate each publisher's video is asked for (REMB), from what reaches the server.

The server asks every video publisher for at most MediaConfig.video_bitrate_cap_bps (REMB, every
``remb_interval_s``). A publisher whose own packets are lost on the way — its uplink is full — is asked for
less, as GCC's loss-based controller does with a sender's estimate: over ``lossy`` of its packets lost in an
interval, the estimate times (1 - loss / 2); under ``clean``, up by ``increase`` a second, back to the cap;
between the two, held (random loss of a few percent is the link's noise). Never under ``floor_bps``. Chromium
and aiortc's encoder both follow REMB: a commune on a full 3G uplink sends a smaller video, not a broken one.
The loss is the publisher's media SSRC's expected − received packets (RFC 3550 reception statistics the server
keeps for its Receiver Reports), before retransmissions repair them.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class UplinkConfig:
    lossy: float = 0.10
    clean: float = 0.02
    increase: float = 0.08  # a second, while clean
    floor_bps: int = 100_000


@dataclass
class _Uplink:
    estimate_bps: float
    expected: int = 0
    received: int = 0
    at_s: float | None = None


@dataclass
class UplinkEstimator:
    """One room's publishers' video bitrates."""

    cap_bps: int
    config: UplinkConfig = field(default_factory=UplinkConfig)
    _links: dict[object, _Uplink] = field(default_factory=dict)

    def update(self, key: object, expected: int, received: int, now_s: float) -> int:
        """The bitrate to ask of stream `key`, given its cumulative expected and received packet counts."""
        link = self._links.get(key)
        if link is None or expected < link.expected or received < link.received:  # new, or counts restarted
            link = self._links[key] = _Uplink(float(self.cap_bps), expected, received, now_s)
            return self.cap_bps
        lost, sent = (expected - link.expected) - (received - link.received), expected - link.expected
        seconds = now_s - link.at_s if link.at_s is not None else 0.0
        link.expected, link.received, link.at_s = expected, received, now_s
        if sent > 0:
            loss = max(0.0, lost / sent)
            if loss >= self.config.lossy:
                link.estimate_bps *= 1.0 - loss / 2.0
            elif loss < self.config.clean:
                link.estimate_bps *= (1.0 + self.config.increase) ** max(seconds, 0.0)
        link.estimate_bps = min(float(self.cap_bps), max(float(self.config.floor_bps), link.estimate_bps))
        return round(link.estimate_bps)

    def forget(self, key: object) -> None:
        self._links.pop(key, None)
