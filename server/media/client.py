"""MediaClient: a real aiortc participant (used by `giaoban bot`, the tests and the SFU benchmark).

It answers the server's offers, publishes an audio file (or silence) and optionally a moving VP8 test
pattern, and counts what it receives per remote participant. With `decode=True` frames are counted after
decoding (the contract of `--stats-json`); with `decode=False` (benchmarks) the decoders are stopped and
frames are counted at the RTP level (one video frame per marker bit, one audio frame per Opus packet).
"""

from __future__ import annotations

import asyncio
import contextlib
import fractions
import hashlib
import logging
import time
from dataclasses import dataclass, field

import av
import numpy as np
from aiortc import (
    AudioStreamTrack,
    MediaStreamTrack,
    RTCPeerConnection,
    RTCRtpReceiver,
    RTCRtpTransceiver,
    RTCSessionDescription,
    VideoStreamTrack,
)
from aiortc.contrib.media import MediaPlayer
from aiortc.mediastreams import MediaStreamError
from aiortc.rtp import RtpPacket

from server.media import aiortc_hooks as hooks
from server.media.config import MediaConfig
from server.media.events import Offer, StreamLabel
from server.media.stats import ClientStats, RemoteParticipantStats
from server.media.vp8 import is_keyframe_start, keyframe_size

logger = logging.getLogger(__name__)

VIDEO_CLOCK_RATE_HZ = 90000
SEQ_MODULO = 1 << 16


@dataclass(frozen=True)
class ClientConfig:
    """What a client publishes and how it counts.

    audio_file: played at real time into the meeting (None: silence).
    video: publish a moving test pattern of video_size at video_fps (VP8).
    decode: decode received media (True) or count at the RTP level (False, for load benchmarks).
    encoded_video: publish these pre-encoded VP8 packets in a loop instead of encoding (benchmarks).
    publish_audio: False answers the microphone m-line inactive (a pure viewer, for benchmarks).
    encoded_thumbnail: pre-encoded VP8 packets for the "thumbnail" m-line (the wall's low-resolution copy of
        the camera) instead of a test pattern of half video_size at up to 15 fps.
    keep_arrivals: remember each received packet (`arrivals`: when, sequence number, marker, VP8 key frame
        start and its width, payload size), to tell afterwards which frames could be shown when (freezes,
        without decoding's timing) and how large.
    """

    media: MediaConfig = field(default_factory=MediaConfig)
    audio_file: str | None = None
    video: bool = False
    video_size: tuple[int, int] = (320, 240)
    video_fps: int = 15
    decode: bool = True
    encoded_video: tuple[bytes, ...] = ()
    publish_audio: bool = True
    encoded_thumbnail: tuple[bytes, ...] = ()
    keep_arrivals: bool = False


MAX_LAG_S = 0.5  # a test track read this late skips ahead instead of sending the missed frames at once
THUMBNAIL_FPS = 15  # the wall's copy of a camera: half its size, at most 15 fps (as the web client's)
SENDER_SQUARE_PX = 48  # the top-left square of a bot's test pattern: one flat colour per sender and source


def sender_colour(participant_id: str, source: str) -> tuple[int, int, int]:
    """The colour of a bot's test-pattern square for this sender and source (camera / screen), so a recording
    or a composed video can tell whose frames it shows (coarse levels: they survive VP8)."""
    digest = hashlib.sha256(f"{participant_id}/{source}".encode()).digest()
    return digest[0] & 0xC0 | 0x20, digest[1] & 0xC0 | 0x20, digest[2] & 0xC0 | 0x20


