"""What the SDP negotiates: the transceiver's codecs and header extensions, Opus in-band FEC (fmtp and
encoder), and RED (RFC 2198) offered by the server's own peer connections."""

from __future__ import annotations

import contextlib
import contextvars
import inspect
from collections.abc import Iterator

from aiortc import RTCPeerConnection, RTCRtpReceiver, RTCRtpTransceiver
from aiortc.rtcrtpparameters import (
    RTCRtpCodecCapability,
    RTCRtpCodecParameters,
    RTCRtpHeaderExtensionParameters,
)
from aiortc.rtp import HeaderExtensionsMap

from server.media.aiortc_hooks.checks import _source
from server.media.aiortc_hooks.registry import HookError

# --- negotiated codecs and header extensions -------------------------------------------------------------


def negotiated_codecs(transceiver: RTCRtpTransceiver) -> list[RTCRtpCodecParameters]:
    """The codecs negotiated for this transceiver, preferred first (empty before negotiation)."""
    return list(transceiver._codecs)


def negotiated_header_extensions(transceiver: RTCRtpTransceiver) -> list[RTCRtpHeaderExtensionParameters]:
    """The header extensions (id, uri) negotiated for this transceiver (aiortc's defaults before that)."""
    return list(transceiver._headerExtensions)


def header_extensions_map(transceiver: RTCRtpTransceiver) -> HeaderExtensionsMap:
    """A header-extension map configured like the one the transceiver's sender serialises with."""
    from aiortc.rtcrtpparameters import RTCRtpParameters

    ext_map = HeaderExtensionsMap()
    ext_map.configure(RTCRtpParameters(codecs=[], headerExtensions=list(transceiver._headerExtensions)))
    return ext_map


# ---- Opus in-band FEC: our own client sends the redundancy a browser does --------------------------------

OPUS_FEC_PACKET_LOSS_PERCENT = 10  # links lose a few % (5 % measured); libopus adds LBRR only when > 0
_OPUS_FEC_MARK = "_giaoban_opus_fec"


def _opus_codecs() -> list[RTCRtpCodecParameters]:
    import aiortc.codecs

    return [c for c in aiortc.codecs.CODECS.get("audio", []) if c.mimeType.lower() == "audio/opus"]


def advertise_opus_fec() -> None:
    """Say ``useinbandfec=1`` in every Opus fmtp this process offers or answers (RFC 7587: absent means 0).

    aiortc's Opus codec has no fmtp parameters; its ``aiortc.codecs.CODECS`` entry is the dict that
    ``getCapabilities`` and every offer/answer copy, so one entry changes them all. A browser publishing to a
    peer that says it decodes FEC turns its encoder's FEC on (Chromium reads the remote fmtp).
    """
    for codec in _opus_codecs():
        codec.parameters["useinbandfec"] = 1


def enable_opus_encoder_fec(packet_loss_percent: int = OPUS_FEC_PACKET_LOSS_PERCENT) -> None:
    """Turn libopus' in-band FEC on in aiortc's Opus encoder (``aiortc.codecs.opus.OpusEncoder``, PyAV's
    libopus with ``application=voip``, FEC off and 0 % expected loss): its ``__init__`` is wrapped to add the
    encoder options ``fec=1`` and ``packet_loss`` (FFmpeg's libopusenc). Process-wide, idempotent."""
    from aiortc.codecs import opus

    init = opus.OpusEncoder.__init__
    if getattr(init, _OPUS_FEC_MARK, None) == packet_loss_percent:
        return
    original = getattr(init, "__wrapped__", init)

    def __init__(self: opus.OpusEncoder) -> None:
        original(self)
        self.codec.options = {**dict(self.codec.options), "fec": "1", "packet_loss": str(packet_loss_percent)}

    __init__.__wrapped__ = original  # type: ignore[attr-defined]
    setattr(__init__, _OPUS_FEC_MARK, packet_loss_percent)
    opus.OpusEncoder.__init__ = __init__  # type: ignore[method-assign]


def check_opus_fec() -> None:
    """Raise HookError if aiortc's Opus codec entry or encoder no longer has the shape the FEC hooks use."""
    from aiortc.codecs import opus

    problems: list[str] = []
    codecs = _opus_codecs()
    if len(codecs) != 1 or not isinstance(codecs[0].parameters, dict):
        problems.append("aiortc.codecs.CODECS['audio'] no longer holds one Opus entry with a parameters dict")
    original = getattr(opus.OpusEncoder.__init__, "__wrapped__", opus.OpusEncoder.__init__)
    try:
        init_src = inspect.getsource(original)
    except (OSError, TypeError):
        init_src = ""
    for needle in ('self.codec = CodecContext.create("libopus", "w")', "self.codec.options = {"):
        if needle not in init_src:
            problems.append(f"aiortc OpusEncoder.__init__ no longer does {needle!r}")
    if problems:
        raise HookError("aiortc internals changed: " + "; ".join(problems))


