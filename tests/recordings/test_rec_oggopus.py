"""OggOpusWriter on speech: timing on the RTP clock, waveform fidelity, gaps, wrap-around, kill -9."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from rec_speech import PACKET_SAMPLES, SAMPLE_RATE_HZ, Speech, best_lag, decode_pcm, rtp_stream

from recordings.oggopus import OggOpusWriter, read_ogg_opus_info
from recordings.opuspacket import SILENCE_FRAME_BY_SAMPLES, packet_duration_samples

REPO = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
PRE_SKIP = 312  # libopus' delay, as in the packets the tests encode


def test_speech_with_gap_keeps_rtp_clock_and_waveform(tmp_path: Path, speech: Speech) -> None:
    lost = range(150, 200)  # 1 s of packets lost mid-speech
    stream = rtp_stream(speech.packets, first_timestamp=3_000_000_000, drop=lost)
    gaps: list[tuple[int, int]] = []
    path = tmp_path / "track.ogg"
    writer = OggOpusWriter(path, channels=1, pre_skip=PRE_SKIP, on_gap=lambda a, b: gaps.append((a, b)))
    for packet in stream:
        writer.write(packet.payload, packet.timestamp)
    stats = writer.close()

    source = speech.pcm
    decoded = decode_pcm(path)
    expected_s = len(speech.packets) * PACKET_SAMPLES / SAMPLE_RATE_HZ - PRE_SKIP / SAMPLE_RATE_HZ
    assert abs(len(decoded) / SAMPLE_RATE_HZ - len(source) / SAMPLE_RATE_HZ) < 0.1
    assert abs(len(decoded) / SAMPLE_RATE_HZ - expected_s) < 0.001
    assert gaps == [(150 * PACKET_SAMPLES - PRE_SKIP, 200 * PACKET_SAMPLES - PRE_SKIP)]
    assert stats.silence_samples == 50 * PACKET_SAMPLES
    assert read_ogg_opus_info(path).duration_samples == len(decoded)

    gap_start, gap_end = 150 * PACKET_SAMPLES, 200 * PACKET_SAMPLES
    # the lost second decodes to (near) silence, not to speech shifted in time
    assert float(np.sqrt(np.mean(decoded[gap_start + 960 : gap_end - 960] ** 2))) < 1e-3
    # before and after the gap the waveform matches the source at lag ~0 (wall-clock alignment kept)
    for lo, hi in ((0, gap_start - 960), (gap_end + 4800, len(source) - 4800)):
        lag, corr = best_lag(source[lo:hi], decoded[lo:hi], max_lag=480)
        assert corr > 0.9, (lo, hi, corr)
        assert abs(lag) <= 48, (lo, hi, lag)  # within 1 ms


def test_timestamp_wraparound_and_late_packets(tmp_path: Path, speech: Speech) -> None:
    packets = speech.packets[:200]
    stream = rtp_stream(packets, first_timestamp=(1 << 32) - 50 * PACKET_SAMPLES)
    feed = [(p.payload, p.timestamp) for p in stream]
    feed.insert(120, feed[100])  # a duplicate arriving late
    feed.insert(60, feed[58])
    path = tmp_path / "wrap.ogg"
    writer = OggOpusWriter(path, channels=1, pre_skip=PRE_SKIP)
    for payload, timestamp in feed:
        writer.write(payload, timestamp)
    stats = writer.close()
    assert stats.packets_dropped == 2
    assert stats.silence_samples == 0
    assert len(decode_pcm(path)) == 200 * PACKET_SAMPLES - PRE_SKIP


def test_silence_frames_decode_to_digital_silence(tmp_path: Path) -> None:
    path = tmp_path / "silence.ogg"
    writer = OggOpusWriter(path, channels=2, pre_skip=0)
    timestamp = 0
    for samples, frame in SILENCE_FRAME_BY_SAMPLES.items():
        assert packet_duration_samples(frame) == samples
        for _ in range(10):
            writer.write(frame, timestamp)
            timestamp += samples
    writer.close()
    decoded = decode_pcm(path)
    assert len(decoded) == timestamp
    assert float(np.abs(decoded).max()) == 0.0


def test_pages_reach_disk_while_writing(tmp_path: Path, speech: Speech) -> None:
    path = tmp_path / "live.ogg"
    writer = OggOpusWriter(path, channels=1, pre_skip=PRE_SKIP, page_duration_s=0.5)
    for packet in rtp_stream(speech.packets[:160], first_timestamp=1234):
        writer.write(packet.payload, packet.timestamp)
    # 3.2 s written: without close, the file already decodes to its last complete page (3.0 s)
    on_disk = os.path.getsize(path)
    assert on_disk == writer.committed_bytes
    info = read_ogg_opus_info(path)
    assert not info.finished
    assert info.duration_samples == 150 * PACKET_SAMPLES - PRE_SKIP
    assert len(decode_pcm(path)) == info.duration_samples
    writer.close()
    assert read_ogg_opus_info(path).finished


@pytest.mark.slow
def test_kill_9_mid_stream_leaves_decodable_file_and_manifest(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), str(HERE)])}
    child = subprocess.Popen(
        [sys.executable, str(HERE / "rec_child_recorder.py"), str(data_dir), "m-crash", "5.0"],
        stdout=subprocess.PIPE, env=env, text=True, cwd=str(REPO),
    )
    assert child.stdout is not None
    reported = 0
    try:
        for line in child.stdout:
            reported = int(line.split()[1])
            if reported >= 400:  # 8 s of audio recorded
                break
    finally:
        os.kill(child.pid, signal.SIGKILL)
        child.wait(timeout=10)
    assert child.returncode == -signal.SIGKILL
    assert reported >= 400

    from recordings.integrity import sha256_file
    from recordings.manifest import read_manifest
    from recordings.storage import MeetingRecorder, RecordingsLayout

    meeting_dir = data_dir / "recordings" / "m-crash"
    manifest = read_manifest(meeting_dir)
    assert manifest.ended_at is None and not manifest.interrupted
    (track,) = manifest.tracks
    assert not track.closed and track.sha256 is None
    path = meeting_dir / track.path
    decoded_s = len(decode_pcm(path)) / SAMPLE_RATE_HZ
    written_s = reported * PACKET_SAMPLES / SAMPLE_RATE_HZ
    assert decoded_s >= written_s - 1.0  # everything but (at most) the last second survives
    assert track.end_s is not None and abs(track.end_s - (track.start_s + decoded_s)) < 0.01

    recorder = MeetingRecorder.reopen(RecordingsLayout(data_dir), "m-crash")
    at_s = recorder.mark_interrupted()
    recorder.resume(at_s + 5.0)
    recorder.end(at_s + 6.0)
    after = read_manifest(meeting_dir)
    assert after.interrupted and after.ended_s == pytest.approx(at_s + 6.0)
    assert after.interruptions[0].start_s == pytest.approx(track.end_s, abs=1e-3)
    closed = after.track(track.track_id)
    assert closed.closed and closed.sha256 == sha256_file(path)
    assert read_ogg_opus_info(path).valid_bytes == path.stat().st_size
