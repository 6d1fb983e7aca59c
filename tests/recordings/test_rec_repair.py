"""A lost packet is not a hole: the reorder buffer, the RED parser, FEC recovery, and what the manifest says.

Speech packets come from libopus with in-band FEC (rec_loss.py: espeak-ng speech, nothing from
../shared/eval).
"""

from __future__ import annotations

import ctypes
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from rec_loss import (
    FRAME_SAMPLES,
    SAMPLE_RATE_HZ,
    decoded,
    encode_fec,
    espeak_pcm,
    frame_correlation,
    loud,
    snr_db,
)

from recordings.manifest import read_manifest
from recordings.oggopus import DEFAULT_PRE_SKIP_SAMPLES, OggOpusWriter
from recordings.opuscodec import Encoder, candidate_paths
from recordings.opuspacket import has_lbrr
from recordings.red import MAX_REDUNDANT_BLOCKS, RedBlock, build_red, parse_red
from recordings.repair import AudioPacket, Hole, ReorderBuffer, TrackRepairer
from recordings.storage import MeetingRecorder, ParticipantInfo, RecordingsLayout

FIRST_TS = 4_294_000_000  # the RTP clock wraps during the speech
FIRST_SEQ = 65_500  # and so do the sequence numbers
OPUS_PT = 111
PRE_SKIP = DEFAULT_PRE_SKIP_SAMPLES
PERSON = ParticipantInfo("p1", "chumo", "Chư Mố", "CHUMO", "UBND xã Chư Mố")


@pytest.fixture(scope="module")
def speech() -> tuple[np.ndarray, list[bytes]]:
    pcm = espeak_pcm()
    return pcm, encode_fec(pcm)


def seq(i: int) -> int:
    return (FIRST_SEQ + i) % 65536


def ts(i: int) -> int:
    return (FIRST_TS + i * FRAME_SAMPLES) % (1 << 32)


def released_seqs(items: list[AudioPacket | Hole]) -> list[tuple[str, int]]:
    return [("hole" if isinstance(x, Hole) else "packet", x.seq) for x in items]


# -- the reorder buffer -------------------------------------------------------------------------------------


def test_reorder_buffer_writes_in_order_and_declares_holes_after_depth() -> None:
    buffer = ReorderBuffer(depth=3)
    out: list[AudioPacket | Hole] = []
    for i in (0, 1, 3, 2, 4, 6, 7, 8, 9):  # 3 before 2 (reordered), 5 never comes
        out += buffer.push(seq(i), ts(i), b"x")
    assert buffer.reordered == 1
    base = out[0].seq
    assert [(kind, s - base) for kind, s in released_seqs(out)] == [
        ("packet", 0), ("packet", 1), ("packet", 2), ("packet", 3), ("packet", 4), ("hole", 5),
        ("packet", 6), ("packet", 7), ("packet", 8), ("packet", 9),
    ]
    # 5 arrives too late (after its hole left): dropped, counted
    assert buffer.push(seq(5), ts(5), b"x") == []
    assert buffer.late == 1
    # a duplicate of a buffered packet is dropped
    buffer.push(seq(11), ts(11), b"x")
    assert buffer.push(seq(11), ts(11), b"x") == []
    assert buffer.duplicates == 1
    assert released_seqs(buffer.flush()) == [("hole", base + 10), ("packet", base + 11)]


def test_reorder_buffer_holds_at_most_depth_packets_past_a_gap() -> None:
    buffer = ReorderBuffer(depth=4)
    buffer.push(seq(0), ts(0), b"x")
    for i in range(2, 5):
        assert buffer.push(seq(i), ts(i), b"x") == []  # 1 missing: held
    assert len(buffer.buffered) == 3
    out = buffer.push(seq(5), ts(5), b"x")  # 4 packets past the gap: 1 is given up
    assert [kind for kind, _ in released_seqs(out)] == ["hole", "packet", "packet", "packet", "packet"]


