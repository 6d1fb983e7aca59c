"""With every acceleration of the SFU switched off — what `aiortc_hooks.self_check()` does when the internals
one relies on changed after an upgrade — a meeting still forwards audio and video through aiortc's plain
paths: RTP received the aiortc way, sent through `RTCDtlsTransport._send_rtp`, aiortc's own Sender Reports."""

from __future__ import annotations

from dataclasses import replace

import pytest

from server.media import aiortc_hooks as hooks
from server.media.aiortc_hooks import direct_send, registry
from server.media.client import ClientConfig
from tests.media.meeting import LOOPBACK, Meeting, frames, wait_until

SMALL_VIDEO = ClientConfig(video=True, video_size=(160, 120), video_fps=15)


@pytest.mark.asyncio
async def test_with_every_acceleration_off_the_meeting_goes_on_the_plain_way(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    switched_off = {name: ["switched off by the test"] for name in hooks.ACCELERATIONS}
    monkeypatch.setattr(registry, "_disabled", switched_off)
    sent_plain: list[int] = []
    original = hooks.send_rtp

    async def counting_send_rtp(transport, data):  # type: ignore[no-untyped-def]
        sent_plain.append(len(data))
        return await original(transport, data)

    monkeypatch.setattr(direct_send, "send_rtp", counting_send_rtp)  # what _plain_output calls
    meeting = Meeting(replace(LOOPBACK, rtp_native_send=True, rtp_fast_path=True, audio_speakers=0))
    try:
        for pid in ("a", "b", "c"):
            await meeting.join(pid, SMALL_VIDEO)
        for viewer, publisher in (("a", "b"), ("b", "c"), ("c", "a")):
            assert await wait_until(lambda v=viewer, p=publisher: frames(meeting, v, p, "video") > 15, 8.0)
            assert await wait_until(lambda v=viewer, p=publisher: frames(meeting, v, p, "audio") > 50, 8.0)
        stats = meeting.room.stats()
        assert stats.packets_in > 0 and stats.packets_fast_path == 0 and stats.packets_native == 0
        assert len(sent_plain) >= 0.9 * stats.packets_out, (len(sent_plain), stats.packets_out)
        for client in meeting.clients.values():
            for remote in client.stats().participants:
                assert remote.decode_errors == 0, remote
    finally:
        await meeting.close()
