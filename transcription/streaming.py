"""Live captions of one speaker: the LocalAgreement-2 streaming policy over a Whisper decoder.

The policy is whisper_streaming's (ÚFAL; Macháček, Dabre and Bojar, "Turning Whisper into Real-Time
Transcription System", 2023), written again for this project:

- audio is appended to a buffer; about every ``min_chunk_s`` of new speech the whole buffer is decoded again;
- the words two consecutive hypotheses agree on (longest common prefix, compared on normalised text) are
  committed: they become a *final* caption and never change; the rest of the latest hypothesis is the
  *partial* caption;
- once the buffer is longer than ``trim_s``, it is cut at the end of a Whisper segment that is already
  committed (the "segment" trimming of whisper_streaming); committed text cut away becomes the decoder's
  prompt (its last ``prompt_chars`` characters), so the next decodes keep the context;
- unlike whisper_streaming, the buffer is bounded hard at ``max_buffer_s``: past it, the buffer is cut at the
  last committed word, and if nothing is committed the current hypothesis is finalised as it stands;
- a voice detector (Silero, as whisper_streaming's VAC) gates it: silence before speech is never decoded
  (only ``pre_speech_s`` of it is kept as lead-in), and ``silence_flush_s`` of silence after speech ends the
  utterance: what is left is decoded once more and finalised.

Times are on the meeting clock: each chunk of audio comes with the meeting-clock time of its first sample.
A gap between chunks up to ``max_gap_fill_s`` is filled with silence; a longer one ends the utterance.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from transcription.audio import SAMPLE_RATE_HZ, Audio
from transcription.engines.base import clean_segments, limit_hotwords
from transcription.engines.fasterwhisper import (
    FasterWhisperEngine,
    FasterWhisperOptions,
    _to_segment,
)
from transcription.engines.fasterwhisper_window import EncoderWindow, check_short_encode, encoder_window
from transcription.models import ModelInfo
from transcription.wer import normalize_vi

logger = logging.getLogger(__name__)

VAD_WINDOW_SAMPLES = 512  # Silero's window at 16 kHz (32 ms)
VAD_CONTEXT_SAMPLES = 64
# whisper_streaming drops a new word that starts this long before the last committed word's end, and looks
# for an n-gram (n <= MAX_OVERLAP_WORDS) repeated across the commit boundary when the new words start within
# OVERLAP_WINDOW_S of it.
COMMIT_SLACK_S = 0.1
OVERLAP_WINDOW_S = 1.0
MAX_OVERLAP_WORDS = 5
# Whisper's repetition loop ("Ấn gần sâu, Ấn gần sâu, ..." to the end of the window): a phrase of up to
# MAX_LOOP_WORDS words repeated to the end of a hypothesis, at least MIN_LOOP_REPEATS times (a single word:
# MIN_LOOP_REPEATS_ONE_WORD times), is a loop, not speech.
MAX_LOOP_WORDS = 6
MIN_LOOP_REPEATS = 3
MIN_LOOP_REPEATS_ONE_WORD = 5


@dataclass(frozen=True)
class TimedWord:
    """A word and its span in seconds (relative to the decoded audio, or on the meeting clock)."""

    start_s: float
    end_s: float
    text: str

    @property
    def key(self) -> str:
        """What two hypotheses compare: the word without case or punctuation."""
        return normalize_vi(self.text)

    def shifted(self, by_s: float) -> TimedWord:
        return TimedWord(self.start_s + by_s, self.end_s + by_s, self.text)


@dataclass(frozen=True)
class Hypothesis:
    """One decode of the buffer: its words and the ends of Whisper's segments, relative to the buffer."""

    words: tuple[TimedWord, ...]
    segment_ends_s: tuple[float, ...] = ()


@dataclass(frozen=True)
class Caption:
    """A caption on the meeting clock. A final one never changes; a partial one is replaced by the next."""

    text: str
    start_s: float
    end_s: float
    final: bool
    words: tuple[TimedWord, ...] = ()


