"""Link quality (server/media/quality.py, server/live/quality.py, signaling ``link_quality``):

- the round trip from a Receiver Report's LSR/DLSR against the Sender Report it answers, the loss it reports,
  and the rating's thresholds;
- real aiortc peers: the room measures every participant's round trip, loss and received bitrate;
- the report: the chair (who may moderate) gets every connection point's line, a commune only its own; the
  message validates against its model and is sent every interval, not on every sample.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field

import pytest
from aiortc.rtp import RtcpReceiverInfo

from server.live import quality as live_quality
from server.live import wall
from server.live.connections import Connection, LiveRoom
from server.media.client import ClientConfig
from server.media.quality import LinkMeter, LinkSample, ReportTimes, rate
from server.models import Role
from server.rooms import messages as m
from server.rooms.room import Participant, Room
from server.services.context import Actor
from tests.media.meeting import Meeting, wait_until


def report(lsr: int, dlsr_s: float, fraction_lost: int = 0) -> RtcpReceiverInfo:
    return RtcpReceiverInfo(ssrc=1, fraction_lost=fraction_lost, packets_lost=0, highest_sequence=0, jitter=0,
                            lsr=lsr, dlsr=round(dlsr_s * 65536))


def test_round_trip_is_arrival_minus_sent_minus_the_viewers_delay() -> None:
    times = ReportTimes()
    ntp = (0x1234_5678 << 32) | 0x9ABC_DEF0
    lsr = (ntp >> 16) & 0xFFFFFFFF
    times.sent(ntp, now_s=100.0)
    times.received(report(lsr, dlsr_s=0.25, fraction_lost=64), now_s=100.4)
    assert times.rtt_ms == pytest.approx(150.0, abs=0.1)
    assert times.fraction_lost == 0.25
    # smoothed: a second report of 50 ms moves the estimate toward it
    times.sent(ntp + (1 << 32), now_s=101.0)
    times.received(report(lsr + (1 << 16), dlsr_s=0.0), now_s=101.05)
    assert 50.0 < (times.rtt_ms or 0) < 150.0
    assert times.fraction_lost == 0.0


def test_a_report_of_an_unknown_or_forgotten_sender_report_gives_no_round_trip() -> None:
    times = ReportTimes()
    times.received(report(lsr=0, dlsr_s=0.0, fraction_lost=10), now_s=5.0)  # no SR received yet: LSR 0
    assert times.rtt_ms is None and times.fraction_lost == pytest.approx(10 / 256)
    for k in range(20):
        times.sent(k << 16, now_s=float(k))
    times.received(report(lsr=1, dlsr_s=0.0), now_s=30.0)  # SR 1 fell out of the remembered ones
    assert times.rtt_ms is None
    times.received(report(lsr=19, dlsr_s=0.5), now_s=19.6)
    assert times.rtt_ms == pytest.approx(100.0, abs=0.1)


@pytest.mark.parametrize(
    ("rtt_ms", "up", "down", "expected"),
    [
        (None, None, None, "unknown"),
        (40.0, 0.0, 0.0, "good"),
        (None, 0.01, None, "good"),
        (149.0, 0.019, 0.0, "good"),
        (150.0, 0.0, 0.0, "fair"),
        (40.0, 0.0, 0.02, "fair"),
        (40.0, 0.079, None, "fair"),
        (40.0, 0.08, 0.0, "poor"),
        (500.0, 0.0, 0.0, "poor"),
        (None, None, 0.3, "poor"),
    ],
)
def test_rating(rtt_ms: float | None, up: float | None, down: float | None, expected: str) -> None:
    assert rate(rtt_ms, up, down) == expected


@pytest.mark.asyncio
async def test_the_room_measures_round_trip_loss_and_bitrate_of_real_peers() -> None:
    meeting = Meeting()
    meter = LinkMeter()
    try:
        await meeting.join("a", ClientConfig(video=True))
        await meeting.join("b", ClientConfig(video=False))
        await meeting.room.link_samples(meter)  # the start of the first interval
        samples: dict[str, LinkSample] = {}

        async def measured() -> bool:
            samples.update({s.participant_id: s for s in await meeting.room.link_samples(meter)})
            return all(s.rtt_ms is not None for s in samples.values()) and len(samples) == 2

        ok = False
        for _ in range(30):  # Sender Reports every 1-5 s, answered by the next Receiver Report
            await asyncio.sleep(1.0)
            if await measured():
                ok = True
                break
        assert ok, samples
        for pid in ("a", "b"):
            s = samples[pid]
            print(pid, s)
            assert s.rtt_ms is not None and 0.0 <= s.rtt_ms < 1000.0  # loopback, a loaded machine
            assert s.loss_up == 0.0 and s.loss_down is not None and s.loss_down < 0.02
            assert s.recv_kbps is not None and s.recv_kbps > 8  # at least the other's audio
            assert s.rating in ("good", "fair")
        assert samples["b"].recv_kbps is not None and samples["b"].recv_kbps > 100  # a's video
    finally:
        await meeting.close()


@dataclass
class FakeMedia:
    samples: list[LinkSample]
    calls: int = 0

    async def link_samples(self, meter: LinkMeter) -> list[LinkSample]:
        self.calls += 1
        return self.samples


@dataclass
class Socket:
    sent: list[dict[str, object]] = field(default_factory=list)

    async def send(self, msg: m.ServerMessage) -> None:
        self.sent.append(json.loads(msg.model_dump_json()))

    async def close(self, code: int, reason: str) -> None:
        pass


def person(pid: str, unit: str, chair: bool) -> Participant:
    return Participant(pid, int(pid[1:]), pid, pid, unit, f"UBND {unit}", "chair" if chair else "member",
                       is_chair_unit=chair, can_moderate=chair, can_publish=True)


@pytest.mark.asyncio
async def test_the_chair_gets_every_line_a_commune_only_its_own_every_interval() -> None:
    room = Room(meeting_id=1, title="Giao ban")
    media = FakeMedia([
        LinkSample("u1", 12.0, 0.0, 0.0, 640.0),
        LinkSample("u2", 180.4, 0.051, 0.004, 96.5, ("u1",)),  # the hall's video paused to spare its link
        LinkSample("u3", None, None, None, None),
        LinkSample("u9", 5.0, 0.0, 0.0, 10.0),  # media of someone the room no longer has: not reported
    ])
    live = LiveRoom(meeting_id=1, room=room, media=media, chair_unit_id=1)  # type: ignore[arg-type]
    sockets = {}
    for pid, unit, chair in (("u1", "IAPA", True), ("u2", "CHUMO", False), ("u3", "POTO", False)):
        room.admit(person(pid, unit, chair))
        sockets[pid] = Socket()
        actor = Actor(int(pid[1:]), pid, pid, Role.CHAIR if chair else Role.MEMBER, 1, unit, f"UBND {unit}")
        live.connections[pid] = Connection(1, pid, actor, sockets[pid].send, sockets[pid].close, 1)
    live_quality.start_reporting(live, interval_s=0.2)
    live_quality.start_reporting(live, interval_s=0.2)  # once per meeting
    assert sum(t.get_name() == live_quality.TASK_NAME for t in live.tasks) == 1
    assert await wait_until(lambda: len(sockets["u3"].sent) >= 2, 10.0)
    await live.stop_batching()  # the meeting's end stops it
    assert not live.tasks
    count = media.calls
    await asyncio.sleep(0.5)
    assert media.calls == count
    assert count <= len(sockets["u1"].sent) + 1

    chair = sockets["u1"].sent[0]
    assert chair["type"] == "link_quality"
    lines = {x["participant_id"]: x for x in chair["links"]}  # type: ignore[union-attr]
    assert set(lines) == {"u1", "u2", "u3"}
    assert lines["u2"] == {"participant_id": "u2", "unit": "CHUMO", "rating": "fair", "rtt_ms": 180,
                           "loss_up_pct": 5.1, "loss_down_pct": 0.4, "recv_kbps": 96, "videos_paused": ["u1"],
                           "videos_reduced": [], "remb_kbps": None}
    assert lines["u1"]["rating"] == "good" and lines["u3"]["rating"] == "unknown"
    assert lines["u3"]["rtt_ms"] is None and lines["u3"]["recv_kbps"] is None
    for pid in ("u2", "u3"):
        for msg in sockets[pid].sent:
            assert [x["participant_id"] for x in msg["links"]] == [pid]  # type: ignore[union-attr]
    # what went out is a valid server message
    m.LinkQuality.model_validate(sockets["u2"].sent[0])


@pytest.mark.asyncio
async def test_a_thumbnail_a_thin_link_receives_in_place_of_a_camera_is_sent_while_it_does() -> None:
    """A commune's thumbnail that no wall shows is told to stop (``thumbnail`` false); once a viewer's thin
    link receives it in place of the commune's camera (its line's ``videos_reduced``), the commune is told to
    send it, and to stop again when no viewer does (server/live/quality.py, server/live/wall.py)."""
    room = Room(meeting_id=1, title="Giao ban")
    media = FakeMedia([LinkSample("u2", 40.0, 0.0, 0.12, 900.0)])
    live = LiveRoom(meeting_id=1, room=room, media=media, chair_unit_id=1)  # type: ignore[arg-type]
    sockets = {}
    for pid, unit, chair in (("u1", "IAPA", True), ("u2", "CHUMO", False), ("u3", "POTO", False)):
        room.admit(person(pid, unit, chair))
        sockets[pid] = Socket()
        actor = Actor(int(pid[1:]), pid, pid, Role.CHAIR if chair else Role.MEMBER, 1, unit, f"UBND {unit}")
        live.connections[pid] = Connection(1, pid, actor, sockets[pid].send, sockets[pid].close, 1)
    live.connections["u3"].publishes_thumbnail = True

    def told(pid: str) -> list[object]:
        return [x["send"] for x in sockets[pid].sent if x["type"] == "thumbnail"]

    meter = LinkMeter()
    await live_quality.report_once(live, meter)
    await wall.sync_senders(live)
    assert told("u3") == [False] and told("u2") == []  # no wall shows it, nobody needs it
    media.samples = [LinkSample("u2", 40.0, 0.0, 0.12, 600.0, (), ("u3",))]  # Chư Mố gets Pờ Tó's thumbnail
    await live_quality.report_once(live, meter)
    assert told("u3") == [False, True]
    reports = [x for x in sockets["u2"].sent if x["type"] == "link_quality"]
    assert reports[-1]["links"] == [{**reports[0]["links"][0], "recv_kbps": 600, "videos_reduced": ["u3"]}]  # type: ignore[index, dict-item]
    await live_quality.report_once(live, meter)
    assert told("u3") == [False, True]  # told once
    media.samples = [LinkSample("u2", 40.0, 0.0, 0.0, 1200.0)]  # the link recovered: the camera again
    await live_quality.report_once(live, meter)
    assert told("u3") == [False, True, False]
