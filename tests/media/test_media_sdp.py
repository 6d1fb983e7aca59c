"""SDP helpers of the room, on SDP written by real aiortc peer connections."""

from __future__ import annotations

import pytest
from aiortc import RTCPeerConnection, RTCSessionDescription

from server.media import aiortc_hooks as hooks
from server.media.client import PatternVideoTrack
from server.media.sdp import declared_ssrcs, prefer_codecs, with_opus_dtx


@pytest.mark.asyncio
async def test_an_answer_declares_the_media_and_rtx_ssrcs_of_each_sending_m_line() -> None:
    server, client = RTCPeerConnection(), RTCPeerConnection()
    try:
        for _ in range(2):  # camera and screen: two video m-lines
            prefer_codecs(server.addTransceiver("video", direction="recvonly"), "video")
        await server.setLocalDescription(await server.createOffer())
        await client.setRemoteDescription(RTCSessionDescription(server.localDescription.sdp, "offer"))
        for transceiver in client.getTransceivers():
            transceiver.direction = "sendonly"
            transceiver.sender.replaceTrack(PatternVideoTrack(160, 120, 10))
        await client.setLocalDescription(await client.createAnswer())

        declared = declared_ssrcs(client.localDescription.sdp)
        for transceiver in client.getTransceivers():
            sender = transceiver.sender
            expected = {hooks.sender_ssrc(sender), hooks.sender_rtx_ssrc(sender)}
            assert declared[transceiver.mid or ""] == expected
        assert len(set().union(*declared.values())) == 4  # no SSRC shared between the two m-lines
        # the offer (receive-only m-lines) declares none of the sender's
        offered = declared_ssrcs(server.localDescription.sdp)
        assert not set().union(*offered.values()) & set().union(*declared.values())
    finally:
        await client.close()
        await server.close()


@pytest.mark.asyncio
async def test_codec_preferences_offer_opus_and_vp8_with_rtx_only() -> None:
    pc = RTCPeerConnection()
    try:
        prefer_codecs(pc.addTransceiver("audio", direction="recvonly"), "audio")
        prefer_codecs(pc.addTransceiver("video", direction="recvonly"), "video")
        await pc.setLocalDescription(await pc.createOffer())
        rtpmaps = {line.split(" ", 1)[1].split("/")[0].lower()
                   for line in pc.localDescription.sdp.splitlines() if line.startswith("a=rtpmap:")}
        assert rtpmaps == {"opus", "vp8", "rtx"}
    finally:
        await pc.close()


@pytest.mark.asyncio
async def test_opus_dtx_is_added_to_the_opus_fmtp_of_an_offer_and_kept_by_aiortc() -> None:
    server = RTCPeerConnection()
    try:
        prefer_codecs(server.addTransceiver("audio", direction="sendonly"), "audio")
        prefer_codecs(server.addTransceiver("video", direction="sendonly"), "video")
        with hooks.offering_red():
            offer = await server.createOffer()
            sdp = with_opus_dtx(offer.sdp)
            await server.setLocalDescription(RTCSessionDescription(sdp, "offer"))
        local = server.localDescription.sdp.split("\r\n")
        assert "a=fmtp:96 useinbandfec=1;usedtx=1" in local  # Opus: FEC as before, and DTX
        assert "a=fmtp:63 96/96" in local  # RED's fmtp and the video codecs' are untouched
        assert sum("usedtx" in line for line in local) == 1
        assert with_opus_dtx(sdp) == sdp  # said once
    finally:
        await server.close()
    bare = "v=0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=rtpmap:111 opus/48000/2\r\na=rtcp-mux\r\n"
    assert with_opus_dtx(bare).split("\r\n")[3] == "a=fmtp:111 usedtx=1"  # Opus without fmtp: one added
