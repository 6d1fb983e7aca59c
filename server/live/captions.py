"""Live captions of a meeting: its caption process, fed the speakers' audio, and the captions it sends back.

One caption process per meeting (``python -m transcription.captions_worker``: Whisper with the
LocalAgreement-2 policy, niced by 10, never in this process). It starts when a participant first sends
``captions`` enabled (``GIAOBAN_LIVE_CAPTIONS=on_demand``), or with the meeting (``always``, or a
recorded meeting whose transcript is the live one: ``GIAOBAN_TRANSCRIPT_SOURCE=live``), and runs until the
meeting ends.

Fed: the Opus packets the media room already hands the recording tap, of the participants whose microphone
is forwarded now (the floor holder, the chair's hall, the active speakers: ``MediaRoom.audible``), each with
its meeting-clock time (its RTP time placed on the meeting clock as if it came the quickest way:
:meth:`LiveCaptions._time_s`). A participant that stops being forwarded gets an
end of speech (its utterance is finalised). Frames are written to the process's stdin without ever waiting:
the pipe's buffer is bounded (``MAX_BACKLOG_BYTES``), a frame that does not fit is dropped and counted, so RTP
is never stalled by a caption process that lags.

Read: a task reads its JSON events; each caption goes to the sockets that enabled captions, and each final
one becomes a transcript segment of the meeting at once (off the event loop), searchable during the meeting.
At the end the process is closed: it finalises what it holds (the tail), those segments are written, then
the recording's hooks run (the offline pass, ``GIAOBAN_TRANSCRIPT_SOURCE``). A caption process that dies is
logged and started again once; if it dies again, captions stop for that meeting and the meeting goes on.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import sys
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, Any

from sqlalchemy.orm import Session

from recordings.red import parse_red
from server.live.connections import LiveRoom
from server.live.offloop import write_retrying
from server.rooms import messages as m
from server.rooms.room import RoomError
from server.services import transcripts
from server.services.transcription_jobs import meeting_hotwords
from server.services.transcripts import SegmentInput
from transcription.captions_worker import KIND_CLOSE, KIND_END_OF_SPEECH, KIND_OPUS, encode_frame

if TYPE_CHECKING:
    from server.live.meetings import LiveMeetings

log = logging.getLogger(__name__)

RTP_CLOCK_HZ = 48000
RTP_MODULUS = 1 << 32
RESYNC_S = 1.0  # a stream whose RTP time falls this far behind the meeting clock is placed again
MAX_STEP_TICKS = 10 * RTP_CLOCK_HZ  # a jump of the RTP timestamp past this is a new stream
MAX_BACKLOG_BYTES = 256 * 1024  # frames waiting for the caption process (~1 min of one speaker)
MAX_LINE_BYTES = 1 << 20
RESTARTS = 1  # a caption process that dies is started again this many times
CLOSE_TIMEOUT_S = 60.0  # the tail: time allowed to finalise what the process holds at the meeting's end
PERSIST_ATTEMPTS = 5
BAD_CAPTIONS_MESSAGE = "Trường enabled của tin nhắn captions phải là true hoặc false."
CAPTIONS_OFF_MESSAGE = "Máy chủ này không bật phụ đề trực tiếp."
CAPTIONS_FAILED_MESSAGE = "Phụ đề trực tiếp đã dừng do lỗi máy chủ."


@dataclass
class StreamClock:
    """One speaker's RTP time (seconds since its first packet, unwrapped) and its offset to the meeting
    clock."""

    last_ts: int
    rtp_s: float
    offset_s: float

    def place(self, rtp_timestamp: int, now_s: float) -> float:
        """A packet's meeting-clock time: its RTP time plus the smallest offset (arrival - RTP time) seen in
        this stream, i.e. as if every packet came the quickest way: a packet delayed in the network or by a
        busy event loop keeps its place, and times never run back by more than that delay. A stream that
        falls behind the clock by more than ``RESYNC_S`` (a sender clock slower than ours, a pause) or whose
        timestamp jumps (a new stream) starts again from the arrival time (a jump forward, which the caption
        process fills with silence or takes as the end of an utterance)."""
        delta = (rtp_timestamp - self.last_ts + RTP_MODULUS // 2) % RTP_MODULUS - RTP_MODULUS // 2
        self.last_ts = rtp_timestamp
        self.rtp_s += delta / RTP_CLOCK_HZ
        self.offset_s = min(self.offset_s, now_s - self.rtp_s)
        at_s = self.rtp_s + self.offset_s
        if now_s - at_s > RESYNC_S or abs(delta) > MAX_STEP_TICKS:
            self.offset_s = now_s - self.rtp_s
            at_s = now_s
        return at_s


class LiveCaptions:
    """The caption process of one live meeting and what flows through it."""

    def __init__(self, core: LiveMeetings, live: LiveRoom) -> None:
        self.core = core
        self.live = live
        self.meeting_id = live.meeting_id
        self.proc: asyncio.subprocess.Process | None = None
        self.starts = 0
        self.dropped = 0  # frames dropped because the process lagged (or was not there)
        self.frames = 0  # frames written
        self.finals = 0
        self.failed = False  # died more than RESTARTS times: no captions for this meeting any more
        self.closing = False
        self.closed_info: dict[str, Any] | None = None  # the process's last words (CPU, peak RSS)
        self._clocks: dict[str, StreamClock] = {}  # pid -> its RTP time on the meeting clock
        self._fed: set[str] = set()  # participants whose audio goes to the process now
        self._who: dict[str, tuple[str, str, str]] = {}  # pid -> (unit code, username, display name)
        self._pending: list[SegmentInput] = []
        self._persisting: asyncio.Task[None] | None = None
        self._reader: asyncio.Task[None] | None = None
        self._argv: list[str] | None = None

    # ---- the process --------------------------------------------------------------------------------------
    async def _arguments(self) -> list[str]:
        settings = self.core.settings
        argv = ["--threads", str(settings.captions_threads)]
        argv += ["--context-s", f"{settings.captions_context_s:g}"]
        argv += ["--final-context-s", f"{settings.captions_final_context_s:g}"]
        argv += ["--silence-flush-s", f"{settings.captions_silence_flush_s:g}"]
        if settings.asr_model:
            argv += ["--model", settings.asr_model]
        else:
            argv += ["--cache-dir", str(settings.resolved_model_cache_dir)]
        for word in await self.core._db(lambda session: meeting_hotwords(session, self.meeting_id)):
            argv += ["--hotword", word]
        return argv

    async def start(self) -> None:
        if self._argv is None:
            self._argv = await self._arguments()
        if self.closing:
            return
        self.starts += 1
        self._clocks.clear()
        self._fed.clear()
        self.proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "transcription.captions_worker",
            *self._argv,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            limit=MAX_LINE_BYTES,
        )
        log.info("meeting %s: caption process %s started", self.meeting_id, self.proc.pid)
        self._reader = asyncio.get_running_loop().create_task(self._read(self.proc))

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc is not None and self.proc.returncode is None else None

    def _write(self, frame: bytes, *, always: bool = False) -> bool:
        proc = self.proc
        stdin = proc.stdin if proc is not None else None
        if stdin is None or stdin.transport.is_closing():
            self.dropped += 1
            return False
        if not always and stdin.transport.get_write_buffer_size() > MAX_BACKLOG_BYTES:
            self.dropped += 1
            return False
        stdin.write(frame)
        self.frames += 1
        return True

    # ---- audio in (the media tap: synchronous, never raises, never waits) ---------------------------------
    def on_packet(self, pid: str, payload: bytes, rtp_timestamp: int, red: bool) -> None:
        live = self.live
        if self.closing or self.failed:
            return
        p = live.room.participants.get(pid)
        if p is None or not p.audio_forwarded or pid not in live.media.audible():
            if pid in self._fed:
                self.end_of_speech(pid)
            return
        if red:
            parsed = parse_red(payload, rtp_timestamp)
            if parsed is None:
                return
            payload = parsed.primary.data
        if not payload:
            return
        self._who[pid] = (p.unit_code, p.username, p.display_name)
        if self._write(encode_frame(KIND_OPUS, pid, self._time_s(pid, rtp_timestamp), payload)):
            self._fed.add(pid)

    def end_of_speech(self, pid: str) -> None:
        """``pid`` is no longer forwarded (or left): its utterance is finalised now."""
        if pid in self._fed:
            log.debug(
                "meeting %s: end of speech of %s at clock %.2f", self.meeting_id, pid, self.live.clock_s()
            )
        self._fed.discard(pid)
        self._clocks.pop(pid, None)
        if not self.closing:
            self._write(encode_frame(KIND_END_OF_SPEECH, pid), always=True)

    def _time_s(self, pid: str, rtp_timestamp: int) -> float:
        now_s = self.live.clock_s()
        clock = self._clocks.get(pid)
        if clock is None:
            self._clocks[pid] = StreamClock(rtp_timestamp, 0.0, now_s)  # its first packet: now
            return now_s
        return clock.place(rtp_timestamp, now_s)

    # ---- events out ------------------------------------------------------------------------------------
    async def _read(self, proc: asyncio.subprocess.Process) -> None:
        assert proc.stdout is not None
        while True:
            try:
                line = await proc.stdout.readline()
            except ValueError:  # a line over MAX_LINE_BYTES: skipped
                log.warning("meeting %s: caption event too long, skipped", self.meeting_id)
                continue
            if not line:
                break
            try:
                event = json.loads(line)
            except ValueError:
                log.warning("meeting %s: caption process wrote %r", self.meeting_id, line[:200])
                continue
            try:
                await self._on_event(event)
            except Exception:  # noqa: BLE001 - one bad event must not stop the captions
                log.exception("meeting %s: caption event %r failed", self.meeting_id, event)
        code = await proc.wait()
        if self.closing:
            return
        log.error("meeting %s: caption process %s exited with %s", self.meeting_id, proc.pid, code)
        if self.starts <= RESTARTS:
            try:
                await self.start()
                return
            except OSError as exc:
                log.error("meeting %s: caption process not started again: %s", self.meeting_id, exc)
        self.failed = True
        log.error(
            "meeting %s: captions stopped (the caption process died %d times)",
            self.meeting_id,
            self.starts,
        )
        error = m.ErrorOut(code="captions_failed", message=CAPTIONS_FAILED_MESSAGE)
        await self._to_subscribers(error)

    async def _on_event(self, event: dict[str, Any]) -> None:
        kind = event.get("type")
        if kind == "ready":
            log.info("meeting %s: caption process ready (%s)", self.meeting_id, event.get("model"))
        elif kind == "closed":
            self.closed_info = event
        elif kind == "caption":
            pid = str(event["unit"])
            log.debug(
                "meeting %s: caption %s %s %.2f-%.2f at clock %.2f: %s",
                self.meeting_id,
                pid,
                "final" if event.get("final") else "partial",
                event.get("start"),
                event.get("end"),
                self.live.clock_s(),
                event.get("text"),
            )
            unit, username, name = self._who.get(pid, ("", pid, ""))
            caption = m.Caption(
                unit=unit,
                username=username,
                text=str(event["text"]),
                start=float(event["start"]),
                end=float(event["end"]),
                final=bool(event["final"]),
                words=[(float(a), float(b), str(w)) for a, b, w in event.get("words") or ()],
            )
            await self._to_subscribers(caption)
            if caption.final and caption.text.strip():
                self.finals += 1
                self._pending.append(
                    SegmentInput(caption.start, caption.end, caption.text, unit or None, name or username)
                )
                if self._persisting is None or self._persisting.done():
                    self._persisting = asyncio.get_running_loop().create_task(self._persist())

    async def _to_subscribers(self, msg: m.ServerMessage) -> None:
        for pid, conn in list(self.live.connections.items()):
            if conn.captions and not conn.closed:
                await self.live.send_to(pid, conn, msg)

    async def _persist(self) -> None:
        """Final captions become transcript segments as they come (several at once when a write is slow)."""
        while self._pending:
            batch, self._pending = self._pending, []
            write = partial(_append, meeting_id=self.meeting_id, batch=batch)
            try:
                await write_retrying(
                    self.core.db,
                    write,
                    f"meeting {self.meeting_id}: live transcript",
                    attempts=PERSIST_ATTEMPTS,
                )
            except Exception:  # noqa: BLE001 - captions go on; the offline pass still has the recording
                log.exception("meeting %s: %d live segments not stored", self.meeting_id, len(batch))

    # ---- the end ---------------------------------------------------------------------------------------
    async def close(self, timeout_s: float = CLOSE_TIMEOUT_S) -> None:
        """Finalise what the process holds (the tail), store it, let the process exit."""
        self.closing = True
        proc, reader = self.proc, self._reader
        if proc is not None and proc.returncode is None and proc.stdin is not None:
            with contextlib.suppress(Exception):
                self._write(encode_frame(KIND_CLOSE, ""), always=True)
                proc.stdin.close()
        if reader is not None:
            try:
                await asyncio.wait_for(asyncio.shield(reader), timeout_s)
            except TimeoutError:
                log.error("meeting %s: caption process did not finish in %.0f s", self.meeting_id, timeout_s)
                reader.cancel()
        await self.kill()
        if self._persisting is not None:
            await self._persisting
        info = self.closed_info or {}
        log.info(
            "meeting %s: captions closed: %d final, %d frames, %d dropped, process CPU %s s, peak %s MB",
            self.meeting_id,
            self.finals,
            self.frames,
            self.dropped,
            info.get("cpu_s"),
            info.get("max_rss_mb"),
        )

    async def kill(self) -> None:
        """Stop the process now (shutdown), whatever it holds."""
        self.closing = True
        proc = self.proc
        if proc is not None and proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            await proc.wait()
        if self._reader is not None and not self._reader.done():
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader


def _append(session: Session, *, meeting_id: int, batch: list[SegmentInput]) -> list[int]:
    return transcripts.append_live_segments(session, meeting_id, batch)


async def enable(core: LiveMeetings, live: LiveRoom) -> LiveCaptions:
    """The meeting's caption process, started now if it is not running (RoomError when it cannot be)."""
    if live.captions is None:
        live.captions = LiveCaptions(core, live)
        try:
            await live.captions.start()
        except OSError as exc:
            log.error("meeting %s: caption process not started: %s", live.meeting_id, exc)
            live.captions.failed = True
    if live.captions.failed:
        raise RoomError("captions_failed", CAPTIONS_FAILED_MESSAGE)
    return live.captions


def wanted_from_start(core: LiveMeetings, record: bool) -> bool:
    """Whether a meeting's captions start with it (not only when a participant asks)."""
    settings = core.settings
    if settings.live_captions == "off":
        return False
    return settings.live_captions == "always" or (record and settings.transcript_source == "live")


def stop(core: LiveMeetings, live: LiveRoom) -> asyncio.Task[None] | None:
    """The meeting ended: close its caption process in the background (awaited at shutdown); the task, for
    whoever must wait for the tail (the recording's hooks)."""
    captions = live.captions
    if captions is None:
        return None
    return core.spawn(captions.close(), must_finish=True)