def test_reorder_buffer_resyncs_on_a_restarted_sender_instead_of_thousands_of_holes() -> None:
    buffer = ReorderBuffer(depth=4, max_jump=100)
    buffer.push(100, 0, b"a")
    out = buffer.push(30_000, 960, b"b")
    assert released_seqs(out)[-1][0] == "packet"
    assert not any(isinstance(x, Hole) for x in out)
    assert buffer.resyncs == 1


@settings(max_examples=200, deadline=None)
@given(
    count=st.integers(min_value=1, max_value=80),
    data=st.data(),
)
def test_reorder_buffer_property_reordering_within_depth_loses_nothing(
    count: int, data: st.DataObject
) -> None:
    depth = data.draw(st.integers(min_value=1, max_value=6))
    # never the first nor the last: a hole is a missing packet between two that arrived
    inner = st.integers(min_value=1, max_value=count - 2) if count > 2 else st.nothing()
    dropped = data.draw(st.sets(inner, max_size=count // 3))
    order = [i for i in range(count) if i not in dropped]
    # swap neighbours at random: each packet arrives at most one place early or late
    swaps = data.draw(st.lists(st.booleans(), min_size=len(order), max_size=len(order)))
    for k in range(len(order) - 1):
        if swaps[k] and order[k + 1] - order[k] < depth and k + 1 < len(order) and order[k] != 0:
            order[k], order[k + 1] = order[k + 1], order[k]
    buffer = ReorderBuffer(depth=depth)
    out: list[AudioPacket | Hole] = []
    for i in order:
        out += buffer.push(seq(i), ts(i), bytes([i % 256]))
    out += buffer.flush()
    base = out[0].seq
    packets = [x.seq - base for x in out if isinstance(x, AudioPacket)]
    holes = [x.seq - base for x in out if isinstance(x, Hole)]
    assert packets == sorted(set(range(count)) - dropped)  # every packet, in order, once
    assert set(holes) == dropped
    assert buffer.late == 0


# -- the RED parser ---------------------------------------------------------------------------------------


def test_red_parses_chromium_layout_primary_last_redundant_oldest_first() -> None:
    payload = build_red(b"\x78prim", OPUS_PT, 10_000, [(8_080, b"\x78old"), (9_040, b"\x78prev")])
    parsed = parse_red(payload, 10_000)
    assert parsed is not None
    assert parsed.primary == RedBlock(OPUS_PT, 10_000, b"\x78prim")
    assert parsed.redundant == (RedBlock(OPUS_PT, 8_080, b"\x78old"), RedBlock(OPUS_PT, 9_040, b"\x78prev"))


def test_red_timestamp_offset_wraps_the_rtp_clock() -> None:
    parsed = parse_red(build_red(b"\x78p", OPUS_PT, 100, [((100 - 960) % (1 << 32), b"\x78r")]), 100)
    assert parsed is not None and parsed.redundant[0].timestamp == (100 - 960) % (1 << 32)


@pytest.mark.parametrize(
    ("payload", "why"),
    [
        (b"", "empty"),
        (b"\x80\x00\x04", "a redundant header cut short"),
        (bytes([0x80 | OPUS_PT, 0x00, 0x0C, 0x10, OPUS_PT]) + b"\x01\x02", "block length (16) past the end"),
        (bytes([0x80 | OPUS_PT, 0x00, 0x0C, 0x02]), "no primary header"),
        (bytes([0x80 | OPUS_PT, 0x00, 0x0C, 0x02, OPUS_PT]) + b"\x01\x02", "empty primary"),
        (bytes([0x80 | OPUS_PT, 0, 0, 0]) * (MAX_REDUNDANT_BLOCKS + 1) + bytes([OPUS_PT]) + b"\x78",
         "too many blocks"),
    ],
)
def test_red_malformed_payloads_give_none(payload: bytes, why: str) -> None:
    assert parse_red(payload, 5000) is None, why


def test_red_zero_length_redundant_block_is_skipped() -> None:
    payload = bytes([0x80 | OPUS_PT, 0x00, 0x0C, 0x00, OPUS_PT]) + b"\x78p"  # offset 3, length 0
    parsed = parse_red(payload, 5000)
    assert parsed is not None and parsed.redundant == () and parsed.primary.data == b"\x78p"


@settings(max_examples=500, deadline=None)
@given(st.binary(max_size=64), st.integers(min_value=0, max_value=(1 << 32) - 1))
def test_red_parser_never_raises_and_blocks_stay_inside(payload: bytes, timestamp: int) -> None:
    parsed = parse_red(payload, timestamp)
    if parsed is not None:
        total = sum(len(b.data) for b in (parsed.primary, *parsed.redundant))
        assert total < len(payload) and parsed.primary.data and len(parsed.redundant) <= MAX_REDUNDANT_BLOCKS


@settings(max_examples=200, deadline=None)
@given(
    primary=st.binary(min_size=1, max_size=200),
    blocks=st.lists(st.tuples(st.integers(0, 16383), st.binary(min_size=1, max_size=300)), max_size=4),
    timestamp=st.integers(min_value=0, max_value=(1 << 32) - 1),
)
def test_red_round_trip(primary: bytes, blocks: list[tuple[int, bytes]], timestamp: int) -> None:
    redundant = [((timestamp - off) % (1 << 32), data) for off, data in blocks]
    parsed = parse_red(build_red(primary, OPUS_PT, timestamp, redundant), timestamp)
    assert parsed is not None
    assert parsed.primary.data == primary
    assert [(b.timestamp, b.data) for b in parsed.redundant] == redundant


# -- FEC recovery and the recorder -----------------------------------------------------------------------


def record(tmp_path: Path, name: str, packets: list[tuple[int, int, bytes]], *, repair: bool,
           red: bool = False) -> Path:
    """Record (seq, ts, payload) through a MeetingRecorder track as the media tap does; the meeting folder."""
    layout = RecordingsLayout(tmp_path / name)
    recorder = MeetingRecorder.start(layout, "m1", fsync_interval_s=None)
    handle = recorder.open_track(PERSON, 2.0, track_id="t1")
    for s, t, payload in packets:
        if repair:
            handle.write_rtp(payload, t, s, red=red)
        else:
            handle.write(payload, t)
    recorder.end(12.0)
    return layout.meeting_dir("m1")


def test_fec_fills_every_20th_packet_and_the_manifest_lists_only_the_unrecoverable(
    tmp_path: Path, speech: tuple[np.ndarray, list[bytes]]
) -> None:
    _, packets = speech
    dropped = set(range(19, len(packets) - 1, 20))
    unrecoverable = sorted(i for i in dropped if not has_lbrr(packets[i + 1]))
    assert len(unrecoverable) < len(dropped) // 2  # the speech has FEC almost everywhere
    full = record(tmp_path, "full", [(seq(i), ts(i), p) for i, p in enumerate(packets)], repair=True)
    lossy = [(seq(i), ts(i), p) for i, p in enumerate(packets) if i not in dropped]
    plain = record(tmp_path, "plain", lossy, repair=False)  # what the recorder did before
    repaired = record(tmp_path, "repaired", lossy, repair=True)

    reference = decoded(full / "tracks/t1.ogg")
    before = decoded(plain / "tracks/t1.ogg")
    after = decoded(repaired / "tracks/t1.ogg")
    assert len(reference) == len(before) == len(after)
    # packet i decodes at [i*960 - pre-skip, ...): pad the pre-skip back so frame i is at i*960
    shift = PRE_SKIP
    ref, bef, aft = (np.concatenate([np.zeros(shift), x]) for x in (reference, before, after))
    recovered = [i for i in sorted(dropped - set(unrecoverable)) if loud(ref, i)]
    assert len(recovered) >= 8
    corr_after = [frame_correlation(ref, aft, i) for i in recovered]
    corr_before = [frame_correlation(ref, bef, i) for i in recovered]
    print(f"recovered frames {len(recovered)}: correlation median {np.median(corr_after):.3f} "
          f"(min {min(corr_after):.3f}) vs without recovery {np.median(corr_before):.3f}; "
          f"SNR whole track {snr_db(reference, after):.1f} dB vs {snr_db(reference, before):.1f} dB")
    assert np.median(corr_after) > 0.85
    assert np.median(corr_after) > np.median(corr_before) + 0.3
    assert sum(a > b for a, b in zip(corr_after, corr_before, strict=True)) >= 0.9 * len(recovered)
    assert snr_db(reference, after) > snr_db(reference, before) + 5

    track = read_manifest(repaired).track("t1")
    assert track.repair is not None
    assert (track.repair.holes, track.repair.recovered_fec, track.repair.concealed) == (
        len(dropped), len(dropped) - len(unrecoverable), len(unrecoverable))
    expected = [(2.0 + (i * FRAME_SAMPLES - shift) / SAMPLE_RATE_HZ, 2.0 + ((i + 1) * FRAME_SAMPLES - shift)
                 / SAMPLE_RATE_HZ) for i in unrecoverable]
    assert len(track.losses) == len(expected)
    for loss, (start, end) in zip(track.losses, expected, strict=True):
        assert abs(loss.start_s - start) < 1e-4 and abs(loss.end_s - end) < 1e-4
    plain_track = read_manifest(plain).track("t1")
    assert plain_track.losses == () and plain_track.repair is None and plain_track.gaps == ()


def test_reordered_and_late_packets_are_written_in_order(
    tmp_path: Path, speech: tuple[np.ndarray, list[bytes]]
) -> None:
    _, packets = speech
    order = list(range(len(packets)))
    for k in range(5, len(order) - 3, 7):  # every 7th packet arrives three places late (60 ms)
        order.insert(k + 3, order.pop(k))
    full = record(tmp_path, "full", [(seq(i), ts(i), packets[i]) for i in range(len(packets))], repair=True)
    shuffled = [(seq(i), ts(i), packets[i]) for i in order]
    plain = record(tmp_path, "plain", shuffled, repair=False)
    repaired = record(tmp_path, "repaired", shuffled, repair=True)
    assert np.array_equal(decoded(full / "tracks/t1.ogg"), decoded(repaired / "tracks/t1.ogg"))
    assert not np.array_equal(decoded(full / "tracks/t1.ogg"), decoded(plain / "tracks/t1.ogg"))
    track = read_manifest(repaired).track("t1")
    assert track.repair is not None and track.repair.holes == 0 and track.repair.reordered > 0
    assert track.losses == ()


def red_stream(packets: list[bytes], distance: int) -> list[tuple[int, int, bytes]]:
    out = []
    for i, p in enumerate(packets):
        redundant = [(ts(j), packets[j]) for j in range(max(0, i - distance), i)]
        out.append((seq(i), ts(i), build_red(p, OPUS_PT, ts(i), redundant)))
    return out


def test_red_stream_recorded_complete_despite_loss(
    tmp_path: Path, speech: tuple[np.ndarray, list[bytes]]
) -> None:
    _, packets = speech
    stream = red_stream(packets, distance=2)
    dropped = set(range(19, len(packets) - 2, 20)) | {105, 106}  # single losses, and a pair
    lossy = [x for i, x in enumerate(stream) if i not in dropped]
    full = record(tmp_path, "full", [(seq(i), ts(i), p) for i, p in enumerate(packets)], repair=True)
    repaired = record(tmp_path, "red", lossy, repair=True, red=True)
    # the redundant blocks are the lost packets themselves: the file decodes exactly as without loss
    assert np.array_equal(decoded(full / "tracks/t1.ogg"), decoded(repaired / "tracks/t1.ogg"))
    track = read_manifest(repaired).track("t1")
    assert track.repair is not None
    assert (track.repair.holes, track.repair.recovered_red, track.repair.concealed) == (len(dropped),
                                                                                        len(dropped), 0)
    assert track.losses == ()


@pytest.mark.parametrize("fec_in_red_block", [False, True])
def test_red_burst_longer_than_redundancy(
    tmp_path: Path, speech: tuple[np.ndarray, list[bytes]], fec_in_red_block: bool
) -> None:
    _, packets = speech
    # three packets k..k+2 missing (k+2 as a malformed RED payload); k+3 carries k+1 and k+2 (RED); k only
    # comes back through the FEC inside k+1's redundant block, when it has some
    k = next(i for i in range(120, len(packets) - 4) if has_lbrr(packets[i + 1]) == fec_in_red_block)
    stream = red_stream(packets, distance=2)
    stream[k + 2] = (stream[k + 2][0], stream[k + 2][1], b"\x80\x00")  # malformed: counts as lost
    lossy = [x for i, x in enumerate(stream) if i not in (k, k + 1)]
    repaired = record(tmp_path, "red", lossy, repair=True, red=True)
    track = read_manifest(repaired).track("t1")
    assert track.repair is not None and track.repair.malformed == 1
    assert (track.repair.holes, track.repair.recovered_red) == (3, 2)
    if fec_in_red_block:
        assert (track.repair.recovered_fec, track.repair.concealed, track.losses) == (1, 0, ())
        return
    assert (track.repair.recovered_fec, track.repair.concealed) == (0, 1)
    start = 2.0 + (k * FRAME_SAMPLES - PRE_SKIP) / SAMPLE_RATE_HZ
    (loss,) = track.losses
    assert abs(loss.start_s - start) < 1e-4 and abs(loss.end_s - (start + 0.02)) < 1e-4


def test_mute_restarts_the_sequence_without_counting_holes(
    tmp_path: Path, speech: tuple[np.ndarray, list[bytes]]
) -> None:
    _, packets = speech
    layout = RecordingsLayout(tmp_path)
    recorder = MeetingRecorder.start(layout, "m1", fsync_interval_s=None)
    handle = recorder.open_track(PERSON, 0.0, track_id="t1")
    for i in range(100):
        handle.write_rtp(packets[i], ts(i), seq(i))
    handle.mute(2.0)
    handle.unmute(5.0)  # the SFU tapped nothing meanwhile: 150 sequence numbers skipped
    for i in range(250, 300):
        handle.write_rtp(packets[i], ts(i), seq(i))
    recorder.end(7.0)
    track = read_manifest(layout.meeting_dir("m1")).track("t1")
    assert track.repair is not None and track.repair.holes == 0 and track.losses == ()
    assert track.repair.packets == 150


def test_a_track_written_without_sequence_numbers_has_no_repair_record(tmp_path: Path) -> None:
    path = tmp_path / "a.ogg"
    writer = OggOpusWriter(path, channels=1, fsync_interval_s=None)
    repairer = TrackRepairer(writer.write)
    repairer.flush()  # nothing pushed: nothing written, nothing counted
    writer.close()
    assert repairer.stats.packets == 0 and repairer.stats.holes == 0


@pytest.mark.parametrize("loss", [0.05, 0.10])
@pytest.mark.parametrize("red", [False, True], ids=["fec", "red1+fec"])
def test_random_loss_share_of_holes_filled(
    tmp_path: Path, speech: tuple[np.ndarray, list[bytes]], loss: float, red: bool
) -> None:
    """Independent random loss (seeded), FEC alone (what a browser sends by default) or RED with one
    redundant block (Chromium's RED for Opus): the share of holes filled, and the manifest lists exactly the
    rest."""
    _, packets = speech
    reference = decoded(record(tmp_path, "full", [(seq(i), ts(i), p) for i, p in enumerate(packets)],
                               repair=True) / "tracks/t1.ogg")
    stream = red_stream(packets, distance=1) if red else [(seq(i), ts(i), p) for i, p in enumerate(packets)]
    holes = filled = 0
    snr_after: list[float] = []
    snr_before: list[float] = []
    for seed in range(3):
        rng = np.random.default_rng(seed)
        dropped = {i for i in range(1, len(packets) - 1) if rng.random() < loss}
        folder = record(tmp_path, f"r{seed}", [x for i, x in enumerate(stream) if i not in dropped],
                        repair=True, red=red)
        plain = record(tmp_path, f"p{seed}", [(seq(i), ts(i), p) for i, p in enumerate(packets)
                                              if i not in dropped], repair=False)
        track = read_manifest(folder).track("t1")
        assert track.repair is not None and track.repair.holes == len(dropped)
        holes += track.repair.holes
        filled += track.repair.recovered
        # what was not filled is listed, frame for frame (merged spans of 20 ms frames)
        listed_frames = sum(round((x.end_s - x.start_s) / 0.02) for x in track.losses)
        assert listed_frames == track.repair.concealed
        snr_after.append(snr_db(reference, decoded(folder / "tracks/t1.ogg")))
        snr_before.append(snr_db(reference, decoded(plain / "tracks/t1.ogg")))
    share = filled / holes
    print(f"{loss:.0%} loss, {'RED(1)+FEC' if red else 'FEC'}: {holes} holes, {share:.1%} filled; "
          f"track SNR {np.mean(snr_after):.1f} dB vs {np.mean(snr_before):.1f} dB without recovery")
    assert share > (0.9 if red else 0.7)
    assert np.mean(snr_after) > np.mean(snr_before) + 5


# -- has_lbrr against libopus ----------------------------------------------------------------------------


def _libopus_has_lbrr() -> Callable[[bytes], int]:
    """libopus >= 1.5's opus_packet_has_lbrr, from the libopus PyAV ships (1.6 here)."""
    paths = [p for p in candidate_paths() if "av.libs" in p]
    assert paths, "PyAV's wheel ships libopus"
    lib = ctypes.CDLL(paths[0])
    function = lib.opus_packet_has_lbrr
    function.argtypes = [ctypes.c_char_p, ctypes.c_int32]
    function.restype = ctypes.c_int
    return lambda packet: int(function(packet, len(packet)))


@pytest.mark.parametrize("frame_samples", [480, 960, 1920, 2880])  # packet codes 0, 0, 1/2, 3
@pytest.mark.parametrize("channels", [1, 2])
def test_has_lbrr_agrees_with_libopus_on_encoded_packets(
    speech: tuple[np.ndarray, list[bytes]], frame_samples: int, channels: int
) -> None:
    pcm, _ = speech
    reference = _libopus_has_lbrr()
    encoder = Encoder(channels, bitrate_bps=32000, fec=True, packet_loss_percent=15)
    signal = np.repeat(pcm.reshape(-1, 1), channels, axis=1)
    packets = [encoder.encode(signal[i : i + frame_samples])
               for i in range(0, len(signal) - frame_samples, frame_samples)]
    assert sum(has_lbrr(p) for p in packets) > len(packets) // 2
    assert [has_lbrr(p) for p in packets] == [reference(p) > 0 for p in packets]


@settings(max_examples=2000, deadline=None, derandomize=True)  # CI sees the same 2000 every run
@given(st.binary(min_size=1, max_size=16))
def test_has_lbrr_agrees_with_libopus_on_any_bytes(packet: bytes) -> None:
    assert has_lbrr(packet) == (_LIBOPUS_HAS_LBRR(packet) > 0)


_LIBOPUS_HAS_LBRR = _libopus_has_lbrr()
