"""A meeting driver for the media tests: a MediaRoom plus clients (in-process or in a child process), with
the server-offers/client-answers loop that the signaling layer performs in production."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from server.media.client import ClientConfig, MediaClient
from server.media.client_process import ClientProcess
from server.media.config import MediaConfig
from server.media.events import MediaEvent, MediaListener, RenegotiationNeeded
from server.media.room import MediaRoom

# The mechanics tests (fast path, feedback, C sender...) run on bots that send Opus silence, which the audio
# selection never forwards: they forward every microphone (GIAOBAN_AUDIO_SPEAKERS=0). The selection is tested
# with real speech and noise in test_media_audio_room.py.
LOOPBACK = MediaConfig(ice_addresses=("127.0.0.1",), audio_speakers=0)


class RecordingListener(MediaListener):
    def __init__(self) -> None:
        self.events: list[MediaEvent] = []
        self.audio_payloads: dict[str, int] = {}
        self.audio_packets: dict[str, list[tuple[bytes, int]]] = {}  # what the recorder was handed
        self.renegotiate: list[str] = []

    def on_event(self, event: MediaEvent) -> None:
        self.events.append(event)
        if isinstance(event, RenegotiationNeeded) and event.participant_id not in self.renegotiate:
            self.renegotiate.append(event.participant_id)

    def on_audio_payload(
        self, participant_id: str, payload: bytes, rtp_timestamp: int, arrival_monotonic_s: float
    ) -> None:
        self.audio_payloads[participant_id] = self.audio_payloads.get(participant_id, 0) + 1
        self.audio_packets.setdefault(participant_id, []).append((payload, rtp_timestamp))


class Meeting:
    """Server room + in-process MediaClients."""

    def __init__(self, config: MediaConfig = LOOPBACK) -> None:
        self.listener = RecordingListener()
        self.room = MediaRoom("test-room", config, self.listener)
        self.clients: dict[str, MediaClient] = {}

    async def join(self, pid: str, client_config: ClientConfig | None = None, **kwargs: bool) -> MediaClient:
        client = MediaClient(pid, client_config or ClientConfig(video=True))
        self.clients[pid] = client
        offer = await self.room.join(pid, username=f"user-{pid}", unit=f"UNIT-{pid}", **kwargs)
        await self.room.answer(pid, await client.accept_offer(offer))
        await self.settle()
        return client

    async def settle(self) -> None:
        while self.listener.renegotiate:
            pid = self.listener.renegotiate.pop(0)
            if pid in self.clients and pid in self.room.participant_ids():
                offer = await self.room.renegotiate(pid)
                await self.room.answer(pid, await self.clients[pid].accept_offer(offer))

    async def close(self) -> None:
        for client in self.clients.values():
            await client.close()
        await self.room.close()


class ProcessMeeting:
    """Server room in this process, clients in one child process."""

    def __init__(self, pids: list[str], client_config: ClientConfig, config: MediaConfig = LOOPBACK) -> None:
        self.listener = RecordingListener()
        self.room = MediaRoom("test-room", config, self.listener)
        self.process = ClientProcess(pids, client_config)

    async def join(self, pid: str) -> None:
        offer = await self.room.join(pid, username=f"user-{pid}", unit=f"UNIT-{pid}")
        await self.room.answer(pid, await self.process.answer(pid, offer))
        while self.listener.renegotiate:
            other = self.listener.renegotiate.pop(0)
            if other in self.room.participant_ids():
                offer = await self.room.renegotiate(other)
                await self.room.answer(other, await self.process.answer(other, offer))

    async def close(self) -> None:
        await self.process.close()
        await self.room.close()


async def wait_until(predicate: Callable[[], bool], timeout_s: float, step_s: float = 0.1) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return True
        await asyncio.sleep(step_s)
    return predicate()


def frames(meeting: Meeting, viewer: str, publisher: str, kind: str) -> int:
    """Frames of `publisher`'s audio or video that `viewer` has counted so far (0 before any)."""
    remote = meeting.clients[viewer].stats().by_username(f"user-{publisher}")
    if remote is None:
        return 0
    return remote.audio_frames if kind == "audio" else remote.video_frames
