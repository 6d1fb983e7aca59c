"""Audio selection in a real meeting: eight aiortc peers over 127.0.0.1 on open microphones.

The chair's hall (pinned, silent), two communes that speak (espeak-ng Vietnamese over their room's
noise), three that send only quiet room noise (sox pink noise) and two silent ones. The speakers and the
hall reach everyone, the others no one; all eight are recorded; each viewer's stream of a speaker has no
sequence gap (nothing counted lost) although forwarding stops and starts again, and its timestamps jump
by the real time of the gap; and the second speaker's first words are not clipped: the first 20 ms frame
of speech the viewer receives is the first one sent, with the pre-roll before it.
"""

from __future__ import annotations

import asyncio
import subprocess
from pathlib import Path

import av
import numpy as np
import pytest
from aiortc.rtp import RtpPacket

from server.media.client import ClientConfig
from server.media.config import MediaConfig
from tests.media.meeting import Meeting, frames, wait_until

pytestmark = pytest.mark.e2e

NOISE_VOL = "0.01"  # about -54 dBov per 20 ms: quiet room noise
# room noise before each sentence a speaker says (s1 says its sentence twice)
LEADS_S = {"s1": (1.0, 3.5), "s2": (5.0,)}
SENTENCES = {
    "s1": "Xin chào các đồng chí, hôm nay chúng ta họp giao ban",
    "s2": "Xã Chư Mố báo cáo tình hình thu hoạch lúa vụ mùa",
}
SPEECH_DBFS = -40.0
PACKET_SAMPLES = 960  # 20 ms at 48 kHz


def make_audio(folder: Path) -> dict[str, Path]:
    """A noise file and, per speaker, room noise with espeak-ng speech after each of its LEADS_S."""
    noise = folder / "noise.wav"
    subprocess.run(
        [
            "sox",
            "-n",
            "-r",
            "48000",
            "-c",
            "1",
            "-b",
            "16",
            str(noise),
            "synth",
            "16",
            "pinknoise",
            "vol",
            NOISE_VOL,
        ],
        check=True,
    )
    files = {"noise": noise}
    for who, text in SENTENCES.items():
        raw = folder / f"{who}-raw.wav"
        subprocess.run(["espeak-ng", "-v", "vi", "-w", str(raw), text], check=True)
        parts = []
        for i, lead_s in enumerate(LEADS_S[who]):
            part = folder / f"{who}-{i}.wav"
            fmt = ["-r", "48000", "-c", "1", "-b", "16"]
            subprocess.run(["sox", str(raw), *fmt, str(part), "pad", str(lead_s), "0"], check=True)
            parts.append(str(part))
        speech = folder / f"{who}-speech.wav"
        subprocess.run(["sox", *parts, str(speech), "pad", "0", "1.5"], check=True)
        mixed = folder / f"{who}.wav"
        subprocess.run(["sox", "-m", str(speech), str(noise), str(mixed)], check=True)  # as long as the noise
        files[who] = mixed
    return files


def decoded_levels(payloads: list[bytes]) -> np.ndarray:
    """dBFS of each Opus packet once decoded (one 20 ms frame each)."""
    codec = av.CodecContext.create("opus", "r")
    out = []
    for payload in payloads:
        samples = np.concatenate(
            [f.to_ndarray().reshape(-1).astype(np.float64) for f in codec.decode(av.Packet(payload))]
            or [np.zeros(1)]
        )
        if samples.dtype.kind != "f" or np.abs(samples).max() > 1.5:
            samples = samples / 32768.0
        out.append(20 * np.log10(np.sqrt((samples**2).mean()) + 1e-9))
    return np.array(out)


def file_onset_s(path: Path) -> float:
    with av.open(str(path)) as c:
        resampler = av.AudioResampler(format="s16", layout="mono", rate=48000)
        x = (
            np.concatenate(
                [f.to_ndarray().reshape(-1) for fr in c.decode(audio=0) for f in resampler.resample(fr)]
            ).astype(np.float64)
            / 32768.0
        )
    n = len(x) // PACKET_SAMPLES
    db = 20 * np.log10(np.sqrt((x[: n * PACKET_SAMPLES].reshape(n, PACKET_SAMPLES) ** 2).mean(axis=1)) + 1e-9)
    return float(np.nonzero(db > SPEECH_DBFS)[0][0] * PACKET_SAMPLES / 48000)


def points(files: dict[str, Path]) -> dict[str, Path | None]:
    """The eight connection points and what each plays: the pinned hall (silent), two speakers, three rooms
    of noise, two silent rooms; s2 joins last (its speech starts 5 s after it connects)."""
    return {
        "hall": None,
        "s1": files["s1"],
        "n1": files["noise"],
        "n2": files["noise"],
        "n3": files["noise"],
        "q1": None,
        "q2": None,
        "s2": files["s2"],
    }


async def join_points(
    meeting: Meeting, plays: dict[str, Path | None], *, until: str | None = None, after: str | None = None
) -> None:
    """The hall pinned, then the points join in order, audio only (those up to `until`, or after `after`)."""
    meeting.room.set_pinned(["hall"])
    order = list(plays)
    start = order.index(after) + 1 if after else 0
    stop = order.index(until) + 1 if until else len(order)
    for pid in order[start:stop]:
        path = plays[pid]
        await meeting.join(
            pid,
            ClientConfig(video=False, audio_file=str(path) if path else None),
            publishes_video=False,
            audio_only=True,
        )


