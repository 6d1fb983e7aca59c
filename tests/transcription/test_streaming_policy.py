"""The LocalAgreement-2 policy on its own (transcription/streaming.py), with a fake decoder and a fake voice
detector. The audio fed in carries its own meeting-clock time (sample value = time in seconds), so the fakes
know which part of the stream they were given, as Whisper would from the sound."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pytest

from transcription.audio import SAMPLE_RATE_HZ
from transcription.streaming import (
    VAD_WINDOW_SAMPLES,
    Caption,
    Hypothesis,
    HypothesisBuffer,
    StreamingOptions,
    StreamingTranscriber,
    TimedWord,
    cut_loop,
)


def clock(start_s: float, duration_s: float) -> np.ndarray:
    """Audio whose every sample holds its meeting-clock time."""
    n = round(duration_s * SAMPLE_RATE_HZ)
    return (start_s + np.arange(n) / SAMPLE_RATE_HZ).astype(np.float32)


def words_at(*spans: tuple[float, float, str]) -> list[TimedWord]:
    return [TimedWord(a, b, t) for a, b, t in spans]


class ScriptedDecoder:
    """Returns the scripted hypotheses in turn (times relative to the buffer), recording what it was given."""

    def __init__(self, hypotheses: Sequence[Sequence[TimedWord]]) -> None:
        self.hypotheses = list(hypotheses)
        self.calls: list[tuple[float, float, str]] = []  # (buffer start, buffer end, prompt)

    def decode(self, audio: np.ndarray, *, prompt: str, final: bool = False) -> Hypothesis:
        self.calls.append((float(audio[0]), float(audio[-1]), prompt))
        return Hypothesis(tuple(self.hypotheses.pop(0)))


class TimelineDecoder:
    """A speaker saying ``words`` (absolute times): a decode returns the words inside the buffer, relative to
    it; the words ending in the last ``unstable_s`` of the buffer come out garbled (Whisper's unstable tail),
    differently on every decode, so they cannot be agreed on until more audio follows them. Every
    ``segment_every`` words close a segment."""

    def __init__(
        self, words: Sequence[TimedWord], *, unstable_s: float = 0.6, segment_every: int = 4
    ) -> None:
        self.words = list(words)
        self.unstable_s = unstable_s
        self.segment_every = segment_every
        self.calls: list[tuple[float, float, str]] = []

    def decode(self, audio: np.ndarray, *, prompt: str, final: bool = False) -> Hypothesis:
        start, end = float(audio[0]), float(audio[-1]) + 1 / SAMPLE_RATE_HZ
        self.calls.append((start, end, prompt))
        out: list[TimedWord] = []
        ends: list[float] = []
        for index, w in enumerate(self.words):
            if w.start_s < start - 0.01 or w.end_s > end:
                continue
            text = w.text if w.end_s <= end - self.unstable_s else f"{w.text}~{len(self.calls)}"
            out.append(TimedWord(w.start_s - start, w.end_s - start, text))
            if (index + 1) % self.segment_every == 0:
                ends.append(w.end_s - start)
        if out and (not ends or ends[-1] < out[-1].end_s):
            ends.append(out[-1].end_s)
        return Hypothesis(tuple(out), tuple(ends))


class ScheduledVad:
    """Speech inside the given intervals (meeting clock), silence elsewhere."""

    def __init__(self, speech: Sequence[tuple[float, float]]) -> None:
        self.speech = speech

    def probabilities(self, windows: np.ndarray) -> np.ndarray:
        times = windows.reshape(-1, VAD_WINDOW_SAMPLES)[:, VAD_WINDOW_SAMPLES // 2]
        return np.array([1.0 if any(a <= t < b for a, b in self.speech) else 0.0 for t in times])


def feed(
    transcriber: StreamingTranscriber, start_s: float, duration_s: float, chunk_s: float = 0.5
) -> list[Caption]:
    """Feed the clock signal in chunks, decoding whenever it is due (as the caption process does)."""
    captions: list[Caption] = []
    t = start_s
    while t < start_s + duration_s - 1e-9:
        size = min(chunk_s, start_s + duration_s - t)
        captions += transcriber.insert_audio(clock(t, size), t)
        captions += transcriber.process()
        t += size
    return captions


def finals(captions: Sequence[Caption]) -> list[Caption]:
    return [c for c in captions if c.final]


def assert_monotone(captions: Sequence[Caption]) -> None:
    previous_end = float("-inf")
    for caption in finals(captions):
        assert caption.start_s >= previous_end - 1e-9 and caption.end_s >= caption.start_s
        previous_end = caption.end_s


def speaker(start_s: float, count: int, word_s: float = 0.4, *, name: str = "w") -> list[TimedWord]:
    return [
        TimedWord(start_s + i * word_s, start_s + (i + 1) * word_s - 0.05, f"{name}{i}") for i in range(count)
    ]


# -- HypothesisBuffer ----------------------------------------------------------------------------------------


def test_commits_the_longest_common_prefix_of_two_hypotheses() -> None:
    buffer = HypothesisBuffer()
    buffer.insert(words_at((0.0, 0.4, "xã"), (0.5, 0.9, "Chư"), (1.0, 1.3, "mố")))
    assert buffer.flush() == []  # one hypothesis: nothing agreed yet
    buffer.insert(words_at((0.0, 0.4, "Xã"), (0.5, 0.9, "Chư"), (1.0, 1.4, "Mố,"), (1.5, 1.9, "báo")))
    committed = buffer.flush()
    # compared without case or punctuation; the newest hypothesis' spelling is kept
    assert [w.text for w in committed] == ["Xã", "Chư", "Mố,"]
    assert buffer.last_committed_s == 1.4
    assert [w.text for w in buffer.tentative()] == ["báo"]
    buffer.insert(words_at((0.0, 0.4, "Xã"), (0.5, 0.9, "Chư"), (1.0, 1.4, "Mố"), (1.5, 1.9, "bảo")))
    assert buffer.flush() == []  # "báo" vs "bảo": no agreement, nothing committed twice
    assert [w.text for w in buffer.tentative()] == ["bảo"]


def test_drops_words_decoded_again_across_the_commit_boundary() -> None:
    buffer = HypothesisBuffer()
    for _ in range(2):
        buffer.insert(words_at((0.0, 0.4, "ba"), (0.5, 0.9, "kênh"), (1.0, 1.4, "mương")))
        buffer.flush()
    assert [w.text for w in buffer.committed_in_buffer] == ["ba", "kênh", "mương"]
    # the decoder shifted its timestamps: "mương" comes again just after the committed end, then new words
    buffer.insert(words_at((1.35, 1.45, "mương"), (1.5, 1.9, "nội"), (2.0, 2.4, "đồng")))
    assert [w.text for w in buffer.new] == ["nội", "đồng"]
    buffer.pop_committed(0.9)
    assert [w.text for w in buffer.committed_in_buffer] == ["mương"]


# -- StreamingTranscriber ------------------------------------------------------------------------------------


def test_finals_are_agreed_prefixes_and_partials_the_tail_on_the_meeting_clock() -> None:
    decoder = ScriptedDecoder(
        [
            words_at((0.1, 0.5, "xã"), (0.6, 0.9, "trư")),
            words_at((0.1, 0.5, "xã"), (0.6, 1.0, "Chư"), (1.1, 1.5, "Mố"), (1.6, 1.9, "báo")),
            words_at(
                (0.1, 0.5, "xã"), (0.6, 1.0, "Chư"), (1.1, 1.5, "Mố"), (1.6, 2.0, "báo"), (2.1, 2.6, "cáo")
            ),
        ]
    )
    transcriber = StreamingTranscriber(decoder, None, StreamingOptions(min_chunk_s=1.0))
    captions = feed(transcriber, 100.0, 3.0, chunk_s=1.0)
    assert [(c.text, c.final) for c in captions] == [
        ("xã trư", False),
        ("xã", True),
        ("Chư Mố báo", False),
        ("Chư Mố báo", True),
        ("cáo", False),
    ]
    assert captions[1].start_s == pytest.approx(100.1) and captions[1].end_s == pytest.approx(100.5)
    assert captions[3].start_s == pytest.approx(100.6) and captions[3].end_s == pytest.approx(102.0)
    assert [c[0] for c in decoder.calls] == [pytest.approx(100.0)] * 3  # the buffer grows from its start
    # end of speech: the undecoded rest is decoded once more and everything left becomes final
    decoder.hypotheses.append(
        words_at((0.1, 0.5, "xã"), (0.6, 1.0, "Chư"), (1.1, 1.5, "Mố"), (1.6, 2.0, "báo"), (2.1, 2.5, "cáo."))
    )
    transcriber.insert_audio(clock(103.0, 0.5), 103.0)
    last = transcriber.finish()
    assert [(c.text, c.final) for c in last] == [("cáo.", True)]
    assert_monotone([*captions, *last])
    assert transcriber.finish() == []  # nothing left


def test_long_monologue_keeps_the_buffer_bounded_and_loses_no_word() -> None:
    said = speaker(0.0, 150)  # 60 s without a pause
    decoder = TimelineDecoder(said)
    options = StreamingOptions(min_chunk_s=1.0, trim_s=10.0, max_buffer_s=15.0)
    transcriber = StreamingTranscriber(decoder, None, options)
    captions = feed(transcriber, 0.0, 61.0)  # the last word ends at 59.95, then a second of pause
    captions += transcriber.finish()
    assert " ".join(c.text for c in finals(captions)) == " ".join(w.text for w in said)
    assert_monotone(captions)
    # every decode saw at most max_buffer_s plus the chunk that arrived since the last cut
    longest = max(end - start for start, end, _ in decoder.calls)
    assert longest <= options.max_buffer_s + options.min_chunk_s
    assert transcriber.max_buffer_seen_s <= options.max_buffer_s + options.min_chunk_s
    # trimming happened at committed segment ends, and what was cut came back as the prompt
    assert decoder.calls[-1][0] > 40.0
    assert any(prompt for _, _, prompt in decoder.calls)
    prompted = next(p for _, _, p in decoder.calls if p)
    assert prompted.split()[-1] in {w.text for w in said} and len(prompted) <= options.prompt_chars + 8
    # and the partials ran ahead of the finals
    assert len([c for c in captions if not c.final]) >= 10


def test_a_decoder_that_never_agrees_cannot_grow_the_buffer() -> None:
    class Unstable:
        def __init__(self) -> None:
            self.count = 0
            self.lengths: list[float] = []

        def decode(self, audio: np.ndarray, *, prompt: str, final: bool = False) -> Hypothesis:
            self.count += 1
            self.lengths.append(audio.size / SAMPLE_RATE_HZ)
            return Hypothesis((TimedWord(0.0, audio.size / SAMPLE_RATE_HZ - 0.1, f"ồn{self.count}"),))

    decoder = Unstable()
    options = StreamingOptions(min_chunk_s=1.0, max_buffer_s=6.0, trim_s=4.0)
    transcriber = StreamingTranscriber(decoder, None, options)
    captions = feed(transcriber, 0.0, 30.0)
    assert max(decoder.lengths) <= options.max_buffer_s + options.min_chunk_s
    assert finals(captions), "the bound finalised what it could not agree on"
    assert_monotone(captions)


def test_silence_finalises_the_utterance_and_is_never_decoded() -> None:
    said = speaker(10.2, 7) + speaker(16.1, 5, name="v")
    decoder = TimelineDecoder(said, unstable_s=0.3)
    vad = ScheduledVad([(10.0, 13.0), (16.0, 18.2)])
    options = StreamingOptions(min_chunk_s=1.0, silence_flush_s=0.5, pre_speech_s=0.3)
    transcriber = StreamingTranscriber(decoder, vad, options)
    first = feed(transcriber, 10.0, 3.6, chunk_s=0.2)  # speech ends at 13.0, fed up to 13.6
    assert not transcriber.in_speech
    assert " ".join(c.text for c in finals(first)) == " ".join(w.text for w in said[:7])
    decodes = len(decoder.calls)
    silence = feed(transcriber, 13.6, 2.2, chunk_s=0.2)  # nothing but silence up to 15.8
    assert silence == [] and len(decoder.calls) == decodes
    second = feed(transcriber, 15.8, 3.0, chunk_s=0.2)
    assert " ".join(c.text for c in finals(second)) == " ".join(w.text for w in said[7:])
    # the second utterance's buffer starts pre_speech_s before its speech, not back in the silence
    assert decoder.calls[decodes][0] == pytest.approx(16.0 - options.pre_speech_s, abs=0.04)
    assert_monotone([*first, *second])


def test_a_long_gap_in_the_stream_ends_speech_and_a_short_one_is_silence() -> None:
    decoder = TimelineDecoder(speaker(0.0, 5) + speaker(20.0, 3, name="v"), unstable_s=0.3)
    transcriber = StreamingTranscriber(decoder, None, StreamingOptions(min_chunk_s=1.0, max_gap_fill_s=1.0))
    captions = feed(transcriber, 0.0, 2.0)
    captions += transcriber.insert_audio(clock(2.4, 0.1), 2.4)  # 0.4 s missing: filled, same utterance
    assert transcriber.buffer_s == pytest.approx(2.5)
    assert [c.text for c in finals(captions)] == ["w0"]  # decodes at 1 s and 2 s agree on w0 only
    later = transcriber.insert_audio(clock(20.0, 0.5), 20.0)  # 17.5 s missing: the utterance is finalised
    assert " ".join(c.text for c in finals(later)) == "w1 w2 w3 w4"
    assert all(c.end_s <= 2.5 for c in later)
    later += feed(transcriber, 20.5, 1.0) + transcriber.finish()
    assert " ".join(c.text for c in finals(later)) == "w1 w2 w3 w4 v0 v1 v2"
    assert_monotone([*captions, *later])


def test_the_caption_process_reports_its_own_peak_memory_not_its_parents() -> None:
    """A child started by a big parent (the test run, 2.7 GB late in CI) reports its own peak: getrusage's
    ru_maxrss carries the parent's across fork + exec (a 700 MB bound failed at 2 711 MB for that reason)."""
    import subprocess
    import sys

    ballast = bytearray(400 * 1024 * 1024)
    for i in range(0, len(ballast), 4096):
        ballast[i] = 1
    code = "from transcription.captions_worker import max_rss_mb; print(max_rss_mb())"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert float(out) < 300, out
    del ballast


class SplicedDecoder:
    """A speaker saying ``words`` (absolute times), heard in audio that may be spliced (the context, then a
    later buffer): a word is returned when its whole span is in the audio, at its position in the audio as
    given (as Whisper times what it hears), with the audio's first and last clock times and the prompt
    recorded."""

    def __init__(self, words: Sequence[TimedWord]) -> None:
        self.words = list(words)
        self.calls: list[tuple[float, float, str]] = []

    def decode(self, audio: np.ndarray, *, prompt: str, final: bool = False) -> Hypothesis:
        self.calls.append((float(audio[0]), float(audio[-1]), prompt))
        out = []
        for w in self.words:
            inside = np.flatnonzero((audio >= w.start_s) & (audio < w.end_s))
            if inside.size and audio[inside[0]] - w.start_s < 0.01 and w.end_s - audio[inside[-1]] < 0.01:
                start = inside[0] / SAMPLE_RATE_HZ
                out.append(TimedWord(start, start + w.end_s - w.start_s, w.text))
        return Hypothesis(tuple(out), (out[-1].end_s,) if out else ())


@pytest.mark.parametrize("context_s", [0.0, 2.0, 30.0])
def test_audio_context_is_decoded_before_the_buffer_and_its_words_are_not_captioned_again(
    context_s: float,
) -> None:
    said = speaker(10.2, 7) + speaker(16.1, 5, name="v")
    decoder = SplicedDecoder(said)
    vad = ScheduledVad([(10.0, 13.0), (16.0, 18.2)])
    options = StreamingOptions(min_chunk_s=1.0, silence_flush_s=0.5, pre_speech_s=0.3, context_s=context_s)
    transcriber = StreamingTranscriber(decoder, vad, options)
    first = feed(transcriber, 10.0, 3.6, chunk_s=0.2)
    decodes = len(decoder.calls)
    second = feed(transcriber, 13.6, 5.2, chunk_s=0.2)
    captions = [*first, *second]
    # every word captioned once, in order, at its own time
    words = [w for c in finals(captions) for w in c.words]
    assert [w.text for w in words] == [w.text for w in said]
    for got, want in zip(words, said, strict=True):
        assert got.start_s == pytest.approx(want.start_s, abs=0.02)
    assert_monotone(captions)
    # the second utterance's decodes start context_s before its buffer (at most the first utterance's audio:
    # its buffer, 10.0-13.5 s), with no text prompt; without context they start at the buffer, as before
    buffer_start_s = 16.0 - options.pre_speech_s
    first_heard_s = decoder.calls[decodes][0]
    if context_s == 0:
        assert first_heard_s == pytest.approx(buffer_start_s, abs=0.04)
    else:
        assert first_heard_s == pytest.approx(max(10.0, 13.5 - context_s), abs=0.25)
        assert all(prompt == "" for _, _, prompt in decoder.calls)


class OneSegmentDecoder(SplicedDecoder):
    """SplicedDecoder whose hypothesis is one Whisper segment (no segment end to trim the buffer at: only the
    hard bound cuts it)."""

    def decode(self, audio: np.ndarray, *, prompt: str, final: bool = False) -> Hypothesis:
        heard = super().decode(audio, prompt=prompt, final=final)
        return Hypothesis(heard.words, heard.segment_ends_s[-1:])


class EarlyStartDecoder(SplicedDecoder):
    """SplicedDecoder timing each word as Whisper often does after a pause: starting up to 0.6 s early, in
    the silence before it (never before the previous word's end)."""

    def decode(self, audio: np.ndarray, *, prompt: str, final: bool = False) -> Hypothesis:
        heard = super().decode(audio, prompt=prompt, final=final)
        out: list[TimedWord] = []
        for w in heard.words:
            start = max(out[-1].end_s if out else 0.0, w.start_s - 0.6)
            out.append(TimedWord(start, w.end_s, w.text))
        return Hypothesis(tuple(out), heard.segment_ends_s)


def two_utterances_with_context(decoder: SplicedDecoder, first_end_s: float) -> list[Caption]:
    """Speech from 10.0 s to ``first_end_s`` and from 16.0 to 18.2 s, 10 s of audio context, fed until 18.8 s
    in two calls split 0.6 s after the first utterance."""
    vad = ScheduledVad([(10.0, first_end_s), (16.0, 18.2)])
    options = StreamingOptions(min_chunk_s=1.0, silence_flush_s=0.5, pre_speech_s=0.3, context_s=10.0)
    transcriber = StreamingTranscriber(decoder, vad, options)
    split_s = first_end_s + 0.6
    return feed(transcriber, 10.0, split_s - 10.0, chunk_s=0.2) + feed(
        transcriber, split_s, 18.8 - split_s, chunk_s=0.2
    )


def test_a_buffer_word_timed_early_into_the_pause_is_not_taken_for_context() -> None:
    # the second utterance's first word (16.1 s) is timed from 15.5 s, before its buffer (15.7 s): it is the
    # buffer's by its middle; the last context word (13.0 s) is the context's however it is timed
    said = speaker(10.2, 7) + speaker(16.1, 5, name="v")
    captions = two_utterances_with_context(EarlyStartDecoder(said), first_end_s=13.0)
    assert [w.text for c in finals(captions) for w in c.words] == [w.text for w in said]
    assert_monotone(captions)


class FinalMarkingDecoder(SplicedDecoder):
    """SplicedDecoder that also records which decodes were an utterance's last."""

    def __init__(self, words: Sequence[TimedWord]) -> None:
        super().__init__(words)
        self.finals: list[bool] = []

    def decode(self, audio: np.ndarray, *, prompt: str, final: bool = False) -> Hypothesis:
        self.finals.append(final)
        return super().decode(audio, prompt=prompt, final=final)


def test_audio_context_on_the_last_decode_only_leaves_the_interim_decodes_alone() -> None:
    said = speaker(10.2, 7) + speaker(16.1, 5, name="v")
    decoder = FinalMarkingDecoder(said)
    vad = ScheduledVad([(10.0, 13.0), (16.0, 18.2)])
    options = StreamingOptions(min_chunk_s=1.0, silence_flush_s=0.5, pre_speech_s=0.3, final_context_s=2.0)
    transcriber = StreamingTranscriber(decoder, vad, options)
    first = feed(transcriber, 10.0, 3.6, chunk_s=0.2)
    decodes = len(decoder.calls)
    second = feed(transcriber, 13.6, 5.2, chunk_s=0.2)
    captions = [*first, *second]
    words = [w for c in finals(captions) for w in c.words]
    assert [w.text for w in words] == [w.text for w in said]  # every word once, in order
    assert_monotone(captions)
    second_calls = list(zip(decoder.calls[decodes:], decoder.finals[decodes:], strict=True))
    assert [final for _, final in second_calls].count(True) == 1 and second_calls[-1][1]
    buffer_start_s = 16.0 - options.pre_speech_s
    for (first_heard_s, _, prompt), final in second_calls:
        if final:  # the last decode hears the 2 s before the buffer (the end of the first utterance)
            assert first_heard_s == pytest.approx(13.5 - 2.0, abs=0.25)
            assert prompt == ""
        else:  # the interim ones only the buffer, as without context
            assert first_heard_s == pytest.approx(buffer_start_s, abs=0.04)


def test_a_partial_the_last_decode_does_not_confirm_is_withdrawn_by_an_empty_final() -> None:
    # two decodes disagree (a partial is shown), then the utterance's last decode hears nothing there
    # (Whisper's no-speech or hallucination filter): the viewer must not be left with the partial on screen
    decoder = ScriptedDecoder(
        [
            words_at((0.2, 0.6, "Hà"), (0.6, 0.9, "Vét")),
            words_at((0.2, 0.6, "Lãng"), (0.6, 1.1, "xã")),
            [],
        ]
    )
    transcriber = StreamingTranscriber(decoder, None, StreamingOptions(min_chunk_s=1.0))
    captions = feed(transcriber, 5.0, 2.2)
    assert captions and not captions[-1].final and captions[-1].text == "Lãng xã"
    captions = transcriber.finish()
    assert [(c.text, c.final) for c in captions] == [("", True)]
    assert captions[0].start_s == pytest.approx(5.2) and captions[0].end_s == pytest.approx(6.1)
    # nothing open: an utterance that ends without a partial showing gives no caption at all
    assert transcriber.finish() == []


def test_a_repetition_loop_to_the_end_of_the_hypothesis_is_kept_once() -> None:
    # the loop seen on VIVOS (30 clips, idle machine): "Ấn gần sâu," 25 times to the window's end, 75 words
    # inserted into the captions (WER 0.327 -> 0.561)
    def timed(texts: Sequence[str]) -> list[TimedWord]:
        return [TimedWord(0.2 + 0.1 * i, 0.25 + 0.1 * i, t) for i, t in enumerate(texts)]

    def kept(text: str) -> str:
        return " ".join(w.text for w in cut_loop(timed(text.split())))

    assert kept("Những con " + "Ấn gần sâu, " * 25) == "Những con Ấn gần sâu,"
    assert kept("Những con " + "Ấn gần sâu, " * 5 + "Ấn gần") == "Những con Ấn gần sâu,"  # a partial copy
    # as seen, its first copy spelt differently and its last cut short: the loop is found from its earliest
    # word, one turn of it kept
    assert kept("Ấng gần sâu, " + "Ấn gần sâu, " * 24 + "Ấn gần s") == "Ấng gần sâu, Ấn"
    assert kept("Chúng ta sẽ " + "chẳng " * 40) == "Chúng ta sẽ chẳng"
    # speech that repeats itself, and is followed by more speech or repeats less than a loop does, stays
    for said in [
        "vâng vâng vâng tôi đồng ý với ý kiến này",
        "không không không phải như vậy đâu",
        "alô alô alô",
        "rất rất rất rất tốt",
        "từ từ vừa đi vừa đi tiếp , rất rất tốt Ia Tul Ia Tul",
        "một , hai , ba , bốn",
        "- - - xin chào",
        "- - - - - -",
        "Ia Tul có Ia Tul có Ia Tul có mặt",
    ]:
        assert kept(said) == said


def test_a_repetition_in_the_audio_context_does_not_cut_the_buffer() -> None:
    # the context (the earlier utterance, decoded again) ends on a loop-like repetition; the buffer's words,
    # after it, are what counts and are all captioned
    said = [
        *[TimedWord(10.2 + 0.4 * i, 10.5 + 0.4 * i, t) for i, t in enumerate(["Ấn", "gần", "sâu"] * 3)],
        *speaker(16.1, 5, name="v"),
    ]
    captions = two_utterances_with_context(SplicedDecoder(said), first_end_s=13.8)
    words = [w.text for c in finals(captions) for w in c.words]
    assert words[-5:] == ["v0", "v1", "v2", "v3", "v4"], words


def test_short_words_at_a_hard_cut_with_context_are_captioned_once() -> None:
    # one long utterance of short words (0.15 s), the buffer cut hard again and again, 10 s of context: a word
    # ending at the new buffer's start must not be taken for the buffer's (by its middle) and captioned again
    said = speaker(10.2, 80, word_s=0.2)
    decoder = OneSegmentDecoder(said)
    vad = ScheduledVad([(10.0, 26.5)])
    options = StreamingOptions(min_chunk_s=1.0, trim_s=3.0, max_buffer_s=5.0, context_s=10.0)
    transcriber = StreamingTranscriber(decoder, vad, options)
    captions = feed(transcriber, 10.0, 17.5, chunk_s=0.2) + transcriber.finish()
    assert [w.text for c in finals(captions) for w in c.words] == [w.text for w in said]
    assert_monotone(captions)


def test_two_decodes_agreeing_on_a_loop_commit_it_once() -> None:
    looped = [TimedWord(0.3 + 0.05 * i, 0.33 + 0.05 * i, t) for i, t in enumerate(["Ấn", "gần", "sâu"] * 12)]
    decoder = ScriptedDecoder([looped, looped, looped])
    transcriber = StreamingTranscriber(decoder, None, StreamingOptions(min_chunk_s=1.0))
    captions = feed(transcriber, 5.0, 2.2) + transcriber.finish()
    assert " ".join(c.text for c in finals(captions)) == "Ấn gần sâu"
    assert_monotone(captions)