class Decoder(Protocol):
    """Speech to timed words: the Whisper part of the policy (a fake one in unit tests)."""

    def decode(self, audio: Audio, *, prompt: str, final: bool = False) -> Hypothesis:
        """``final``: the utterance's last decode (worth the slower, surer settings)."""
        ...


class VoiceDetector(Protocol):
    """Speech probability per window of :data:`VAD_WINDOW_SAMPLES` samples, fed the stream in order."""

    def probabilities(self, windows: Audio) -> np.ndarray:
        """``windows`` holds whole windows (a multiple of VAD_WINDOW_SAMPLES); one probability per window."""
        ...


@dataclass(frozen=True)
class StreamingOptions:
    min_chunk_s: float = 1.0  # decode again once this much new speech has arrived
    # ... or this share of the buffer, if more: a long buffer is decoded again less often (0: never less)
    chunk_growth: float = 0.0
    trim_s: float = 10.0  # past this length, cut the buffer at a committed segment end
    max_buffer_s: float = 15.0  # hard bound on the decoded buffer
    prompt_chars: int = 200  # committed text cut from the buffer, given back as the prompt (0: none)
    speech_threshold: float = 0.5  # a window this likely speech starts an utterance
    silence_threshold: float = 0.35  # a window less likely than this counts as silence
    silence_flush_s: float = 0.5  # this much silence after speech finalises the utterance
    pre_speech_s: float = 0.3  # audio kept before the first speech window
    max_gap_fill_s: float = 1.0  # a gap between chunks up to this is filled with silence, longer ends speech
    min_final_decode_s: float = 0.1  # undecoded audio shorter than this is not decoded again at the end
    # Audio context: up to this much of the unit's audio before the buffer (its earlier utterances, what was
    # cut from the buffer) is decoded with it, and the words heard in it dropped; the model then hears more
    # than one short utterance, as the offline pass does (0: each buffer decoded alone, with a text prompt).
    context_s: float = 0.0
    # The same, only for an utterance's last decode (the one that finalises what agreement left tentative):
    # the interim decodes stay cheap (0: as context_s).
    final_context_s: float = 0.0

    def context_for(self, final: bool) -> float:
        """Seconds of audio context a decode gets (the utterance's last one when ``final``)."""
        return max(self.context_s, self.final_context_s) if final else self.context_s


class HypothesisBuffer:
    """LocalAgreement-2 (whisper_streaming's HypothesisBuffer): commits what two consecutive hypotheses share.

    Word times are absolute (meeting clock).
    """

    def __init__(self, last_committed_s: float = 0.0) -> None:
        self.committed_in_buffer: list[TimedWord] = []
        self.previous: list[TimedWord] = []  # the last hypothesis beyond what is committed
        self.new: list[TimedWord] = []
        self.last_committed_s = last_committed_s

    def insert(self, words: Sequence[TimedWord]) -> None:
        """Take a new hypothesis: keep the words after the committed ones, minus an n-gram repeated across
        the boundary (the same words committed before and decoded again at the start of the new ones)."""
        self.new = [w for w in words if w.start_s > self.last_committed_s - COMMIT_SLACK_S]
        if not self.new or not self.committed_in_buffer:
            return
        if abs(self.new[0].start_s - self.last_committed_s) >= OVERLAP_WINDOW_S:
            return
        most = min(len(self.committed_in_buffer), len(self.new), MAX_OVERLAP_WORDS)
        for n in range(1, most + 1):
            tail = [w.key for w in self.committed_in_buffer[-n:]]
            head = [w.key for w in self.new[:n]]
            if tail == head:
                del self.new[:n]
                break

    def flush(self) -> list[TimedWord]:
        """The longest common prefix of the previous and the new hypothesis (committed now)."""
        commit: list[TimedWord] = []
        while self.new and self.previous and self.new[0].key == self.previous[0].key:
            commit.append(self.new.pop(0))
            self.previous.pop(0)
        if commit:
            self.last_committed_s = commit[-1].end_s
        self.previous, self.new = self.new, []
        self.committed_in_buffer.extend(commit)
        return commit

    def pop_committed(self, time_s: float) -> None:
        """Forget committed words that end by ``time_s`` (cut from the audio buffer)."""
        while self.committed_in_buffer and self.committed_in_buffer[0].end_s <= time_s:
            self.committed_in_buffer.pop(0)

    def tentative(self) -> list[TimedWord]:
        return list(self.previous)