def capture(meeting: Meeting, viewer: str, publisher: str) -> list[RtpPacket]:
    """Every RTP packet of `publisher`'s audio that reaches `viewer`, before its jitter buffer."""
    mid = next(
        f.mid
        for f in meeting.room.stats().forwarded
        if f.viewer_id == viewer and f.publisher_id == publisher and f.kind == "audio"
    )
    receiver = next(t.receiver for t in meeting.clients[viewer].pc.getTransceivers() if t.mid == mid)
    original = receiver._handle_rtp_packet
    got: list[RtpPacket] = []

    async def handle(packet: RtpPacket, arrival_time_ms: int) -> None:
        got.append(packet)
        await original(packet, arrival_time_ms)

    receiver._handle_rtp_packet = handle  # type: ignore[method-assign]
    return got


@pytest.mark.asyncio
@pytest.mark.parametrize("native_send", [True, False], ids=["C sender", "Python sender"])
async def test_only_the_hall_and_real_speakers_are_heard_and_every_point_is_recorded(
    tmp_path: Path, native_send: bool
) -> None:
    files = make_audio(tmp_path)
    config = MediaConfig(ice_addresses=("127.0.0.1",), audio_speakers=3, rtp_native_send=native_send)
    meeting = Meeting(config)
    plays = points(files)
    try:
        await join_points(meeting, plays, until="s1")
        s1_at_hall = capture(meeting, "hall", "s1")
        await join_points(meeting, plays, after="s1")
        at_hall = capture(meeting, "hall", "s2")
        at_q1 = capture(meeting, "q1", "s2")
        # s2 speaks about 5 s after joining, for about 3.5 s; then everyone's hold runs out
        await asyncio.sleep(LEADS_S["s2"][0] + 6.0)
        muted = {"n1", "n2", "n3", "q1", "q2"}
        for viewer in plays:
            stats = meeting.clients[viewer].stats()
            for publisher in plays:
                if publisher == viewer:
                    continue
                heard = frames(meeting, viewer, publisher, "audio")
                if publisher in muted:
                    assert heard == 0, (viewer, publisher, heard)
                elif publisher == "hall":
                    assert heard > 300, (viewer, publisher, heard)
                else:
                    assert heard > 100, (viewer, publisher, heard)  # ~3 s of speech each
                remote = stats.by_username(f"user-{publisher}")
                assert remote is None or remote.packets_lost == 0, (viewer, remote)
        room = meeting.room.stats()
        sent = {(f.viewer_id, f.publisher_id): f for f in room.forwarded if f.kind == "audio"}
        assert all(sent[(v, p)].packets_sent == 0 for v in plays for p in muted if v != p)
        if native_send:
            assert all(sent[(v, "s1")].packets_native > 0 for v in plays if v != "s1")
        else:
            assert room.packets_native == 0
        # the recorder tap is before the selection: all eight points recorded, whole
        recorded = meeting.listener.audio_payloads
        assert all(recorded.get(p, 0) > 300 for p in plays), recorded
        assert await wait_until(lambda: meeting.room.audible() == {"hall"}, 3.0)

        # s2's first words: find the onset in what was sent (the recorder's copy of s2's packets)
        tapped = meeting.listener.audio_packets["s2"]
        sent_levels = decoded_levels([p for p, _ in tapped])
        onset = int(np.nonzero(sent_levels > SPEECH_DBFS)[0][0])
        onset_s = ((tapped[onset][1] - tapped[0][1]) % (1 << 32)) / 48000
        assert abs(onset_s - file_onset_s(files["s2"])) < 0.1, (onset_s, file_onset_s(files["s2"]))
        for got in (at_hall, at_q1):
            payloads = [p.payload for p in got]
            received_levels = decoded_levels(payloads)
            first = int(np.nonzero(received_levels > SPEECH_DBFS)[0][0])
            # the received audio's onset is the file's onset: the first speech frame, then the next 100 ms
            assert payloads[first : first + 5] == [p for p, _ in tapped[onset : onset + 5]]
            assert first >= 3  # pre-roll before it: what came before the speech was forwarded too
            # per viewer: sequence numbers contiguous across the forwarding gaps, timestamps in real time
            seqs = [p.sequence_number for p in got]
            assert all((b - a) % 65536 == 1 for a, b in zip(seqs, seqs[1:], strict=False)), seqs
        # s1 spoke twice: between its sentences it was not forwarded for a while (its hold ran out); the
        # hall's stream of it went on with the next sequence number and a timestamp advanced by that time
        seqs = [p.sequence_number for p in s1_at_hall]
        assert all((b - a) % 65536 == 1 for a, b in zip(seqs, seqs[1:], strict=False))
        ts = [p.timestamp for p in s1_at_hall]
        jumps = [((b - a) % (1 << 32)) / 48000 for a, b in zip(ts, ts[1:], strict=False)]
        gap_s = max(jumps)
        assert 0.8 < gap_s < 3.5, jumps  # hold 2 s within a 3.5 s pause; 20 ms between packets otherwise
        assert sorted(jumps)[-2] < 0.1  # one gap, one pre-roll: no other jump
    finally:
        await meeting.close()
