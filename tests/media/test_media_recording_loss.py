"""The recording tap with real aiortc peers: our client sends Opus in-band FEC as a browser does, both
sides advertise it, and a track that lost every 20th packet at the tap is recorded with the lost frames
recovered."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import numpy as np
import pytest

from recordings.manifest import read_manifest
from recordings.mixing import decode_track_pcm
from recordings.opuspacket import has_lbrr
from recordings.storage import MeetingRecorder, ParticipantInfo, RecordingsLayout, TrackHandle
from server.media import aiortc_hooks as hooks
from server.media.client import ClientConfig
from tests.media.meeting import Meeting, RecordingListener
from tests.speech import spoken

DROP_EVERY = 20
FRAME_SAMPLES = 960
PRE_SKIP = 312
SPEECH_KEYS = ("GB07", "GB01")  # tests/speech.py's sentences, synthesised once per session
WIDEBAND_HZ = 8000  # what the transcriber hears (16 kHz audio) and what SILK's FEC carries


def wideband(pcm: np.ndarray) -> np.ndarray:
    """Mono, everything above WIDEBAND_HZ removed (FFT brick wall)."""
    mono = pcm.reshape(len(pcm), -1).mean(axis=1)
    spectrum = np.fft.rfft(mono)
    spectrum[np.fft.rfftfreq(len(mono), 1 / 48000) > WIDEBAND_HZ] = 0
    return np.fft.irfft(spectrum, len(mono))


class LossyTap(RecordingListener):
    """The room's recording tap into three tracks of one recorder: every packet (the reference), and the same
    packets without every 20th sequence number, once through the repairing path (write_rtp) and once as the
    recorder wrote before (write: no reordering, no repair)."""

    def __init__(self, recorder: MeetingRecorder) -> None:
        super().__init__()
        self.recorder = recorder
        self.tracks: dict[str, TrackHandle] = {}
        self.payloads: dict[int, bytes] = {}  # packet index (sequence number from the first) -> payload
        self.dropped: set[int] = set()
        self._first_seq: int | None = None
        self.first_written = 0  # index of the packet the tracks start with

    def on_audio_packet(self, participant_id: str, payload: bytes, rtp_timestamp: int, sequence_number: int,
                        red: bool, arrival_monotonic_s: float) -> None:
        super().on_audio_packet(participant_id, payload, rtp_timestamp, sequence_number, red,
                                arrival_monotonic_s)
        if self._first_seq is None:
            self._first_seq = sequence_number
        index = (sequence_number - self._first_seq) % 65536  # from the first packet (the count wraps)
        if not self.tracks:
            if index % DROP_EVERY == 0:
                return  # all three tracks start with the same packet, so their clocks match
            self.first_written = index
            now = self.recorder.clock_s()
            for name in ("full", "repaired", "plain"):
                info = ParticipantInfo(participant_id, name, name, "CHUMO", "UBND xã Chư Mố")
                self.tracks[name] = self.recorder.open_track(info, now, track_id=name)
        self.payloads[index] = payload
        self.tracks["full"].write_rtp(payload, rtp_timestamp, sequence_number, red=red)
        if index % DROP_EVERY == 0:
            self.dropped.add(index)
            return
        self.tracks["repaired"].write_rtp(payload, rtp_timestamp, sequence_number, red=red)
        self.tracks["plain"].write(payload, rtp_timestamp)


def test_hooks_turn_fec_on_in_aiortc_and_advertise_it() -> None:
    hooks.check_opus_fec()
    hooks.enable_opus_encoder_fec()
    hooks.enable_opus_encoder_fec()  # idempotent: wrapped once
    from aiortc.codecs.opus import OpusEncoder

    init = OpusEncoder.__init__
    assert getattr(init, "__wrapped__", None) is not None
    assert not hasattr(init.__wrapped__, "__wrapped__")  # type: ignore[attr-defined]
    options = OpusEncoder().codec.options
    assert options["fec"] == "1" and options["packet_loss"] == str(hooks.OPUS_FEC_PACKET_LOSS_PERCENT)
    from aiortc import RTCRtpSender

    (opus,) = [c for c in RTCRtpSender.getCapabilities("audio").codecs if c.mimeType.lower() == "audio/opus"]
    assert opus.parameters == {"useinbandfec": 1}


def test_fec_self_check_fails_loudly_when_aiortc_changes(monkeypatch: pytest.MonkeyPatch) -> None:
    import aiortc.codecs
    from aiortc.codecs import opus

    monkeypatch.setitem(aiortc.codecs.CODECS, "audio", [c for c in aiortc.codecs.CODECS["audio"]
                                                        if c.mimeType.lower() != "audio/opus"])
    with pytest.raises(hooks.HookError, match="one Opus entry"):
        hooks.check_opus_fec()
    monkeypatch.undo()

    def changed_init(self: opus.OpusEncoder) -> None:
        self.codec = None  # type: ignore[assignment]

    monkeypatch.setattr(opus.OpusEncoder, "__init__", changed_init)
    with pytest.raises(hooks.HookError, match="OpusEncoder.__init__"):
        hooks.check_opus_fec()


@pytest.mark.asyncio
async def test_tap_records_a_lossy_track_with_the_lost_frames_recovered(tmp_path: Path) -> None:
    layout = RecordingsLayout(tmp_path / "data")
    recorder = MeetingRecorder.start(layout, "m1", fsync_interval_s=None)
    tap = LossyTap(recorder)
    meeting = Meeting()
    meeting.listener = tap
    meeting.room.listener = tap
    wav = spoken(SPEECH_KEYS, 48000)
    try:
        await meeting.join("a", ClientConfig(audio_file=str(wav), video=False))
        # both sides say they decode FEC: a browser publishing to this server turns its FEC on
        pc = meeting.clients["a"].pc
        assert "useinbandfec=1" in pc.remoteDescription.sdp  # the server's offer
        assert "useinbandfec=1" in pc.localDescription.sdp  # our client's answer
        deadline = time.monotonic() + 20
        count = -1
        while count != len(tap.payloads) and time.monotonic() < deadline:  # until the file has played
            count = len(tap.payloads)
            await asyncio.sleep(1.0)
    finally:
        await meeting.close()
    recorder.end(recorder.clock_s())
    assert len(tap.payloads) >= 300, len(tap.payloads)  # the speech lasts about 7.5 s

    # our client's packets carry FEC (aiortc's encoder alone sends CELT at 96 kb/s: none)
    with_fec = sum(has_lbrr(p) for p in tap.payloads.values())
    assert with_fec > 0.5 * len(tap.payloads), (with_fec, len(tap.payloads))

    folder = layout.meeting_dir("m1")
    ref, rep, plain = (wideband(np.asarray(decode_track_pcm(folder / f"tracks/{n}.ogg"), dtype=np.float64))
                       for n in ("full", "repaired", "plain"))
    first = tap.first_written
    end = max(tap.payloads)
    lost = [s for s in sorted(tap.dropped) if s < end]
    unrecoverable = {s for s in lost if not has_lbrr(tap.payloads[s + 1])}
    corr_rep: list[float] = []
    corr_plain: list[float] = []
    err_rep: list[float] = []
    err_plain: list[float] = []
    for s in lost:
        index = s - first  # 20 ms packets: the frame's index on the tracks' clock
        part = slice(index * FRAME_SAMPLES - PRE_SKIP, (index + 1) * FRAME_SAMPLES - PRE_SKIP)
        a, b, c = ref[part], rep[part], plain[part]
        if s in unrecoverable or len(a) < FRAME_SAMPLES or np.sqrt(np.mean(a**2)) < 0.01:
            continue
        corr_rep.append(float(np.corrcoef(a, b)[0, 1]))
        corr_plain.append(float(np.corrcoef(a, c)[0, 1]) if np.std(c) > 0 else 0.0)
        err_rep.append(float(np.sum((a - b) ** 2)))
        err_plain.append(float(np.sum((a - c) ** 2)))
    n = min(len(ref), len(rep), len(plain))

    def snr(x: np.ndarray) -> float:
        return float(10 * np.log10(np.sum(ref[:n] ** 2) / max(1e-12, np.sum((ref[:n] - x[:n]) ** 2))))

    print(f"tap: {len(tap.payloads)} packets, {with_fec} with FEC, {len(lost)} removed, "
          f"{len(unrecoverable)} without FEC after them; loud recovered frames {len(corr_rep)}: correlation "
          f"median {np.median(corr_rep):.3f} vs {np.median(corr_plain):.3f} without recovery; error energy "
          f"in them {sum(err_rep):.2f} vs {sum(err_plain):.2f}; whole track SNR {snr(rep):.1f} dB vs "
          f"{snr(plain):.1f} dB (below {WIDEBAND_HZ} Hz)")
    assert len(corr_rep) >= 5
    assert np.median(corr_rep) > 0.85 and np.median(corr_rep) > np.median(corr_plain) + 0.5
    assert sum(err_rep) < 0.25 * sum(err_plain)
    assert snr(rep) > snr(plain) + 6

    manifest = read_manifest(folder)
    repaired = manifest.track("repaired")
    assert repaired.repair is not None
    assert repaired.repair.holes == len(lost)
    assert repaired.repair.recovered_fec == len(lost) - len(unrecoverable)
    assert len(repaired.losses) <= len(unrecoverable)  # adjacent spans merge; nothing else is listed
    full = manifest.track("full")
    assert full.repair is not None and full.repair.holes == 0 and full.losses == ()