def cut_loop(words: Sequence[TimedWord]) -> list[TimedWord]:
    """``words`` without a repetition loop at their end: a phrase repeated to the end of the hypothesis (a
    partial copy may close it) is kept once. Whisper's loop runs to the end of the window, the decoder having
    lost its place; neither the interim decodes (temperature 0 only) nor always the last one (its temperature
    fallback can end on a loop) are safe from it, and a loop two decodes agree on would be committed. A
    repetition that speech follows ("vâng vâng vâng, tôi đồng ý") is left alone, and so is a short one at the
    end: a phrase of several words counts from MIN_LOOP_REPEATS copies, a single word from
    MIN_LOOP_REPEATS_ONE_WORD."""
    keys = [w.key for w in words]
    for start in range(len(keys)):
        for size in range(1, MAX_LOOP_WORDS + 1):
            phrase = keys[start : start + size]
            if len(phrase) < size or not any(phrase):
                break
            copies = 1
            while keys[start + copies * size : start + (copies + 1) * size] == phrase:
                copies += 1
            rest = keys[start + copies * size :]  # a partial copy, its last word perhaps cut ("Ấn gần s")
            if len(rest) > size or not all(p.startswith(r) for r, p in zip(rest, phrase, strict=False)):
                continue  # speech follows the repetition: not a loop to the end
            if copies >= (MIN_LOOP_REPEATS_ONE_WORD if size == 1 else MIN_LOOP_REPEATS):
                logger.info("cut a repetition loop: %r", " ".join(w.text for w in words[start:]))
                return list(words[: start + size])
    return list(words)


def _text(words: Sequence[TimedWord]) -> str:
    return " ".join(w.text for w in words if w.text)