class PatternVideoTrack(VideoStreamTrack):
    """A moving colour pattern (diagonal bars that scroll), so every frame differs; with ``square_rgb`` its
    top-left square is that flat colour (the sender's: :func:`sender_colour`)."""

    def __init__(
        self,
        width: int,
        height: int,
        fps: int,
        shade: int = 0,
        square_rgb: tuple[int, int, int] | None = None,
    ) -> None:
        super().__init__()
        self.fps = fps
        self.square_rgb = square_rgb
        y, x = np.mgrid[0:height, 0:width]
        self._base = ((x + y) * 2 + shade) % 256
        self._frame_index = 0
        self._started_s: float | None = None

    async def recv(self) -> av.VideoFrame:
        if self._started_s is None:
            self._started_s = time.monotonic()
        target = self._started_s + self._frame_index / self.fps
        delay = target - time.monotonic()
        if delay < -MAX_LAG_S:  # not read for a while (a paused sender): go on from now, no burst
            self._started_s -= delay
        elif delay > 0:
            await asyncio.sleep(delay)
        shift = self._frame_index * 4
        luma = ((self._base + shift) % 256).astype(np.uint8)
        rgb = np.stack([luma, np.roll(luma, 40, axis=1), 255 - luma], axis=2)
        if self.square_rgb is not None:
            rgb[:SENDER_SQUARE_PX, :SENDER_SQUARE_PX] = self.square_rgb
        frame = av.VideoFrame.from_ndarray(rgb, format="rgb24")
        frame.pts = self._frame_index * (VIDEO_CLOCK_RATE_HZ // self.fps)
        frame.time_base = fractions.Fraction(1, VIDEO_CLOCK_RATE_HZ)
        self._frame_index += 1
        return frame


class EncodedVideoTrack(MediaStreamTrack):
    """Pre-encoded VP8 frames played in a loop at real time (the sender packetizes them, no encoding)."""

    kind = "video"

    def __init__(self, frames: tuple[bytes, ...], fps: int) -> None:
        super().__init__()
        self._frames = frames
        self.fps = fps
        self._index = 0
        self._start: float | None = None

    async def recv(self) -> av.Packet:
        if self._start is None:
            self._start = time.monotonic()
        delay = self._start + self._index / self.fps - time.monotonic()
        if delay < -MAX_LAG_S:  # not read for a while (a paused sender): go on from now, no burst
            self._start -= delay
        elif delay > 0:
            await asyncio.sleep(delay)
        packet = av.Packet(self._frames[self._index % len(self._frames)])
        packet.pts = self._index * (VIDEO_CLOCK_RATE_HZ // self.fps)
        packet.time_base = fractions.Fraction(1, VIDEO_CLOCK_RATE_HZ)
        self._index += 1
        return packet


def encode_test_pattern(
    width: int, height: int, fps: int, frames: int, bitrate_bps: int, keyframe_interval: int
) -> tuple[bytes, ...]:
    """Encode the moving pattern once with libvpx (for clients that must not spend CPU encoding)."""
    codec = av.CodecContext.create("libvpx", "w")
    codec.width, codec.height = width, height
    codec.pix_fmt = "yuv420p"
    codec.bit_rate = bitrate_bps
    codec.framerate = fractions.Fraction(fps, 1)
    codec.time_base = fractions.Fraction(1, fps)
    codec.gop_size = keyframe_interval
    codec.thread_count = 1  # libvpx's rate control with threads depends on timing: the same input each run
    codec.options = {"deadline": "realtime", "cpu-used": "8", "lag-in-frames": "0"}
    pattern = PatternVideoTrack(width, height, fps)
    out: list[bytes] = []
    for i in range(frames):
        luma = ((pattern._base + i * 4) % 256).astype(np.uint8)
        rgb = np.stack([luma, np.roll(luma, 40, axis=1), 255 - luma], axis=2)
        frame = av.VideoFrame.from_ndarray(rgb, format="rgb24").reformat(format="yuv420p")
        frame.pts = i
        for packet in codec.encode(frame):
            out.append(bytes(packet))
    for packet in codec.encode(None):
        out.append(bytes(packet))
    return tuple(out)


@dataclass(frozen=True)
class Arrival:
    """A received packet (ClientConfig.keep_arrivals); a retransmission has the repaired packet's number."""

    at_s: float  # time.monotonic()
    seq: int
    marker: bool
    keyframe: bool  # the start of a VP8 key frame
    size: int = 0  # RTP payload bytes
    width: int = 0  # a VP8 key frame's width (in its first packet), else 0


@dataclass
class _MidCounters:
    label: StreamLabel
    subscribed_s: float
    frames: int = 0
    packets: int = 0
    first_frame_ms: int | None = None
    first_seq: int | None = None
    highest_seq: int | None = None  # extended (counts wraps)
    missing: set[int] = field(default_factory=set)  # extended sequence numbers skipped, not yet received
    decode_errors: int = 0
    payload_bytes: int = 0  # RTP payload received (retransmissions included)
    arrivals: list[Arrival] | None = None  # ClientConfig.keep_arrivals


class MediaClient:
    """One participant. Call `accept_offer()` with each offer from the server and send back the answer."""

    def __init__(self, participant_id: str, config: ClientConfig) -> None:
        self.participant_id = participant_id
        self.config = config
        hooks.install_ice_host_addresses(config.media.ice_addresses)
        hooks.install_udp_rcvbuf(config.media.udp_rcvbuf_bytes)
        hooks.install_udp_drain()
        hooks.install_consent_window()
        hooks.enable_opus_encoder_fec()  # as a browser: Opus in-band FEC on (aiortc leaves it off)
        self.pc = RTCPeerConnection(configuration=config.media.rtc_configuration())
        self._player: MediaPlayer | None = None
        self._tracks: dict[str, MediaStreamTrack] = {}
        self._counters: dict[str, _MidCounters] = {}
        self._finished: list[_MidCounters] = []
        self._readers: dict[str, asyncio.Task[None]] = {}
        self._wrapped: set[int] = set()
        self._own: dict[str, tuple[RTCRtpTransceiver, StreamLabel]] = {}  # source -> our m-line for it
        self._paused: set[str] = set()  # sources we stopped sending (`pause`)

    async def accept_offer(self, offer: Offer) -> str:
        """Apply a server offer, publish on the m-lines labelled with our id, return the answer SDP."""
        await self.pc.setRemoteDescription(RTCSessionDescription(sdp=offer.sdp, type="offer"))
        now = time.monotonic()
        for transceiver in self.pc.getTransceivers():
            label = offer.label(transceiver.mid or "")
            if label is None:
                # an unlabelled audio m-line is a server's spare slot (a bounded meeting): received, so that
                # a speaker put on it is heard before the offer that names it; anything else goes inactive
                audio = transceiver.receiver.track is not None and transceiver.receiver.track.kind == "audio"
                transceiver.direction = "recvonly" if audio else "inactive"
                self._retire(transceiver.mid or "")
                continue
            if label.participant_id == self.participant_id:
                if label.kind == "audio" and not self.config.publish_audio:
                    transceiver.direction = "inactive"
                    continue
                transceiver.direction = "sendonly"
                self._own[label.source] = (transceiver, label)
                if transceiver.sender.track is None and label.source not in self._paused:
                    transceiver.sender.replaceTrack(self._track_for(label))
                continue
            transceiver.direction = "recvonly"
            self._watch(transceiver, label, now)
        answer = await self.pc.createAnswer()
        await self.pc.setLocalDescription(answer)
        return str(self.pc.localDescription.sdp)

    def stats(self) -> ClientStats:
        per_pid: dict[str, dict[str, int | None | str]] = {}
        for counters in [*self._finished, *self._counters.values()]:
            label = counters.label
            entry = per_pid.setdefault(
                label.participant_id,
                {
                    "username": label.username,
                    "unit": label.unit,
                    "audio_frames": 0,
                    "video_frames": 0,
                    "first_audio_ms": None,
                    "first_video_ms": None,
                    "packets_lost": 0,
                    "decode_errors": 0,
                    "video_streams": 0,
                },
            )
            kind = label.kind
            entry[f"{kind}_frames"] = int(entry[f"{kind}_frames"] or 0) + counters.frames
            first_key = f"first_{kind}_ms"
            if counters.first_frame_ms is not None and (
                entry[first_key] is None or counters.first_frame_ms < int(entry[first_key] or 0)
            ):
                entry[first_key] = counters.first_frame_ms
            entry["packets_lost"] = int(entry["packets_lost"] or 0) + _lost(counters)
            entry["decode_errors"] = int(entry["decode_errors"] or 0) + counters.decode_errors
            if kind == "video" and counters.packets:
                entry["video_streams"] = int(entry["video_streams"] or 0) + 1
        return ClientStats(tuple(RemoteParticipantStats(**e) for e in per_pid.values()))  # type: ignore[arg-type]

    def video_frames_by_source(self, participant_id: str) -> dict[str, int]:
        out: dict[str, int] = {}
        for counters in [*self._finished, *self._counters.values()]:
            if counters.label.participant_id == participant_id and counters.label.kind == "video":
                out[counters.label.source] = out.get(counters.label.source, 0) + counters.frames
        return out

    def pause(self, source: str, paused: bool) -> None:
        """Stop (or resume) sending one of our sources, as a browser sets its encoding inactive (the server's
        `thumbnail` message: no wall shows our thumbnail)."""
        if paused:
            self._paused.add(source)
        else:
            self._paused.discard(source)
        own = self._own.get(source)
        if own is None:
            return
        transceiver, label = own
        if paused:
            transceiver.sender.replaceTrack(None)
        elif transceiver.sender.track is None:
            transceiver.sender.replaceTrack(self._track_for(label))

    def video_by_source(self) -> dict[tuple[str, str], tuple[int, int]]:
        """(unit, source) -> (video frames, RTP payload bytes) received so far."""
        out: dict[tuple[str, str], tuple[int, int]] = {}
        for counters in [*self._finished, *self._counters.values()]:
            if counters.label.kind == "video":
                key = (counters.label.unit, counters.label.source)
                frames, size = out.get(key, (0, 0))
                out[key] = (frames + counters.frames, size + counters.payload_bytes)
        return out

    async def wait_connected(self, timeout_s: float = 10.0) -> None:
        deadline = time.monotonic() + timeout_s
        while self.pc.connectionState != "connected":
            if time.monotonic() > deadline:
                raise TimeoutError(f"{self.participant_id}: connection state {self.pc.connectionState}")
            await asyncio.sleep(0.05)

    async def close(self) -> None:
        for task in self._readers.values():
            task.cancel()
        for task in self._readers.values():
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        await self.pc.close()
        if self._player is not None and self._player.audio is not None:
            self._player.audio.stop()

    # --- publishing -------------------------------------------------------------------------------

    def _track_for(self, label: StreamLabel) -> MediaStreamTrack:
        if label.source in self._tracks:
            return self._tracks[label.source]
        track: MediaStreamTrack
        if label.kind == "audio":
            if self.config.audio_file:
                self._player = MediaPlayer(self.config.audio_file)
                track = self._player.audio if self._player.audio is not None else AudioStreamTrack()
            else:
                track = AudioStreamTrack()
        elif label.source == "thumbnail" and self.config.encoded_thumbnail:
            fps = min(self.config.video_fps, THUMBNAIL_FPS)
            track = EncodedVideoTrack(self.config.encoded_thumbnail, fps)
        elif label.source == "thumbnail":
            w, h = self.config.video_size
            track = PatternVideoTrack(
                w // 2,
                h // 2,
                min(self.config.video_fps, THUMBNAIL_FPS),
                shade=64,
                square_rgb=sender_colour(self.participant_id, "camera"),
            )
        elif self.config.encoded_video:
            track = EncodedVideoTrack(self.config.encoded_video, self.config.video_fps)
        else:
            w, h = self.config.video_size
            track = PatternVideoTrack(
                w,
                h,
                self.config.video_fps,
                shade=0 if label.source == "camera" else 128,
                square_rgb=sender_colour(self.participant_id, label.source),
            )
        self._tracks[label.source] = track
        return track

    # --- receiving --------------------------------------------------------------------------------

    def _retire(self, mid: str) -> None:
        counters = self._counters.pop(mid, None)
        if counters is not None:
            self._finished.append(counters)

    def _watch(self, transceiver: RTCRtpTransceiver, label: StreamLabel, now: float) -> None:
        mid = transceiver.mid or ""
        current = self._counters.get(mid)
        if current is not None and current.label == label:
            return
        self._retire(mid)
        self._counters[mid] = _MidCounters(label, now, arrivals=[] if self.config.keep_arrivals else None)
        receiver = transceiver.receiver
        if id(receiver) not in self._wrapped:
            self._wrapped.add(id(receiver))
            self._wrap_receiver(mid, receiver)
            if self.config.decode and mid not in self._readers:
                self._readers[mid] = asyncio.ensure_future(self._read(mid, receiver))

    def _wrap_receiver(self, mid: str, receiver: RTCRtpReceiver) -> None:
        original = receiver._handle_rtp_packet
        error_flag = hooks.decoder_error_flag(receiver)
        decode = self.config.decode

        async def handle(packet: RtpPacket, arrival_ms: int) -> None:
            counters = self._counters.get(mid)
            if counters is not None:
                counters.payload_bytes += len(packet.payload)
                seq, payload = packet.sequence_number, packet.payload
                if packet.ssrc in hooks.rtx_ssrcs(receiver):
                    # a retransmission (RFC 4588): it repairs the packet whose sequence number it carries
                    if len(packet.payload) >= 2:
                        seq, payload = int.from_bytes(packet.payload[:2], "big"), packet.payload[2:]
                        _count_packet(counters, seq, bool(packet.marker), decode)
                else:
                    _count_packet(counters, seq, bool(packet.marker), decode)
                if counters.arrivals is not None:
                    video = counters.label.kind == "video"
                    size = keyframe_size(payload) if video else None
                    keyframe = size is not None or (video and is_keyframe_start(payload))
                    width = size[0] if size else 0
                    marker = bool(packet.marker)
                    arrival = Arrival(time.monotonic(), seq, marker, keyframe, len(payload), width)
                    counters.arrivals.append(arrival)
                if error_flag.is_set():
                    counters.decode_errors += 1
            if decode:
                await original(packet, arrival_ms)

        hooks.intercept_rtp(receiver, handle)
        if not decode:
            hooks.stop_decoder(receiver)

    async def _read(self, mid: str, receiver: RTCRtpReceiver) -> None:
        while receiver.track is None:
            await asyncio.sleep(0.02)
        track = receiver.track
        while True:
            try:
                await track.recv()
            except MediaStreamError:
                return
            counters = self._counters.get(mid)
            if counters is None:
                continue
            counters.frames += 1
            if counters.first_frame_ms is None:
                counters.first_frame_ms = int((time.monotonic() - counters.subscribed_s) * 1000)

    def arrivals(self) -> list[tuple[StreamLabel, list[Arrival]]]:
        """Each received stream's label and packets (ClientConfig.keep_arrivals), including the streams an
        m-line carried before its current one."""
        return [
            (c.label, c.arrivals)
            for c in [*self._finished, *self._counters.values()]
            if c.arrivals is not None
        ]


MAX_MISSING = 4096  # skipped sequence numbers remembered per stream (older ones are counted lost for good)


def _count_packet(counters: _MidCounters, seq: int, marker: bool, decoding: bool) -> None:
    """Count one received packet once: a retransmission or a duplicate of a packet already counted is not."""
    highest = counters.highest_seq
    if counters.first_seq is None or highest is None:
        counters.first_seq = counters.highest_seq = seq
    else:
        delta = (seq - highest) % SEQ_MODULO
        if 0 < delta < SEQ_MODULO // 2:
            counters.missing.update(range(highest + 1, highest + min(delta, MAX_MISSING)))
            counters.highest_seq = highest + delta
            if len(counters.missing) > MAX_MISSING:
                floor = highest + delta - MAX_MISSING
                counters.missing = {s for s in counters.missing if s > floor}
        else:
            extended = highest - (highest - seq) % SEQ_MODULO
            if extended not in counters.missing:
                return  # already counted
            counters.missing.discard(extended)
    counters.packets += 1
    if not decoding and (counters.label.kind == "audio" or marker):
        counters.frames += 1
        if counters.first_frame_ms is None:
            counters.first_frame_ms = int((time.monotonic() - counters.subscribed_s) * 1000)


def _lost(counters: _MidCounters) -> int:
    if counters.first_seq is None or counters.highest_seq is None:
        return 0
    return max(0, counters.highest_seq - counters.first_seq + 1 - counters.packets)
