"""RTP header-extension fixtures shared by the packet-level media tests."""

from __future__ import annotations

from aiortc.rtcrtpparameters import RTCRtpHeaderExtensionParameters, RTCRtpParameters
from aiortc.rtp import HeaderExtensionsMap

MID = "urn:ietf:params:rtp-hdrext:sdes:mid"
ABS = "http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time"
LEVEL = "urn:ietf:params:rtp-hdrext:ssrc-audio-level"


def ext_map(mid_id: int, abs_id: int, level_id: int) -> HeaderExtensionsMap:
    """aiortc's extension map for these ids (0: that extension not negotiated)."""
    extensions = [
        RTCRtpHeaderExtensionParameters(id=i, uri=uri)
        for i, uri in ((mid_id, MID), (abs_id, ABS), (level_id, LEVEL))
        if i
    ]
    mapping = HeaderExtensionsMap()
    mapping.configure(RTCRtpParameters(codecs=[], headerExtensions=extensions))
    return mapping
