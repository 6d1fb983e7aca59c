"""Words said where a recorded track lost audio that nothing recovered are marked uncertain.

A real recording (espeak-ng speech as Opus packets with FEC, through the recorder with packets removed) and
its manifest; the engine is a stub that puts a 0.2 s word every 0.2 s of the audio it is given, so what is
checked is the marking on the meeting clock, not the recognition.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from recordings.manifest import read_manifest
from recordings.opuspacket import has_lbrr
from recordings.storage import MeetingRecorder, ParticipantInfo, RecordingsLayout
from tests.recordings.rec_loss import FRAME_SAMPLES, encode_fec, espeak_pcm
from transcription.audio import SAMPLE_RATE_HZ
from transcription.pipeline import MIN_UNCERTAIN_LOSS_S, TrackInput, lost_spans, transcribe_tracks
from transcription.segment import Segment, Word

WORD_S = 0.2
TRACK_START_S = 3.0
PRE_SKIP_S = 312 / 48000


class EveryFifthOfASecond:
    """A stub engine: one segment per second of audio, a word every 0.2 s."""

    name = "stub"

    def transcribe(self, audio: np.ndarray, *, hotwords: Sequence[str] = (), progress: object = None
                   ) -> list[Segment]:
        length_s = audio.size / SAMPLE_RATE_HZ
        segments = []
        for second in range(int(length_s)):
            words = tuple(Word(second + k * WORD_S, second + (k + 1) * WORD_S, f"w{second}.{k}", 0.9)
                          for k in range(5))
            segments.append(Segment(float(second), second + 1.0, " ".join(w.text for w in words), words))
        return segments


def test_words_over_an_unrecovered_loss_are_uncertain(tmp_path: Path) -> None:
    packets = encode_fec(espeak_pcm())
    burst = range(100, 105)  # 100 ms: FEC in 105 recovers 104; 100-103 (80 ms) are lost
    single = next(i for i in range(150, len(packets) - 1) if not has_lbrr(packets[i + 1]))  # 20 ms lost
    dropped = {*burst, single}
    layout = RecordingsLayout(tmp_path)
    recorder = MeetingRecorder.start(layout, "m1", fsync_interval_s=None)
    handle = recorder.open_track(ParticipantInfo("p1", "chumo", "Chư Mố", "CHUMO", "UBND xã Chư Mố"),
                                 TRACK_START_S, track_id="t1")
    for i, packet in enumerate(packets):
        if i not in dropped:
            handle.write_rtp(packet, 1000 + i * FRAME_SAMPLES, i)
    recorder.end(20.0)

    track = read_manifest(layout.meeting_dir("m1")).track("t1")
    assert len(track.losses) == 2  # the burst's 80 ms and the single 20 ms
    spans = lost_spans(track)
    burst_start = 100 * 0.02 - PRE_SKIP_S
    assert len(spans) == 1
    assert abs(spans[0][0] - burst_start) < 1e-3 and abs(spans[0][1] - (burst_start + 0.08)) < 1e-3
    assert MIN_UNCERTAIN_LOSS_S > 0.02  # the single lost packet alone marks nothing

    segments = transcribe_tracks(
        [TrackInput(layout.meeting_dir("m1") / track.path, track.start_s, "CHUMO", "Xã Chư Mố", "A",
                    lost=spans)],
        EveryFifthOfASecond(),  # type: ignore[arg-type]
    )
    words = [w for s in segments for w in s.words]
    uncertain = [w for w in words if w.uncertain]
    lost_start, lost_end = TRACK_START_S + spans[0][0], TRACK_START_S + spans[0][1]
    assert uncertain and all(w.start_s < lost_end and w.end_s > lost_start for w in uncertain)
    assert all(w.uncertain for w in words if w.start_s < lost_end and w.end_s > lost_start)
    assert len(uncertain) <= 2
    # the span (1.994-2.074 s into the track) straddles two of the stub's segments: both are uncertain
    assert [s.uncertain for s in segments] == [any(w.uncertain for w in s.words) for s in segments]
    assert sum(s.uncertain for s in segments) == 2
    # without the manifest's losses nothing is uncertain (as before)
    plain = transcribe_tracks(
        [TrackInput(layout.meeting_dir("m1") / track.path, track.start_s, "CHUMO", "Xã Chư Mố", "A")],
        EveryFifthOfASecond(),  # type: ignore[arg-type]
    )
    assert not any(s.uncertain or any(w.uncertain for w in s.words) for s in plain)
