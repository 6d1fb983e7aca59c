"""SDP details the room reads and sets beyond aiortc's API: declared SSRCs per m-line, codec preferences,
Opus DTX in the offer."""

from __future__ import annotations

import re

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


_OPUS_RTPMAP = re.compile(r"^a=rtpmap:(\d+) opus/48000(/2)?$", re.IGNORECASE)


def with_opus_dtx(sdp: str) -> str:
    """The SDP with ``usedtx=1`` in the fmtp of every Opus payload type (RFC 7587: the receiver prefers the
    sender to use discontinuous transmission). A browser answering an offer that says so encodes a silent
    microphone as a comfort-noise packet every 400 ms instead of 50 packets a second. aiortc keeps the
    parameters of the description it is given: the room applies this between createOffer and
    setLocalDescription (what aiortc's own encoder does is unchanged: it ignores the remote fmtp)."""
    lines = sdp.split("\r\n")
    opus = {m.group(1) for line in lines if (m := _OPUS_RTPMAP.match(line))}
    with_fmtp = set()
    out: list[str] = []
    for line in lines:
        pt = line[len("a=fmtp:") :].split(" ", 1)[0] if line.startswith("a=fmtp:") else None
        if pt in opus:
            with_fmtp.add(pt)
            params = line.split(" ", 1)[1] if " " in line else ""
            if not any(p.strip().lower().startswith("usedtx=") for p in params.split(";")):
                line = f"a=fmtp:{pt} {params};usedtx=1" if params else f"a=fmtp:{pt} usedtx=1"
        out.append(line)
    for pt in opus - with_fmtp:  # an Opus payload type without fmtp: one after each of its rtpmap lines
        at = [i for i, line in enumerate(out) if (m := _OPUS_RTPMAP.match(line)) and m.group(1) == pt]
        for i in reversed(at):
            out.insert(i + 1, f"a=fmtp:{pt} usedtx=1")
    return "\r\n".join(out)
