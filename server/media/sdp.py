"""SDP details the room reads and sets beyond aiortc's API: declared SSRCs per m-line, codec preferences."""

from __future__ import annotations

from aiortc import RTCRtpSender, RTCRtpTransceiver
from aiortc.sdp import SessionDescription

from server.media import aiortc_hooks as hooks
from server.media.events import Kind


def declared_ssrcs(sdp: str) -> dict[str, frozenset[int]]:
    """mid -> the SSRCs (a=ssrc lines: media and RTX) an SDP declares for that m-line."""
    out: dict[str, frozenset[int]] = {}
    for media in SessionDescription.parse(sdp).media:
        if media.rtp.muxId:
            out[media.rtp.muxId] = frozenset(s.ssrc for s in media.ssrc)
    return out


def prefer_codecs(transceiver: RTCRtpTransceiver, kind: Kind) -> None:
    """Offer RED (RFC 2198, ``red/48000/2`` over Opus) then Opus for audio, VP8 (+ RTX) for video only: what
    every browser decodes. Browsers that offer RED (Chromium) negotiate it, aiortc peers leave it out;
    the room forwards it to RED viewers and strips it to the primary Opus packet for the others. The
    negotiation itself must run inside `aiortc_hooks.offering_red()` (the room's createOffer and
    setRemoteDescription)."""
    if kind == "audio":
        hooks.prefer_red_opus(transceiver)
        return
    capabilities = RTCRtpSender.getCapabilities(kind)
    wanted = ("audio/opus",) if kind == "audio" else ("video/vp8", "video/rtx")
    transceiver.setCodecPreferences([c for c in capabilities.codecs if c.mimeType.lower() in wanted])
