"""The caption process for real: `python -m transcription.captions_worker` with the packaged base model, fed
Opus packets of speech paced at real time through its stdin, as the media process will; compared with the
offline transcription of the same audio by the same engine."""

from __future__ import annotations

import os

import numpy as np
import pytest

from tests.speech import Corpus
from transcription.audio import SAMPLE_RATE_HZ, decode_audio
from transcription.captions_client import CaptionProcess, feed_realtime, opus_packets
from transcription.engines import FasterWhisperEngine
from transcription.models import ModelInfo
from transcription.wer import error_rates

pytestmark = [pytest.mark.asr, pytest.mark.e2e, pytest.mark.timeout(600)]

PAUSE_S = 0.8  # between sentences: longer than the 0.5 s of silence that finalises an utterance
MEETING_START_S = 42.0  # the speech starts here on the meeting clock
UTTERANCES = 5
# A final caption arrives at most this long after the end of its last word. The target is 3 s at p95
# (benchmarks/captions measures it); this bound is what a shared 2-core CI machine keeps under load. The
# process runs un-niced here: niced, it yields to every other test on the machine, which is its purpose
# in production (it yields to the media process) but would measure the other tests, not the engine.
MAX_DELAY_S = 12.0
# Captions vs the offline pass of the same audio, both against the references: at most this much worse. A
# regression bound, not the target (+5 points, not met yet: README, Live captions): on these 5 clips
# (51 words, one word is 2 points) the captions read 0.216 and the offline pass 0.157 (+5.9) at 853d49c and
# after it, where 0.196 had been measured for the offline pass before; 0.08 leaves one word of room.
WER_MARGIN = {"espeak": 0.10, "vivos": 0.08}


def test_captions_arrive_in_order_soon_after_speech_and_match_the_offline_pass(
    speech_corpus: Corpus, packaged_model: ModelInfo, faster_engine: FasterWhisperEngine
) -> None:
    utterances = speech_corpus.utterances()[:UTTERANCES]
    pause = np.zeros(round(PAUSE_S * SAMPLE_RATE_HZ), dtype=np.float32)
    audio = np.concatenate([part for u in utterances for part in (decode_audio(u.path), pause)])
    reference = " ".join(u.text for u in utterances)
    packets = opus_packets(audio)

    process = CaptionProcess(["--model", str(packaged_model.path), "--no-nice"])
    try:
        process.wait_ready()
        t0 = feed_realtime(process, "CHUMO", packets, start_s=MEETING_START_S)
        speech_end_s = MEETING_START_S + audio.size / SAMPLE_RATE_HZ
        closed = process.close()
    finally:
        process.kill()

    finals = process.captions(final=True)
    assert len(finals) >= UTTERANCES - 1, [e.data for e in process.captions()]
    # in order, on the meeting clock, inside the speech
    previous_end = MEETING_START_S
    for event in finals:
        caption = event.data
        assert caption["unit"] == "CHUMO" and caption["text"]
        assert previous_end - 1e-3 <= caption["start"] <= caption["end"] <= speech_end_s + 0.05
        previous_end = caption["end"]
    assert [e.received_s for e in finals] == sorted(e.received_s for e in finals)
    # soon after the words were said (the audio was sent in real time from t0)
    delays = [e.received_s - (t0 + e.data["end"]) for e in finals]
    print(f"\n{speech_corpus.name}: final-caption delays (s): {', '.join(f'{d:.1f}' for d in delays)}")
    # bounded on real speech only: on espeak's voice the base model loops on a word and its temperature
    # fallback re-decodes, so the delay measures that (23.5 s seen once in a CI-like run, else 1.7-11.3 s)
    if speech_corpus.name != "espeak":
        assert max(delays) <= MAX_DELAY_S
    # the process stayed small and never decoded more than its bound
    assert closed.data["max_rss_mb"] <= 700
    assert closed.data["max_buffer_s"] <= 15.0 + 1.0

    captions_text = " ".join(e.data["text"] for e in finals)
    offline_text = " ".join(s.text for s in faster_engine.transcribe(audio))
    live = error_rates([reference], [captions_text]).wer
    offline = error_rates([reference], [offline_text]).wer
    between = error_rates([offline_text], [captions_text]).wer
    name = speech_corpus.name
    print(f"{name}: caption WER {live:.3f}, offline {offline:.3f}, captions vs offline {between:.3f}")
    print(f"captions: {captions_text}\noffline:  {offline_text}")
    if speech_corpus.name != "espeak":  # espeak: WER 0.81-1.06 as the model loops; printed, not bounded
        assert live <= offline + WER_MARGIN[speech_corpus.name]


def test_the_process_is_niced_and_finalises_on_close(packaged_model: ModelInfo) -> None:
    """Niced by 10 from its parent; a close finalises the speech it holds (no silence needed)."""
    utterance = decode_audio(Corpus("espeak", "").utterances()[0].path)
    process = CaptionProcess(["--model", str(packaged_model.path)])
    try:
        ready = process.wait_ready()
        assert os.getpriority(os.PRIO_PROCESS, ready.data["pid"]) == os.getpriority(os.PRIO_PROCESS, 0) + 10
        for index, packet in enumerate(opus_packets(utterance)):
            process.send_opus("IATUL", 5.0 + index * 0.02, packet)
        closed = process.close(timeout_s=120)
    finally:
        process.kill()
    finals = process.captions(final=True)
    assert finals and all(e.data["unit"] == "IATUL" for e in finals)
    assert finals[0].data["start"] >= 5.0 and finals[-1].received_s <= closed.received_s
