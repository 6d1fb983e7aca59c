"""Three participants whose aiortc clients run in a separate process receive each other's audio and video."""

from __future__ import annotations

import asyncio

import pytest

from server.media.client import ClientConfig
from tests.media.meeting import ProcessMeeting, wait_until


@pytest.mark.e2e
@pytest.mark.asyncio
async def test_three_participants_in_another_process_see_and_hear_each_other() -> None:
    meeting = ProcessMeeting(["a", "b", "c"], ClientConfig(video=True, video_size=(320, 240), video_fps=15))
    try:
        for pid in ["a", "b", "c"]:
            await meeting.join(pid)
        await asyncio.sleep(3.0)
        stats = await meeting.process.stats()
        for pid in ["a", "b", "c"]:
            others = {f"user-{o}" for o in ["a", "b", "c"] if o != pid}
            received = stats[pid]
            assert {p.username for p in received.participants} == others
            for remote in received.participants:
                assert remote.unit == remote.username.replace("user-", "UNIT-")
                assert remote.audio_frames > 75, (pid, remote)  # >1.5 s of 20 ms Opus frames
                assert remote.video_frames > 15, (pid, remote)
                assert remote.decode_errors == 0
                assert remote.first_video_ms is not None and remote.first_video_ms < 2000  # PLI on subscribe
        # the tap saw every participant's Opus packets
        assert await wait_until(lambda: all(meeting.listener.audio_payloads.get(p, 0) > 75 for p in "abc"), 1)
        as_json = stats["a"].to_dict()
        assert set(as_json["participants"][0]) == {
            "username",
            "unit",
            "audio_frames",
            "video_frames",
            "first_audio_ms",
            "first_video_ms",
            "packets_lost",
        }
    finally:
        await meeting.close()
