"""Bounded negotiation (MediaConfig.bounded_from), the province meeting's SFU: each viewer has m-lines only
for what it receives — the audible microphones on a fixed set of audio slots (pinned + recent speakers), its
last-N cameras — reused as speakers change, so a join costs one offer instead of one per participant. Real
aiortc peers over 127.0.0.1; the same join sequence with every stream negotiated to every viewer is the
comparison."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from aiortc.rtp import RtpPacket

from server.media.client import ClientConfig
from server.media.config import MediaConfig
from server.media.events import RenegotiationNeeded
from tests.media.meeting import Meeting, frames, wait_until
from tests.media.test_media_audio_room import (
    LEADS_S,
    SPEECH_DBFS,
    decoded_levels,
    join_points,
    make_audio,
    points,
)

pytestmark = pytest.mark.e2e

BASE = MediaConfig(ice_addresses=("127.0.0.1",), audio_speakers=3, last_n=2)
SMALL_VIDEO = ClientConfig(video=True, video_size=(160, 120), video_fps=15)
COMMUNES = [f"c{i}" for i in range(7)]


def slots(meeting: Meeting, viewer: str, kind: str) -> int:
    return sum(1 for slot in meeting.room._participants[viewer].slots if slot.kind == kind)


async def hold(config: MediaConfig) -> tuple[Meeting, int]:
    """The hall (pinned) and seven communes join with video and Opus silence; the renegotiations joining
    caused for those already in."""
    meeting = Meeting(config)
    meeting.room.set_pinned(["hall"])
    for pid in ["hall", *COMMUNES]:
        await meeting.join(pid, SMALL_VIDEO)
    renegotiations = sum(isinstance(e, RenegotiationNeeded) for e in meeting.listener.events)
    return meeting, renegotiations


@pytest.mark.asyncio
async def test_a_bounded_meeting_negotiates_only_what_each_viewer_receives() -> None:
    full, full_renegotiations = await hold(BASE)
    try:
        # every viewer has an m-line for each other participant's microphone and camera
        assert all(slots(full, v, "audio") == 7 and slots(full, v, "video") == 7 for v in full.clients)
    finally:
        await full.close()
    bounded, renegotiations = await hold(replace(BASE, bounded_from=2))
    try:
        for viewer in bounded.clients:
            # the pinned hall and three speakers' worth of audio slots, last_n cameras: whatever the size
            assert slots(bounded, viewer, "audio") == 4, viewer
            assert slots(bounded, viewer, "video") <= 2, viewer
        print(f"renegotiations while 8 joined: bounded {renegotiations}, every stream {full_renegotiations}")
        assert renegotiations < full_renegotiations / 2, (renegotiations, full_renegotiations)
        for commune in COMMUNES:
            assert await wait_until(lambda c=commune: frames(bounded, c, "hall", "video") > 15, 8.0), commune
            assert await wait_until(lambda c=commune: frames(bounded, c, "hall", "audio") > 50, 8.0), commune
            for other in COMMUNES:  # open microphones in silent rooms reach no one
                assert other == commune or frames(bounded, commune, other, "audio") == 0
        stats = bounded.room.stats()
        assert all(f.publisher_id == "hall" for f in stats.forwarded if f.kind == "audio" and f.packets_sent)
    finally:
        await bounded.close()


async def keep_settling(meeting: Meeting) -> None:
    while True:
        await meeting.settle()
        await asyncio.sleep(0.05)


def capture_audio(meeting: Meeting, viewer: str) -> dict[str, list[RtpPacket]]:
    """Every audio RTP packet that reaches `viewer`, per m-line, before its jitter buffer."""
    got: dict[str, list[RtpPacket]] = {}
    for transceiver in meeting.clients[viewer].pc.getTransceivers():
        if transceiver.kind != "audio" or transceiver.mid is None:
            continue
        receiver = transceiver.receiver
        packets = got.setdefault(transceiver.mid, [])
        original = receiver._handle_rtp_packet

        async def handle(packet: RtpPacket, arrival_time_ms: int, _p=packets, _o=original) -> None:  # type: ignore[no-untyped-def]
            _p.append(packet)
            await _o(packet, arrival_time_ms)

        receiver._handle_rtp_packet = handle  # type: ignore[method-assign]
    return got


@pytest.mark.asyncio
async def test_speakers_take_turns_on_the_same_audio_slots_and_their_first_words_arrive(
    tmp_path: Path,
) -> None:
    files = make_audio(tmp_path)
    meeting = Meeting(replace(BASE, bounded_from=2, last_n=0))
    plays = points(files)
    try:
        await join_points(meeting, plays)
        captured = {viewer: capture_audio(meeting, viewer) for viewer in plays}
        at_q1 = captured["q1"]
        assert len(at_q1) == 5  # its own microphone's m-line is not a send slot: 4 slots + its own
        # as the signaling layer does: the offers that name who was put on a slot are answered as they come
        relabel = asyncio.ensure_future(keep_settling(meeting))
        await asyncio.sleep(LEADS_S["s2"][0] + 6.0)
        relabel.cancel()
        await asyncio.gather(relabel, return_exceptions=True)
        await meeting.settle()
        muted = {"n1", "n2", "n3", "q1", "q2"}
        for viewer in plays:
            for publisher in plays:
                if publisher == viewer:
                    continue
                heard = frames(meeting, viewer, publisher, "audio")
                if publisher in muted:
                    assert heard == 0, (viewer, publisher, heard)
                elif publisher == "hall":
                    assert heard > 300, (viewer, publisher, heard)
            # no m-line was added as speakers came and went: they took turns on the spare slots
            assert slots(meeting, viewer, "audio") == 4, viewer
        recorded = meeting.listener.audio_payloads
        # every point recorded, forwarded or not
        assert all(recorded.get(p, 0) > 300 for p in plays), recorded
        # s2's speech reaches every viewer, whichever slot carried it and whatever it was named then
        tapped = meeting.listener.audio_packets["s2"]
        levels = decoded_levels([p for p, _ in tapped])
        speech = {payload for (payload, _), level in zip(tapped, levels, strict=True) if level > SPEECH_DBFS}
        noise = {payload for payload, _ in meeting.listener.audio_packets["n1"]}
        assert len(speech) > 50  # about 1.5 s of s2's sentence is above the speech level
        for viewer, by_mid in captured.items():
            received = {p.payload for packets in by_mid.values() for p in packets}
            if viewer != "s2":
                assert len(speech & received) > 0.95 * len(speech), (viewer, len(speech & received))
            if viewer != "n1":
                assert not noise & received, viewer  # a room's noise reaches no one
        # s2's first words reach q1 whole, pre-roll first, on one slot with contiguous sequence numbers
        onset = int(np.nonzero(levels > SPEECH_DBFS)[0][0])
        first_words = [p for p, _ in tapped[onset : onset + 5]]
        carrying = [
            packets
            for packets in at_q1.values()
            if any(
                [p.payload for p in packets[i : i + 5]] == first_words for i in range(len(packets))
            )
        ]
        assert len(carrying) == 1, "s2's first words did not reach q1 whole on one slot"
        payloads = [p.payload for p in carrying[0]]
        first = next(i for i in range(len(payloads)) if payloads[i : i + 5] == first_words)
        assert first >= 3  # pre-roll before it
        seqs = [p.sequence_number for p in carrying[0]]
        assert all((b - a) % 65536 == 1 for a, b in zip(seqs, seqs[1:], strict=False)), seqs
    finally:
        await meeting.close()