class StreamingTranscriber:
    """Captions of one speaker's audio stream (16 kHz mono float32, meeting-clock times).

    ``insert_audio`` takes chunks (and may finalise an utterance when the voice detector hears its end),
    ``process`` decodes when enough new speech has arrived, ``finish`` ends the utterance (end of speech,
    or the stream closes). Each returns the captions it produced, in order: final captions have monotone,
    non-overlapping times.
    """

    def __init__(
        self, decoder: Decoder, vad: VoiceDetector | None = None, options: StreamingOptions | None = None
    ) -> None:
        self.decoder = decoder
        self.vad = vad
        self.options = options or StreamingOptions()
        self.decodes = 0
        self.decoded_audio_s = 0.0
        self.max_buffer_seen_s = 0.0
        self._next_s: float | None = None  # meeting-clock time just after the last sample received
        self._vad_pending = np.zeros(0, dtype=np.float32)  # samples not yet a whole VAD window
        self._lead: list[Audio] = []  # audio before speech starts (at most pre_speech_s)
        self._lead_samples = 0
        self._last_final_end_s = float("-inf")
        self._context: Audio = np.zeros(0, dtype=np.float32)  # the unit's audio just before the buffer
        self._reset_utterance()

    # -- state ------------------------------------------------------------------------------------------

    def _reset_utterance(self) -> None:
        self._in_speech = False
        self._chunks: list[Audio] = []
        self._buffer_samples = 0
        self._offset_s = 0.0  # meeting-clock time of the buffer's first sample
        self._undecoded_samples = 0
        self._trailing_silence_s = 0.0
        self._committed: list[TimedWord] = []  # committed words of this utterance (the prompt's source)
        self._hyp = HypothesisBuffer()
        self._last_partial: tuple[str, float, float] | None = None

    @property
    def in_speech(self) -> bool:
        return self._in_speech

    @property
    def buffer_s(self) -> float:
        return self._buffer_samples / SAMPLE_RATE_HZ

    def due(self) -> bool:
        """Whether :meth:`process` would decode now."""
        o = self.options
        chunk = max(o.min_chunk_s * SAMPLE_RATE_HZ, o.chunk_growth * self._buffer_samples)
        return self._in_speech and self._undecoded_samples >= chunk

    def _buffer(self) -> Audio:
        if len(self._chunks) != 1:
            joined = np.concatenate(self._chunks) if self._chunks else np.zeros(0, dtype=np.float32)
            self._chunks = [joined]
        return self._chunks[0]

    # -- audio in ---------------------------------------------------------------------------------------

    def insert_audio(self, samples: Audio, start_s: float) -> list[Caption]:
        """Append ``samples`` whose first sample is at ``start_s`` on the meeting clock."""
        samples = np.asarray(samples, dtype=np.float32).reshape(-1)
        captions: list[Caption] = []
        if self._next_s is None:
            self._next_s = start_s
        else:
            gap_s = start_s - self._next_s
            if gap_s > self.options.max_gap_fill_s:  # a long gap: what was said before it is over
                captions += self.finish()
                self._vad_pending = np.zeros(0, dtype=np.float32)
                self._lead, self._lead_samples = [], 0
                self._next_s = start_s
            elif gap_s * SAMPLE_RATE_HZ >= 1:  # a short gap (lost or withheld audio): silence
                samples = np.concatenate([np.zeros(round(gap_s * SAMPLE_RATE_HZ), dtype=np.float32), samples])
            elif gap_s * SAMPLE_RATE_HZ <= -1:  # overlaps what was received: drop the repeated head
                samples = samples[round(-gap_s * SAMPLE_RATE_HZ) :]
        # from here ``samples`` start at self._next_s
        samples_start_s = self._next_s
        self._next_s += samples.size / SAMPLE_RATE_HZ
        if self.vad is None:
            if samples.size:
                self._append_speech(samples, samples_start_s)
            return captions
        first_s = samples_start_s - self._vad_pending.size / SAMPLE_RATE_HZ  # where the pending windows start
        pending = np.concatenate([self._vad_pending, samples])
        whole = pending.size - pending.size % VAD_WINDOW_SAMPLES
        windows, self._vad_pending = pending[:whole], pending[whole:]
        if whole == 0:
            return captions
        probabilities = self.vad.probabilities(windows)
        window_s = VAD_WINDOW_SAMPLES / SAMPLE_RATE_HZ
        for index, probability in enumerate(np.asarray(probabilities, dtype=np.float32).reshape(-1)):
            window = windows[index * VAD_WINDOW_SAMPLES : (index + 1) * VAD_WINDOW_SAMPLES]
            window_start_s = first_s + index * window_s
            if not self._in_speech:
                if probability >= self.options.speech_threshold:
                    lead_s = self._lead_samples / SAMPLE_RATE_HZ
                    self._start_speech(window_start_s - lead_s)
                    self._append_speech(np.concatenate([*self._lead, window]), window_start_s - lead_s)
                    self._lead, self._lead_samples = [], 0
                else:
                    self._keep_lead(window)
                continue
            self._append_speech(window, window_start_s)
            if probability < self.options.silence_threshold:
                self._trailing_silence_s += window_s
                if self._trailing_silence_s >= self.options.silence_flush_s - 1e-9:
                    captions += self.finish()
            else:
                self._trailing_silence_s = 0.0
        return captions

    def _keep_lead(self, window: Audio) -> None:
        self._lead.append(window)
        self._lead_samples += window.size
        limit = round(self.options.pre_speech_s * SAMPLE_RATE_HZ)
        while self._lead and self._lead_samples - self._lead[0].size >= limit:
            self._lead_samples -= self._lead.pop(0).size

    def _start_speech(self, at_s: float) -> None:
        self._reset_utterance()
        self._in_speech = True
        self._offset_s = at_s
        self._hyp = HypothesisBuffer(last_committed_s=max(at_s, self._last_final_end_s))

    def _append_speech(self, samples: Audio, at_s: float) -> None:
        if not self._in_speech:
            self._start_speech(at_s)
        self._chunks.append(samples)
        self._buffer_samples += samples.size
        self._undecoded_samples += samples.size

    # -- decoding ---------------------------------------------------------------------------------------

    def process(self) -> list[Caption]:
        """Decode the buffer again if ``min_chunk_s`` of new speech has arrived; commit what agrees."""
        if not self.due():
            return []
        return self._decode_and_commit(final=False)

    def finish(self) -> list[Caption]:
        """End of speech: decode what was not decoded yet, finalise everything, start afresh."""
        if not self._in_speech:
            return []
        captions: list[Caption] = []
        if self._undecoded_samples >= self.options.min_final_decode_s * SAMPLE_RATE_HZ:
            captions = self._decode_and_commit(final=True)
        else:
            captions = self._finalise(self._hyp.tentative())
        if not captions and self._last_partial is not None:
            # the last decode found nothing where a partial caption is showing: an empty final withdraws it
            _, start_s, end_s = self._last_partial
            start_s = max(start_s, self._last_final_end_s)
            captions = [Caption("", start_s, max(start_s, end_s), True, ())]
        self._keep_context(self._buffer())
        self._reset_utterance()
        return captions

    def _keep_context(self, audio: Audio) -> None:
        """``audio`` leaves the buffer: its last ``context_s`` are kept as the next decodes' context."""
        keep = round(self.options.context_for(final=True) * SAMPLE_RATE_HZ)
        if keep <= 0 or audio.size == 0:
            return
        self._context = np.concatenate([self._context, audio])[-keep:]

    def _prompt(self, with_context: bool) -> str:
        if self.options.prompt_chars <= 0 or with_context:  # the context holds those words
            return ""
        out: list[str] = []
        length = 0
        for word in reversed([w for w in self._committed if w.end_s <= self._offset_s]):
            if length >= self.options.prompt_chars:
                break
            out.append(word.text)
            length += len(word.text) + 1
        return " ".join(reversed(out))

    def _decode_and_commit(self, *, final: bool) -> list[Caption]:
        audio = self._buffer()
        self.max_buffer_seen_s = max(self.max_buffer_seen_s, audio.size / SAMPLE_RATE_HZ)
        keep = round(self.options.context_for(final) * SAMPLE_RATE_HZ)
        context = self._context[self._context.size - keep :] if keep > 0 else self._context[:0]
        decoded = np.concatenate([context, audio]) if context.size else audio
        prompt = self._prompt(with_context=self.options.context_for(final) > 0)
        hypothesis = self.decoder.decode(decoded, prompt=prompt, final=final)
        self.decodes += 1
        self.decoded_audio_s += decoded.size / SAMPLE_RATE_HZ
        self._undecoded_samples = 0
        buffer_end_s = self._offset_s + audio.size / SAMPLE_RATE_HZ
        start_s = self._offset_s - context.size / SAMPLE_RATE_HZ  # where the decoded audio starts
        words = [w.shifted(start_s) for w in hypothesis.words]
        if context.size:
            # words heard in the context were captioned before: only the buffer's count, told by the word's
            # middle (Whisper often starts the buffer's first word early, in the pause before it, and a
            # start-time test dropped it: benchmarks/captions/context.py); its start moves to the buffer's
            floor_s = self._offset_s
            words = [
                TimedWord(max(w.start_s, floor_s), max(w.end_s, floor_s), w.text)
                for w in words
                if (w.start_s + w.end_s) / 2 >= floor_s
            ]
        self._hyp.insert(cut_loop(words))
        committed = self._hyp.flush()
        if final:
            return self._finalise([*committed, *self._hyp.tentative()])
        captions = self._finalise(committed)
        captions += self._trim([start_s + e for e in hypothesis.segment_ends_s], buffer_end_s)
        tentative = self._hyp.tentative()
        if tentative:
            key = (_text(tentative), tentative[0].start_s, tentative[-1].end_s)
            if key != self._last_partial:
                self._last_partial = key
                start_s = max(tentative[0].start_s, self._last_final_end_s)
                captions.append(Caption(key[0], start_s, max(start_s, key[2]), False, tuple(tentative)))
        return captions

    def _finalise(self, words: Sequence[TimedWord]) -> list[Caption]:
        """One final caption of ``words`` (times clamped so finals never go back or overlap)."""
        kept = [w for w in words if w.text]
        if not kept:
            return []
        clamped: list[TimedWord] = []
        floor_s = self._last_final_end_s
        for w in kept:
            start_s = max(w.start_s, floor_s)
            end_s = max(w.end_s, start_s)
            clamped.append(TimedWord(start_s, end_s, w.text))
            floor_s = end_s
        self._committed.extend(clamped)
        self._last_final_end_s = clamped[-1].end_s
        self._last_partial = None
        return [Caption(_text(clamped), clamped[0].start_s, clamped[-1].end_s, True, tuple(clamped))]

    # -- bounding the buffer ----------------------------------------------------------------------------

    def _trim(self, segment_ends_s: Sequence[float], buffer_end_s: float) -> list[Caption]:
        """Cut the buffer (whisper_streaming's segment trimming, then the hard bound); returns the captions
        the hard bound finalised."""
        length_s = buffer_end_s - self._offset_s
        last_committed_s = self._hyp.committed_in_buffer[-1].end_s if self._hyp.committed_in_buffer else None
        if length_s > self.options.trim_s and last_committed_s is not None:
            # whisper_streaming: the latest segment end (not the last segment's) inside the committed part
            candidates = [e for e in segment_ends_s[:-1] if self._offset_s < e <= last_committed_s]
            if candidates:
                self._cut_at(max(candidates))
        if buffer_end_s - self._offset_s <= self.options.max_buffer_s:
            return []
        if last_committed_s is not None and last_committed_s > self._offset_s:
            logger.debug("buffer over %.1f s: cut at the last committed word", self.options.max_buffer_s)
            self._cut_at(last_committed_s)
        if buffer_end_s - self._offset_s <= self.options.max_buffer_s:
            return []
        # nothing committed to cut at: finalise the hypothesis as it stands and keep only the audio after it
        tentative = self._hyp.tentative()
        self._hyp.previous = []
        captions = self._finalise(tentative)
        keep_from_s = tentative[-1].end_s if tentative else buffer_end_s - self.options.min_chunk_s
        keep_from_s = max(keep_from_s, buffer_end_s - self.options.max_buffer_s / 2)
        self._hyp.last_committed_s = max(self._hyp.last_committed_s, keep_from_s)
        self._cut_at(keep_from_s)
        return captions

    def _cut_at(self, time_s: float) -> None:
        self._hyp.pop_committed(time_s)
        audio = self._buffer()
        cut = min(audio.size, max(0, round((time_s - self._offset_s) * SAMPLE_RATE_HZ)))
        self._keep_context(audio[:cut])
        self._chunks = [audio[cut:]]
        self._buffer_samples = audio.size - cut
        self._offset_s += cut / SAMPLE_RATE_HZ


