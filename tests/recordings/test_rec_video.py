"""Video tracks: real VP8 RTP (aiortc's encoder and packetizer) depacketized into IVF as received, decoded
back frame by frame with FFmpeg (PyAV); losses wait for the next key frame and are logged as gaps; a file cut
by a crash plays up to its last whole frame and is closed by the recovery."""

from __future__ import annotations

import fractions
import os
import random
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np
import pytest
from aiortc.codecs.vpx import Vp8Encoder

from recordings.ivf import FRAME_HEADER_BYTES, IVF_HEADER_BYTES, read_ivf_info
from recordings.manifest import GAP_REASON_VIDEO_LOSS, read_manifest
from recordings.opuspacket import OPUS_CLOCK_HZ
from recordings.storage import MeetingRecorder, ParticipantInfo, RecordingFailure, RecordingsLayout
from recordings.vp8frames import Vp8FrameAssembler
from tests.recordings.rec_speech import clip_paths, encode_opus, load_speech

FPS = 30
TICKS = 90000 // FPS
KEYFRAME_EVERY = 30
WHO = ParticipantInfo("u7", "chumo", "Xã Chư Mố", "CHUMO", "UBND xã Chư Mố")


@dataclass(frozen=True)
class Packet:
    seq: int
    ts: int
    marker: bool
    payload: bytes
    frame: int  # index of the frame it belongs to