# ---- RED (RFC 2198) for audio: offered by the server's peer connections only ------------------------------

RED_PAYLOAD_TYPE = 63  # Chromium's own number for red/48000/2; outside the video codecs' 97..102 (BUNDLE)
RED_MIME_TYPE = "audio/red"
_red_offered: contextvars.ContextVar[bool] = contextvars.ContextVar("giaoban_red_offered", default=False)


def red_codec() -> RTCRtpCodecParameters:
    """``red/48000/2`` whose fmtp names Opus as primary and redundant format (``96/96``: aiortc's Opus PT)."""
    opus_pt = _opus_codecs()[0].payloadType
    return RTCRtpCodecParameters(
        mimeType=RED_MIME_TYPE,
        clockRate=48000,
        channels=2,
        payloadType=RED_PAYLOAD_TYPE,
        parameters={f"{opus_pt}/{opus_pt}": None},
    )


class _CodecTable(dict[str, list[RTCRtpCodecParameters]]):
    """aiortc's codec table as `aiortc.rtcpeerconnection` reads it (``CODECS[kind]`` in createOffer and in
    setRemoteDescription's negotiation), with RED added to the audio codecs inside `offering_red()` only.

    aiortc cannot encode or decode RED; the server only forwards and records it. A process-wide entry would
    make aiortc peers in the same process (the bot, tests' clients) accept RED as answerers and then fail to
    decode it, so the entry exists only while the server's own peer connection negotiates.
    """

    def __getitem__(self, kind: str) -> list[RTCRtpCodecParameters]:
        codecs = super().__getitem__(kind)
        if kind == "audio" and _red_offered.get():
            return [red_codec(), *codecs]
        return codecs


@contextlib.contextmanager
def offering_red() -> Iterator[None]:
    """Inside: this task's createOffer / setRemoteDescription know ``red/48000/2`` (see `_CodecTable`)."""
    token = _red_offered.set(True)
    try:
        yield
    finally:
        _red_offered.reset(token)


def install_red_codec() -> None:
    """Put `_CodecTable` in place of the codec table aiortc's peer connection module reads (idempotent)."""
    import aiortc.codecs
    import aiortc.rtcpeerconnection

    table = aiortc.rtcpeerconnection.CODECS
    if not isinstance(table, _CodecTable):
        # the same lists as aiortc.codecs.CODECS (advertise_opus_fec's fmtp change is seen through them)
        aiortc.rtcpeerconnection.CODECS = _CodecTable(aiortc.codecs.CODECS)  # type: ignore[attr-defined]


def prefer_red_opus(transceiver: RTCRtpTransceiver) -> None:
    """Offer ``red/48000/2`` first, then Opus, on this audio transceiver (aiortc's `setCodecPreferences`
    refuses codecs outside `getCapabilities`, which has no RED: the preference list is set directly)."""
    install_red_codec()
    red = red_codec()
    opus = _opus_codecs()[0]
    transceiver._preferred_codecs = [  # type: ignore[attr-defined]
        RTCRtpCodecCapability(
            mimeType=c.mimeType, clockRate=c.clockRate, channels=c.channels, parameters=c.parameters
        )
        for c in (red, opus)
    ]


def check_red_and_reports() -> None:
    """Raise HookError if the internals the RED and receiver-report hooks use changed shape."""
    import aiortc.rtcpeerconnection

    problems: list[str] = []
    if "CODECS[transceiver.kind][:]" not in _source(RTCPeerConnection, "createOffer"):
        problems.append("RTCPeerConnection.createOffer no longer reads CODECS[transceiver.kind]")
    if "find_common_codecs(CODECS[media.kind]" not in _source(RTCPeerConnection, "setRemoteDescription"):
        problems.append("RTCPeerConnection.setRemoteDescription no longer negotiates from CODECS[media.kind]")
    if not isinstance(getattr(aiortc.rtcpeerconnection, "CODECS", None), dict):
        problems.append("aiortc.rtcpeerconnection.CODECS is missing")
    if "self._preferred_codecs" not in _source(RTCRtpTransceiver, "__init__"):
        problems.append("RTCRtpTransceiver no longer sets _preferred_codecs")
    if "self.__remote_streams" not in _source(RTCRtpReceiver, "__init__"):
        problems.append("RTCRtpReceiver no longer sets __remote_streams")
    run_rtcp = _source(RTCRtpReceiver, "_run_rtcp")
    for needle in (
        "for ssrc, stream in self.__remote_streams.items()",
        "fraction_lost=stream.fraction_lost",
        "packets_lost=stream.packets_lost",
        "highest_sequence=stream.max_seq",
        "jitter=stream.jitter",
    ):
        if needle not in run_rtcp:
            problems.append(f"RTCRtpReceiver._run_rtcp no longer does {needle!r}")
    if problems:
        raise HookError("aiortc internals changed: " + "; ".join(problems))