class SileroVoiceDetector:
    """The Silero VAD model shipped in faster-whisper's wheel, fed a stream window by window.

    Each window is scored with the 64 samples before it as context (as faster-whisper does over a whole
    file), so the probabilities do not depend on how the stream was chunked.
    """

    def __init__(self) -> None:
        from faster_whisper.vad import get_vad_model

        self._model = get_vad_model()
        self._previous = np.zeros(VAD_WINDOW_SAMPLES, dtype=np.float32)

    def probabilities(self, windows: Audio) -> np.ndarray:
        if windows.size == 0:
            return np.zeros(0, dtype=np.float32)
        scored = np.concatenate([self._previous, windows.astype(np.float32, copy=False)])
        self._previous = scored[-VAD_WINDOW_SAMPLES:].copy()
        return np.asarray(self._model(scored), dtype=np.float32).reshape(-1)[1:]


@dataclass(frozen=True)
class FinalDecode:
    """How an utterance's last decode differs from the interim ones (which run at temperature 0 with the
    engine's beam): ``fallback`` keeps Whisper's temperature fallback, ``beam_size`` (None: the engine's)."""

    fallback: bool = True
    beam_size: int | None = None


class WhisperStreamingDecoder(FasterWhisperEngine):
    """The project's faster-whisper engine decoding one short buffer: no VAD (the stream's detector gates
    it), one 30 s window at most, word timestamps, the meeting's hotwords, the committed text as prompt.
    ``window``: the encoder sees a window shorter than 30 s around the buffer (fasterwhisper_window).

    Decoding settings are the offline engine's (beam 5, Vietnamese forced), except that the interim decodes
    run at temperature 0 only: the fallback re-decodes hard buffers (cut mid-word) up to five more times,
    which cost 50 % more CPU per decode on the VIVOS clips for the same caption WER (0.275, 5 clips); the
    last decode of an utterance keeps the fallback (``FinalDecode``: without it caption WER 0.313 -> 0.550 on
    30 clips, benchmarks/captions/simulate.py; 10 s of audio context before that decode: 0.320, 1.7x CPU).
    Segments the engine's hallucination filter drops
    (echoes of the hotwords or of the prompt; and, unless ``keep_doubtful``, those it doubts: decoded from
    silence, words barely believed) give no words.
    """

    def __init__(
        self,
        model: ModelInfo,
        options: FasterWhisperOptions | None = None,
        hotwords: Sequence[str] = (),
        window: EncoderWindow | None = None,
        final: FinalDecode | None = None,
        keep_doubtful: bool = False,
    ) -> None:
        super().__init__(model, options or FasterWhisperOptions(batched=False, vad_filter=False))
        self.final = final or FinalDecode()
        self.keep_doubtful = keep_doubtful
        self.hotwords = limit_hotwords(hotwords)
        # None: Whisper's 30 s window; a shorter one needs fasterwhisper_window.install() in this process
        self.window = None if window is None or window.full else window
        if self.window is not None:
            check_short_encode(self._model)

    def warm_up(self, seconds: float = 2.0) -> float:
        """One decode of quiet noise, so the first caption does not pay CTranslate2's first-call cost (its
        allocations and kernels for this window's shapes). Returns the seconds it took."""
        started = time.monotonic()
        noise = np.random.default_rng(0).normal(0.0, 0.003, round(seconds * SAMPLE_RATE_HZ))
        self.decode(noise.astype(np.float32), prompt="")
        return time.monotonic() - started

    def decode(self, audio: Audio, *, prompt: str, final: bool = False) -> Hypothesis:
        o = self.options
        temperatures = list(o.temperatures[:1])
        if final and self.final.fallback:
            temperatures = list(o.temperatures)
        with self._lock, encoder_window(self.window):
            raw, _ = self._sequential(
                audio,
                " ".join(self.hotwords) or None,
                vad_filter=False,
                temperatures=temperatures,
                word_timestamps=True,
                initial_prompt=prompt or None,
                beam_size=self.final.beam_size if final else None,
            )
            segments = [_to_segment(r) for r in raw]
        kept = clean_segments(
            segments, [*self.hotwords, *([prompt] if prompt else [])], keep_doubtful=self.keep_doubtful
        )
        words = tuple(TimedWord(w.start_s, w.end_s, w.text) for s in kept for w in s.words if w.text)
        return Hypothesis(words, tuple(s.end_s for s in kept))