def encode(frames: int, *, width: int = 320, height: int = 240, seq0: int = 65500,
           ts0: int = 4294967295 - 20 * TICKS) -> list[Packet]:
    """VP8 RTP packets of a moving pattern (sequence numbers and timestamps wrap inside the run)."""
    encoder = Vp8Encoder()
    y, x = np.mgrid[0:height, 0:width]
    out: list[Packet] = []
    seq = seq0
    for i in range(frames):
        luma = ((x + y + i * 6) % 256).astype(np.uint8)
        frame = av.VideoFrame.from_ndarray(np.stack([luma, 255 - luma, luma // 2], axis=2), format="rgb24")
        frame.pts = i * TICKS
        frame.time_base = fractions.Fraction(1, 90000)
        payloads, _ts = encoder.encode(frame, force_keyframe=i % KEYFRAME_EVERY == 0)
        ts = (ts0 + i * TICKS) % (1 << 32)
        for k, payload in enumerate(payloads):
            out.append(Packet(seq % 65536, ts, k == len(payloads) - 1, payload, i))
            seq += 1
    return out


@pytest.fixture(scope="module")
def packets() -> list[Packet]:
    return encode(90)


def decode_all(path: Path) -> list[av.VideoFrame]:
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        assert stream.codec_context.name == "vp8"
        return list(container.decode(stream))


def record(tmp_path: Path, packets: list[Packet]) -> tuple[Path, MeetingRecorder]:
    recorder = MeetingRecorder.start(RecordingsLayout(tmp_path), "m1")
    handle = recorder.open_video_track(WHO, "camera")
    assert handle.wants_keyframe  # a track starts at a key frame: the caller asks for one
    for p in packets:
        handle.write_rtp(p.payload, p.ts, p.seq, p.marker, ssrc=1234)
    assert not handle.wants_keyframe
    recorder.end(recorder.clock_s())
    return tmp_path / "recordings" / "m1", recorder


def test_frames_written_as_received_decode_one_for_one(tmp_path: Path, packets: list[Packet]) -> None:
    shuffled = list(packets)
    rng = random.Random(7)
    first = next(i for i, p in enumerate(packets) if p.frame == 1)  # (a track starts at its first packet)
    for i in range(first, len(shuffled) - 3, 5):  # reordered by up to 3 places, as a NACK repair arrives late
        j = i + rng.randint(1, 3)
        shuffled[i], shuffled[j] = shuffled[j], shuffled[i]
    shuffled += shuffled[10:14]  # duplicates
    folder, _ = record(tmp_path, shuffled)
    manifest = read_manifest(folder)
    (track,) = manifest.tracks
    assert track.kind == "camera" and track.path.endswith(".ivf") and track.closed and track.sha256
    assert track.video is not None and track.video.frames == 90 and track.video.keyframes == 3
    assert (track.video.width, track.video.height) == (320, 240)
    assert track.gaps == ()
    decoded = decode_all(folder / track.path)
    assert len(decoded) == 90 and (decoded[0].width, decoded[0].height) == (320, 240)
    # the same pictures as encoded: pts step of one frame, wraps of the RTP clock and sequence unseen
    pts = [f.pts for f in decoded]
    assert pts == [i * TICKS for i in range(90)]
    assert manifest.audio_tracks == () and manifest.video_tracks == (track,)


def test_a_lost_packet_drops_frames_until_the_next_keyframe(tmp_path: Path, packets: list[Packet]) -> None:
    lost = next(p for p in packets if p.frame == 40)
    folder, _ = record(tmp_path, [p for p in packets if p is not lost])
    (track,) = read_manifest(folder).tracks
    # frames 40..59 are lost (40 is broken, the others refer to it); recording resumes at the key frame 60
    assert track.video is not None and track.video.frames == 70 and track.video.dropped_frames in (19, 20)
    assert track.video.losses == 1
    (gap,) = track.gaps
    assert gap.reason == GAP_REASON_VIDEO_LOSS
    assert gap.end_s - gap.start_s == pytest.approx(21 * TICKS / 90000, abs=1e-3)  # from frame 39 to 60
    decoded = decode_all(folder / track.path)
    assert len(decoded) == 70  # every written frame decodes: nothing after the loss refers to a lost one
    assert [f.pts for f in decoded][39:41] == [39 * TICKS, 60 * TICKS]


def test_a_track_starts_at_its_first_keyframe(tmp_path: Path, packets: list[Packet]) -> None:
    folder, _ = record(tmp_path, [p for p in packets if p.frame >= 5])
    (track,) = read_manifest(folder).tracks
    assert track.video is not None and track.video.frames == 60 and track.video.keyframes == 2
    assert len(decode_all(folder / track.path)) == 60
    assert track.gaps == ()  # before the start is not a loss


def test_a_crash_leaves_a_playable_file_closed_by_the_recovery(tmp_path: Path, packets: list[Packet]) -> None:
    layout = RecordingsLayout(tmp_path)
    recorder = MeetingRecorder.start(layout, "m2")
    handle = recorder.open_video_track(WHO, "screen")
    for p in packets[: len(packets) * 2 // 3]:
        handle.write_rtp(p.payload, p.ts, p.seq, p.marker, ssrc=99)
    writer = handle._writer
    assert writer is not None
    writer.flush()
    writer._wait()  # what the writer thread had written when the process died (the rest was in memory)
    path = tmp_path / "recordings" / "m2" / handle_path(recorder)
    with open(path, "ab") as f:  # and a frame torn by the kill
        f.write((5000).to_bytes(4, "little") + (0).to_bytes(8, "little") + b"\x00" * 100)
    info = read_ivf_info(path)
    assert info.frames >= 30 and info.valid_bytes < info.file_bytes
    assert len(decode_all_tolerant(path)) >= info.frames  # FFmpeg plays it as it is
    # the next start: the track is cut to its last whole frame, counted, hashed and closed
    MeetingRecorder.reopen(layout, "m2").mark_interrupted()
    (track,) = read_manifest(tmp_path / "recordings" / "m2").tracks
    assert track.kind == "screen" and track.closed and track.sha256
    assert track.video is not None and track.video.frames == info.frames
    assert path.stat().st_size == info.valid_bytes
    assert len(decode_all(path)) == info.frames
    assert track.end_s == pytest.approx(track.start_s + info.frames / FPS, abs=0.05)


def handle_path(recorder: MeetingRecorder) -> str:
    (track,) = read_manifest(recorder.meeting_dir).tracks
    return track.path


def decode_all_tolerant(path: Path) -> list[av.VideoFrame]:
    frames: list[av.VideoFrame] = []
    with av.open(str(path)) as container:
        try:
            for frame in container.decode(video=0):
                frames.append(frame)
        except av.error.InvalidDataError:
            pass
    return frames


def test_assembler_counts_without_a_file(packets: list[Packet]) -> None:
    got: list[tuple[int, bool]] = []
    assembler = Vp8FrameAssembler(lambda frame, ts, key: got.append((ts, key)))
    for p in packets:
        assembler.push(p.seq, p.ts, p.marker, p.payload)
    assert len(got) == 90 and sum(key for _, key in got) == 3
    assert all(b - a == TICKS for (a, _), (b, _) in zip(got, got[1:], strict=False))
    assert assembler.stats.late == 0 and assembler.stats.losses == 0


def test_ivf_layout(tmp_path: Path, packets: list[Packet]) -> None:
    folder, _ = record(tmp_path, packets[:20])
    (track,) = read_manifest(folder).tracks
    data = (folder / track.path).read_bytes()
    assert data[:4] == b"DKIF" and data[8:12] == b"VP80" and len(data) > IVF_HEADER_BYTES + FRAME_HEADER_BYTES


def test_video_stops_before_audio_when_the_disk_fills(tmp_path: Path, packets: list[Packet]) -> None:
    """Free space under the video reserve (the real file system's, read by statvfs): video stops with a
    warning, the audio track goes on and closes normally."""
    warnings: list[RecordingFailure] = []
    recorder = MeetingRecorder.start(RecordingsLayout(tmp_path), "m3")
    recorder.on_video_error = warnings.append
    stat = os.statvfs(tmp_path)
    recorder.video_min_free_bytes = stat.f_bavail * stat.f_frsize + 2**30  # more than the disk has free
    audio = recorder.open_track(WHO, 0.0)
    video = recorder.open_video_track(WHO, "camera")
    opus = encode_opus(load_speech(clip_paths(1)))
    for i in range(max(len(packets), len(opus))):
        if i < len(packets):
            p = packets[i]
            video.write_rtp(p.payload, p.ts, p.seq, p.marker, ssrc=5)
        if i < len(opus):
            audio.write(opus[i], 1000 + i * 960)
    video.close(recorder.clock_s())  # (the writer thread's refusal shows at the next frame, or at the close)
    assert recorder.video_failure is not None and recorder.failure is None
    assert [w.message for w in warnings] == [recorder.video_failure.message]
    assert "hết dung lượng" in recorder.video_failure.message
    assert not video.recording and audio.recording
    audio.close(5.0)
    recorder.end(6.0)
    manifest = read_manifest(tmp_path / "recordings" / "m3")
    assert [f.message for f in manifest.video_failures] == [recorder.video_failure.message]
    assert manifest.failures == ()
    (sound,) = manifest.audio_tracks
    assert sound.closed and sound.sha256 and (sound.end_s or 0) > 1.0
    with av.open(str(tmp_path / "recordings" / "m3" / sound.path)) as c:  # all the audio is there
        assert float(c.duration or 0) / 1e6 > len(opus) * 960 / OPUS_CLOCK_HZ - 0.1
    (camera,) = manifest.video_tracks  # opened at its key frame, closed when the disk refused it
    assert camera.closed and camera.kind == "camera"
