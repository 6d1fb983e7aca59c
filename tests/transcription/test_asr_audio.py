"""Decoding real files (WAV synthesised with espeak-ng, Ogg Opus and WebM made with PyAV), the errors for bad
files, and cutting skipped intervals with the map back to the original time."""

from __future__ import annotations

import wave
from pathlib import Path

import numpy as np
import pytest
from asr_support import AudioMaker, clip_audio, clip_path

from transcription.audio import (
    CUT_GAP_S,
    SAMPLE_RATE_HZ,
    cut_intervals,
    decode_audio,
    load_audio,
    merge_intervals,
    probe_duration_s,
    silent_intervals,
)
from transcription.errors import AudioDecodeError


def test_wav_decodes_to_16k_mono_float32() -> None:
    path = clip_path("GB01")
    with wave.open(str(path)) as source:
        frames, rate = source.getnframes(), source.getframerate()
        pcm = np.frombuffer(source.readframes(frames), dtype="<i2")
    audio = decode_audio(path)
    assert rate == SAMPLE_RATE_HZ
    assert audio.dtype == np.float32 and audio.ndim == 1 and audio.size == frames
    assert np.allclose(audio, pcm / 32768.0, atol=1e-4)
    assert probe_duration_s(path) == pytest.approx(frames / rate, abs=0.01)


