"""VP8 keyframe detection on packets produced by libvpx and aiortc's own packetizer."""

from __future__ import annotations

from aiortc.codecs.vpx import Vp8Encoder

from server.media.client import encode_test_pattern
from server.media.vp8 import is_keyframe_start


def test_keyframes_are_detected_in_real_vp8_packets() -> None:
    frames = encode_test_pattern(160, 120, 15, frames=12, bitrate_bps=200_000, keyframe_interval=6)
    flags = []
    for index, frame in enumerate(frames):
        payloads = Vp8Encoder._packetize(frame, picture_id=index)
        flags.append(is_keyframe_start(payloads[0]))
        assert not any(is_keyframe_start(p) for p in payloads[1:])
    assert flags[0] is True
    assert flags[1] is False
    assert flags.count(True) >= 2  # the keyframe every 6 frames


def test_garbage_is_not_a_keyframe() -> None:
    assert not is_keyframe_start(b"")
    assert not is_keyframe_start(b"\x90")
    assert not is_keyframe_start(b"\x00\x00")  # not a partition start


def test_keyframe_size_reads_the_vp8_header_of_a_key_frame_only() -> None:
    from server.media.client import encode_test_pattern
    from server.media.vp8 import keyframe_size

    frames = encode_test_pattern(240, 180, 15, 3, 120_000, 15)
    assert keyframe_size(b"\x10" + frames[0]) == (240, 180)
    assert keyframe_size(b"\x90\x80\x81\x23" + frames[0]) == (240, 180)  # with a picture id
    assert keyframe_size(b"\x10" + frames[1]) is None  # a delta frame
    assert keyframe_size(b"\x00" + frames[0]) is None  # not the start of the frame
    assert keyframe_size(b"\x10" + frames[0][:8]) is None  # cut short
