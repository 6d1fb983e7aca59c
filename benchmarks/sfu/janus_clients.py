"""The benchmark's clients as Janus videoroom participants, several per process.

Janus's videoroom takes a publisher's offer and offers each subscriber what it subscribed to, so a
participant has two peer connections (as in Janus's own web clients): a publisher that offers the same media
as our benchmark's clients send (the pre-encoded VP8 of `ClientConfig.encoded_video` and aiortc's Opus
silence) and a subscriber that is our `MediaClient`, answering Janus's offer and counting frames and loss at
the RTP level exactly as against our SFU (its m-lines labelled with the publisher whose feed they carry).

Messages to the child: ("publish", pid) -> ("offer", pid, sdp); ("published", pid, answer_sdp) -> ("ok",);
("offer", pid, Offer) -> ("answer", pid, sdp); ("stats",) -> ("stats", {pid: ClientStats}); ("close",).
"""

from __future__ import annotations

import asyncio
import multiprocessing
from multiprocessing.connection import Connection

from aiortc import AudioStreamTrack, RTCPeerConnection, RTCSessionDescription

from server.media import aiortc_hooks as hooks
from server.media.client import ClientConfig, EncodedVideoTrack, MediaClient
from server.media.events import Offer
from server.media.stats import ClientStats


class JanusPublisher:
    """A publisher peer connection that offers (send-only) what `config` publishes."""

    def __init__(self, config: ClientConfig) -> None:
        hooks.install_ice_host_addresses(config.media.ice_addresses)
        hooks.install_udp_rcvbuf(config.media.udp_rcvbuf_bytes)
        hooks.enable_opus_encoder_fec()
        self.pc = RTCPeerConnection(configuration=config.media.rtc_configuration())
        if config.publish_audio:
            self.pc.addTransceiver(AudioStreamTrack(), direction="sendonly")
        if config.video:
            self.pc.addTransceiver(
                EncodedVideoTrack(config.encoded_video, config.video_fps), direction="sendonly"
            )

    async def offer(self) -> str:
        await self.pc.setLocalDescription(await self.pc.createOffer())
        return str(self.pc.localDescription.sdp)

    async def accept_answer(self, sdp: str) -> None:
        await self.pc.setRemoteDescription(RTCSessionDescription(sdp=sdp, type="answer"))


def janus_clients_main(conn: Connection, participant_ids: list[str], config: ClientConfig) -> None:
    asyncio.run(_serve(conn, participant_ids, config))


async def _serve(conn: Connection, participant_ids: list[str], config: ClientConfig) -> None:
    loop = asyncio.get_running_loop()
    publishers = {pid: JanusPublisher(config) for pid in participant_ids}
    viewers = {pid: MediaClient(pid, config) for pid in participant_ids}
    try:
        while True:
            message = await loop.run_in_executor(None, conn.recv)
            if message[0] == "publish":
                conn.send(("offer", message[1], await publishers[message[1]].offer()))
            elif message[0] == "published":
                await publishers[message[1]].accept_answer(message[2])
                conn.send(("ok",))
            elif message[0] == "offer":
                _, pid, offer = message
                conn.send(("answer", pid, await viewers[pid].accept_offer(offer)))
            elif message[0] == "stats":
                conn.send(("stats", {pid: c.stats() for pid, c in viewers.items()}))
            elif message[0] == "close":
                break
    finally:
        for viewer in viewers.values():
            await viewer.close()
        for publisher in publishers.values():
            await publisher.pc.close()
        conn.send(("closed",))


class JanusClientProcess:
    """The parent's handle on a child process of Janus participants (publisher + subscriber each)."""

    def __init__(self, participant_ids: list[str], config: ClientConfig) -> None:
        ctx = multiprocessing.get_context("spawn")
        self._conn, child = ctx.Pipe()
        self.participant_ids = participant_ids
        self.process = ctx.Process(
            target=janus_clients_main, args=(child, participant_ids, config), daemon=True
        )
        self.process.start()

    async def publish_offer(self, pid: str) -> str:
        return str((await self._call(("publish", pid)))[2])

    async def published(self, pid: str, answer_sdp: str) -> None:
        await self._call(("published", pid, answer_sdp))

    async def answer(self, pid: str, offer: Offer) -> str:
        return str((await self._call(("offer", pid, offer)))[2])

    async def stats(self) -> dict[str, ClientStats]:
        stats: dict[str, ClientStats] = (await self._call(("stats",)))[1]  # type: ignore[assignment]
        return stats

    async def close(self) -> None:
        try:
            await self._call(("close",))
        finally:
            self.process.join(timeout=10)
            if self.process.is_alive():
                self.process.kill()

    async def _call(self, message: tuple[object, ...]) -> tuple[object, ...]:
        loop = asyncio.get_running_loop()
        self._conn.send(message)
        reply: tuple[object, ...] = await loop.run_in_executor(None, self._conn.recv)
        return reply
