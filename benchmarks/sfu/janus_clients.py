"""The benchmark's clients as Janus videoroom participants, several per process.

Janus's videoroom takes a publisher's offer and offers each subscriber what it subscribed to, so a
participant has two peer connections (as in Janus's own web clients): a publisher that offers the same media
as our benchmark's clients send (the pre-encoded VP8 of `ClientConfig.encoded_video` and aiortc's Opus
silence) and a subscriber that is our `MediaClient`, answering Janus's offer and counting frames and loss at
the RTP level exactly as against our SFU (its m-lines labelled with the publisher whose feed they carry).

The child is a `server.media.client_process.ClientProcess` (its subscribers, "offer", "stats" and "close")
with the publishers as its extension: ("publish", pid) -> ("offer", pid, sdp); ("published", pid, answer_sdp)
-> ("ok",).
"""

from __future__ import annotations

from typing import Any

from aiortc import AudioStreamTrack, RTCPeerConnection, RTCSessionDescription

from server.media import aiortc_hooks as hooks
from server.media.client import ClientConfig, EncodedVideoTrack
from server.media.client_process import ClientProcess


class JanusPublisher:
    """A publisher peer connection that offers (send-only) what `config` publishes."""

    def __init__(self, config: ClientConfig) -> None:
        hooks.install_ice_host_addresses(config.media.ice_addresses)
        hooks.install_udp_rcvbuf(config.media.udp_rcvbuf_bytes)
        hooks.install_udp_drain()
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


class JanusPublishers:
    """The child's publishers, one per participant (the extension of its `ClientProcess`): ("publish", pid)
    -> ("offer", pid, sdp); ("published", pid, answer_sdp) -> ("ok",)."""

    def __init__(self, participant_ids: list[str], config: ClientConfig) -> None:
        self.publishers = {pid: JanusPublisher(config) for pid in participant_ids}

    async def handle(self, message: tuple[Any, ...]) -> tuple[object, ...]:
        if message[0] == "publish":
            return ("offer", message[1], await self.publishers[message[1]].offer())
        if message[0] == "published":
            await self.publishers[message[1]].accept_answer(message[2])
            return ("ok",)
        raise ValueError(f"unknown message {message[0]!r}")

    async def close(self) -> None:
        for publisher in self.publishers.values():
            await publisher.pc.close()


class JanusClientProcess(ClientProcess):
    """The parent's handle on a child process of Janus participants (publisher + subscriber each)."""

    def __init__(self, participant_ids: list[str], config: ClientConfig) -> None:
        super().__init__(participant_ids, config, extension=JanusPublishers)

    async def publish_offer(self, pid: str) -> str:
        return str((await self.call("publish", pid))[2])

    async def published(self, pid: str, answer_sdp: str) -> None:
        await self.call("published", pid, answer_sdp)