@pytest.mark.parametrize("maker_name", ["make_ogg", "make_webm"])
def test_opus_containers_decode_to_the_same_length(
    maker_name: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    maker: AudioMaker = request.getfixturevalue(maker_name)
    source = clip_audio("GB02")
    path = maker(source, tmp_path / f"track.{'ogg' if maker_name == 'make_ogg' else 'webm'}")
    audio = decode_audio(path)
    assert audio.dtype == np.float32
    assert abs(audio.size - source.size) / SAMPLE_RATE_HZ < 0.05
    # Opus is lossy but keeps the loudness of speech.
    rms_in, rms_out = float(np.sqrt(np.mean(source**2))), float(np.sqrt(np.mean(audio**2)))
    assert rms_out == pytest.approx(rms_in, rel=0.2)


def _expect_error(path: Path, *words: str) -> AudioDecodeError:
    with pytest.raises(AudioDecodeError) as caught:
        decode_audio(path)
    error = caught.value
    assert error.path == path and str(path) in str(error)
    assert any(word in error.reason for word in words), error.reason
    return error


def test_empty_file(tmp_path: Path) -> None:
    path = tmp_path / "empty.ogg"
    path.write_bytes(b"")
    _expect_error(path, "empty")


def test_missing_file(tmp_path: Path) -> None:
    _expect_error(tmp_path / "gone.ogg", "cannot read")


def test_truncated_wav(tmp_path: Path) -> None:
    data = clip_path("GB03").read_bytes()
    path = tmp_path / "cut.wav"
    path.write_bytes(data[: len(data) // 2])
    _expect_error(path, "truncated")


def test_truncated_webm(tmp_path: Path, make_webm: AudioMaker) -> None:
    full = make_webm(clip_audio("GB03"), tmp_path / "full.webm").read_bytes()
    path = tmp_path / "cut.webm"
    path.write_bytes(full[: len(full) // 2])
    _expect_error(path, "truncated")


def test_ogg_cut_inside_its_headers(tmp_path: Path, make_ogg: AudioMaker) -> None:
    full = make_ogg(clip_audio("GB03"), tmp_path / "full.ogg").read_bytes()
    path = tmp_path / "cut.ogg"
    path.write_bytes(full[:60])
    _expect_error(path, "not a readable", "no decodable", "truncated", "no audio")


def test_ogg_cut_mid_stream_keeps_what_was_written(tmp_path: Path, make_ogg: AudioMaker) -> None:
    """A crashed recorder leaves an Ogg file without its end: what was written stays usable."""
    source = np.concatenate([clip_audio("GB03"), clip_audio("GB06"), clip_audio("GB07")])
    full = make_ogg(source, tmp_path / "full.ogg").read_bytes()  # Ogg pages of ~1 s
    path = tmp_path / "crashed.ogg"
    path.write_bytes(full[: len(full) // 2])
    audio = decode_audio(path)
    assert 0.3 * source.size < audio.size < 0.7 * source.size


def test_text_file_is_not_audio(tmp_path: Path) -> None:
    path = tmp_path / "notes.ogg"
    path.write_text("Biên bản họp — không phải âm thanh.\n" * 50, encoding="utf-8")
    _expect_error(path, "not a readable", "no audio")


def test_random_bytes_are_not_audio(tmp_path: Path) -> None:
    path = tmp_path / "noise.wav"
    path.write_bytes(np.random.default_rng(7).bytes(20_000))
    _expect_error(path, "not a readable", "no audio", "cannot be decoded")


def test_video_without_audio(tmp_path: Path) -> None:
    import av

    path = tmp_path / "camera.webm"
    with av.open(str(path), mode="w") as container:
        stream = container.add_stream("libvpx", rate=15)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        for index in range(5):
            frame = av.VideoFrame.from_ndarray(np.full((48, 64, 3), index * 40, np.uint8), format="rgb24")
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    _expect_error(path, "no audio")


def test_in_memory_audio_checks() -> None:
    assert load_audio(np.array([0, 16384, -32768], dtype=np.int16)).tolist() == [0.0, 0.5, -1.0]
    with pytest.raises(AudioDecodeError):
        load_audio(np.zeros((2, 100), dtype=np.float32))
    with pytest.raises(AudioDecodeError):
        load_audio(np.zeros(0, dtype=np.float32))


def test_merge_intervals_clips_sorts_and_merges() -> None:
    assert merge_intervals([(5, 7), (-1, 1), (6, 8), (9, 9), (20, 30)], limit_s=10) == [(0, 1), (5, 8)]


def test_cut_map_points_back_to_the_original_samples() -> None:
    # Each sample holds its own time, so the cut audio tells where it came from.
    total_s = 10.0
    times = (np.arange(int(total_s * SAMPLE_RATE_HZ)) / SAMPLE_RATE_HZ).astype(np.float32)
    cut = cut_intervals(times, [(2.0, 3.0), (6.0, 8.5)])
    assert [(p.original_start_s, p.duration_s) for p in cut.time_map.pieces] == [
        (0.0, 2.0),
        (3.0, 3.0),
        (8.5, 1.5),
    ]
    assert cut.duration_s == pytest.approx(2.0 + 3.0 + 1.5 + 2 * CUT_GAP_S)
    for cut_time in (0.5, 1.99, 2.7, 4.0, 5.4, 6.0, 7.4):
        sample = cut.audio[round(cut_time * SAMPLE_RATE_HZ)]
        if sample == 0.0 and cut_time not in (0.5,):
            continue  # inside an inserted gap
        assert cut.time_map.to_original(cut_time) == pytest.approx(float(sample), abs=1e-3)
    # Inside the gap after the first piece: starts snap forward, ends snap back.
    assert cut.time_map.to_original(2.2, side="start") == pytest.approx(3.0)
    assert cut.time_map.to_original(2.2, side="end") == pytest.approx(2.0)
    assert cut.time_map.to_original(2.0, side="end") == pytest.approx(2.0)
    assert cut.time_map.to_original(99.0) == pytest.approx(10.0)


def test_cut_without_skip_is_identity() -> None:
    audio = clip_audio("GB04")
    cut = cut_intervals(audio, [])
    assert np.array_equal(cut.audio, audio)
    assert cut.time_map.to_original(1.234) == pytest.approx(1.234)


def test_silent_intervals_find_a_muted_stretch() -> None:
    speech = clip_audio("GB05")
    muted = np.zeros(3 * SAMPLE_RATE_HZ, dtype=np.float32)
    audio = np.concatenate([speech, muted, speech])
    found = silent_intervals(audio)
    start = speech.size / SAMPLE_RATE_HZ
    assert any(a <= start + 0.15 and b >= start + 2.85 for a, b in found), found
    assert all(b - a >= 2.0 for a, b in found)
