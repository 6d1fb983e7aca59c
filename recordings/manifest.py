"""The meeting manifest: an append-only JSON-lines event log on the meeting clock (``manifest.jsonl``).

Each event is one line, written with a single ``write`` and fsynced, so a crash loses at most the line
being written; a torn last line is ignored when reading and cut off before the next append.
Times are seconds on the meeting clock (0 = meeting_started), except the ``utc`` stamps.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import asdict, dataclass, fields
from datetime import datetime
from pathlib import Path
from typing import Any, ClassVar

from recordings.errors import ManifestError
from recordings.ivf import read_ivf_info
from recordings.oggopus import read_ogg_opus_info

logger = logging.getLogger(__name__)

MANIFEST_FILENAME = "manifest.jsonl"
GAP_REASON_RTP = "rtp_gap"
GAP_REASON_INTERRUPTED = "interrupted"
GAP_REASON_VIDEO_LOSS = "video_loss"  # frames lost and not repaired: nothing until the next key frame
KIND_AUDIO = "audio"
LOSS_MERGE_S = 0.001  # loss spans closer than this are one span (adjacent lost packets)


# -- events -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class ManifestEvent:
    kind: ClassVar[str] = ""

    def to_line(self) -> bytes:
        record = {"event": self.kind, **asdict(self)}
        return (json.dumps(record, ensure_ascii=False, separators=(",", ":")) + "\n").encode("utf-8")


@dataclass(frozen=True)
class MeetingStarted(ManifestEvent):
    kind: ClassVar[str] = "meeting_started"
    meeting_id: str
    utc: str  # ISO 8601 with offset; meeting clock 0


@dataclass(frozen=True)
class TrackOpened(ManifestEvent):
    kind: ClassVar[str] = "track_opened"
    track_id: str
    file: str  # relative to the meeting folder
    participant_id: str
    username: str
    display_name: str
    unit_code: str
    unit_name: str
    start_s: float
    segment: int  # 0 for the first track of a participant, +1 per reconnect
    previous_track_id: str | None = None
    channels: int = 1
    media: str = KIND_AUDIO  # "audio" (Ogg Opus), "camera" or "screen" (VP8 in IVF)


@dataclass(frozen=True)
class Muted(ManifestEvent):
    kind: ClassVar[str] = "muted"
    track_id: str
    t_s: float


@dataclass(frozen=True)
class Unmuted(ManifestEvent):
    kind: ClassVar[str] = "unmuted"
    track_id: str
    t_s: float


@dataclass(frozen=True)
class GapEvent(ManifestEvent):
    kind: ClassVar[str] = "gap"
    track_id: str
    start_s: float
    end_s: float
    reason: str


@dataclass(frozen=True)
class LossEvent(ManifestEvent):
    """Spans of a track where packets were lost and no redundancy (RED, Opus FEC) recovered them.

    The file holds encoded silence there (the writer's gap fill). Unlike ``gap`` (any jump of the RTP clock
    of 1 s or more: a pause of the sender, a network outage), these are sequence numbers that never arrived,
    however short. Written in batches (one line per few seconds of a lossy track, and at its close).
    """

    kind: ClassVar[str] = "loss"
    track_id: str
    spans: list[list[float]]  # [start_s, end_s] pairs on the meeting clock


@dataclass(frozen=True)
class TrackRepaired(ManifestEvent):
    """How a track's missing packets were handled, counted in packets (frames), written when it closes."""

    kind: ClassVar[str] = "track_repair"
    track_id: str
    packets: int  # received (before reordering)
    holes: int  # sequence numbers that never arrived in time
    recovered_red: int  # frames taken from RED redundant blocks
    recovered_fec: int  # frames decoded from Opus in-band FEC and encoded again
    concealed: int  # holes left as the writer's silence
    reordered: int  # arrived out of order, written in order
    late: int  # arrived after their slot was written (dropped)
    lost_s: float  # length of the unrecovered spans
    malformed: int = 0  # RED payloads that could not be read (dropped, so their slots became holes)

    @property
    def recovered(self) -> int:
        return self.recovered_red + self.recovered_fec


@dataclass(frozen=True)
class VideoStats(ManifestEvent):
    """A video track's counts, written when it closes (recovered from the file after a crash)."""

    kind: ClassVar[str] = "video_stats"
    track_id: str
    frames: int  # written to the file
    keyframes: int
    dropped_frames: int = 0  # received but not decodable (after a loss, before the next key frame)
    losses: int = 0  # gaps logged (reason video_loss)
    width: int = 0
    height: int = 0


@dataclass(frozen=True)
class VideoFailed(ManifestEvent):
    """Video recording stopped (a disk error); audio recording goes on."""

    kind: ClassVar[str] = "video_failed"
    t_s: float
    track_id: str | None
    message: str


@dataclass(frozen=True)
class VideoComposed(ManifestEvent):
    """The composed video was made (after the meeting, by the worker): its file, and where a camera or screen
    that should have been shown had no frames (``[start_s, end_s, track_id, reason]``, reason ``truncated``
    or ``video_loss``). A later composition appends another; the last one describes the file."""

    kind: ClassVar[str] = "video_composed"
    file: str
    sha256: str
    bytes: int
    picture_gaps: list[list[Any]]


@dataclass(frozen=True)
class TrackClosed(ManifestEvent):
    kind: ClassVar[str] = "track_closed"
    track_id: str
    end_s: float
    sha256: str
    bytes: int
    reason: str = "closed"  # "closed", "meeting_ended", "interrupted", "recording_failed"


@dataclass(frozen=True)
class RecordingFailed(ManifestEvent):
    kind: ClassVar[str] = "recording_failed"
    t_s: float
    track_id: str | None
    message: str


@dataclass(frozen=True)
class MeetingInterrupted(ManifestEvent):
    kind: ClassVar[str] = "meeting_interrupted"
    t_s: float  # last moment known to be recorded
    utc: str  # when the interruption was noticed


@dataclass(frozen=True)
class MeetingResumed(ManifestEvent):
    kind: ClassVar[str] = "meeting_resumed"
    t_s: float
    utc: str


@dataclass(frozen=True)
class MeetingEnded(ManifestEvent):
    kind: ClassVar[str] = "meeting_ended"
    t_s: float
    utc: str


EVENT_TYPES: dict[str, type[ManifestEvent]] = {
    cls.kind: cls
    for cls in (
        MeetingStarted,
        TrackOpened,
        Muted,
        Unmuted,
        GapEvent,
        LossEvent,
        TrackRepaired,
        TrackClosed,
        RecordingFailed,
        MeetingInterrupted,
        MeetingResumed,
        MeetingEnded,
        VideoStats,
        VideoFailed,
        VideoComposed,
    )
}


def parse_event(record: dict[str, Any]) -> ManifestEvent | None:
    """The typed event of one decoded line; None for an unknown kind (a newer writer)."""
    cls = EVENT_TYPES.get(str(record.get("event")))
    if cls is None:
        return None
    names = {f.name for f in fields(cls)}
    return cls(**{k: v for k, v in record.items() if k in names})


# -- writing ----------------------------------------------------------------------------------


class ManifestLog:
    """Appends events to ``manifest.jsonl``: one write + fsync per line.

    Opening an existing log cuts a torn last line (left by a crash) so new lines start clean.
    ``append`` raises ``OSError`` if the disk refuses the line; the file is then cut back to its
    previous length, so earlier lines stay intact.
    """

    def __init__(self, path: Path, *, fsync: bool = True) -> None:
        self.path = path
        self._fsync = fsync
        self._fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        self._size = self._repair_tail()
        os.lseek(self._fd, self._size, os.SEEK_SET)

    def _repair_tail(self) -> int:
        size = os.fstat(self._fd).st_size
        if size == 0:
            return 0
        data = Path(self.path).read_bytes()
        keep = data.rfind(b"\n") + 1
        if keep != size:
            logger.warning("%s: cutting a torn last line of %d bytes", self.path, size - keep)
            os.ftruncate(self._fd, keep)
        return keep

    def append(self, event: ManifestEvent) -> None:
        if self._fd < 0:
            raise ValueError(f"{self.path} is closed")
        encoded = event.to_line()
        line = memoryview(encoded)
        try:
            while line:
                written = os.write(self._fd, line)
                line = line[written:]
            if self._fsync:
                os.fsync(self._fd)
        except OSError:
            try:
                os.ftruncate(self._fd, self._size)
                os.lseek(self._fd, self._size, os.SEEK_SET)
            except OSError:
                logger.exception("%s: could not cut back a failed line", self.path)
            raise
        self._size += len(encoded)

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1


# -- reading ----------------------------------------------------------------------------------


def read_events(path: Path) -> list[ManifestEvent]:
    """Every event of a manifest file, in order; a torn (unparsable) last line is ignored."""
    try:
        data = path.read_bytes()
    except FileNotFoundError as exc:
        raise ManifestError(f"no manifest at {path}") from exc
    lines = data.split(b"\n")
    events: list[ManifestEvent] = []
    last_index = len(lines) - 1
    for index, raw in enumerate(lines):
        if not raw.strip():
            continue
        torn_tail = index == last_index  # the bytes after the last newline: a line cut by a crash
        try:
            record = json.loads(raw)
            if not isinstance(record, dict):
                raise ValueError("not an object")
            event = parse_event(record)
        except (ValueError, TypeError) as exc:
            if torn_tail:
                logger.warning("%s: ignoring a torn last line", path)
                break
            raise ManifestError(f"{path}: line {index + 1} is corrupt: {exc}") from exc
        if event is None:
            logger.info("%s: skipping unknown event %r", path, record.get("event"))
            continue
        events.append(event)
    return events


@dataclass(frozen=True)
class Interval:
    """A span on the meeting clock, in seconds."""

    start_s: float
    end_s: float

    @property
    def duration_s(self) -> float:
        return self.end_s - self.start_s


@dataclass(frozen=True)
class Gap:
    """A span of a track without media (filled with silence in the file)."""

    start_s: float
    end_s: float
    reason: str


@dataclass(frozen=True)
class TrackRecord:
    """One recorded track as the manifest tells it; times on the meeting clock."""

    track_id: str
    path: str  # relative to the meeting folder
    participant_id: str
    username: str
    display_name: str
    unit_code: str
    unit_name: str
    start_s: float
    end_s: float | None  # from track_closed, else from the file's decodable duration, else None
    muted: tuple[Interval, ...]
    gaps: tuple[Gap, ...]
    sha256: str | None
    size_bytes: int | None
    segment: int
    previous_track_id: str | None
    closed: bool  # a track_closed event was written
    channels: int = 1
    losses: tuple[Interval, ...] = ()  # unrecovered packet loss (silence in the file), adjacent spans merged
    repair: TrackRepaired | None = None  # the recovered / concealed counts, once the track closed
    kind: str = KIND_AUDIO  # "audio", "camera", "screen"
    video: VideoStats | None = None  # frame and key-frame counts of a closed video track

    @property
    def duration_s(self) -> float | None:
        return None if self.end_s is None else self.end_s - self.start_s

    @property
    def is_audio(self) -> bool:
        return self.kind == KIND_AUDIO


@dataclass(frozen=True)
class MeetingManifest:
    """The whole meeting as the manifest tells it."""

    meeting_id: str
    started_at: datetime
    ended_at: datetime | None
    ended_s: float | None  # the meeting clock at meeting_ended
    interrupted: bool  # the recording was interrupted at least once (server restart, crash)
    interruptions: tuple[Interval, ...]  # interrupted -> resumed (end = start when never resumed)
    tracks: tuple[TrackRecord, ...]
    failures: tuple[RecordingFailed, ...]
    video_failures: tuple[VideoFailed, ...] = ()

    @property
    def audio_tracks(self) -> tuple[TrackRecord, ...]:
        return tuple(t for t in self.tracks if t.is_audio)

    @property
    def video_tracks(self) -> tuple[TrackRecord, ...]:
        return tuple(t for t in self.tracks if not t.is_audio)

    @property
    def length_s(self) -> float:
        """Meeting length: started -> ended, or to the last recorded second if it never ended."""
        if self.ended_s is not None:
            return self.ended_s
        ends = [t.end_s for t in self.tracks if t.end_s is not None]
        return max([0.0, *ends, *(i.end_s for i in self.interruptions)])

    def track(self, track_id: str) -> TrackRecord:
        for record in self.tracks:
            if record.track_id == track_id:
                return record
        raise KeyError(track_id)


def merge_intervals(spans: list[Interval], *, tolerance_s: float = LOSS_MERGE_S) -> tuple[Interval, ...]:
    """Sorted spans with overlapping or adjacent ones (within ``tolerance_s``) joined."""
    merged: list[Interval] = []
    for span in sorted(spans, key=lambda i: i.start_s):
        if merged and span.start_s <= merged[-1].end_s + tolerance_s:
            last = merged[-1]
            merged[-1] = Interval(last.start_s, max(last.end_s, span.end_s))
        else:
            merged.append(span)
    return tuple(merged)


def decodable_end_s(meeting_dir: Path, opened: TrackOpened) -> float | None:
    """The meeting-clock end of a track that was never closed, from its file's last valid page (frame)."""
    try:
        if opened.media != KIND_AUDIO:
            return opened.start_s + read_ivf_info(meeting_dir / opened.file).duration_s
        info = read_ogg_opus_info(meeting_dir / opened.file)
    except (OSError, ValueError) as exc:
        logger.warning("%s: track %s has no readable file: %s", meeting_dir.name, opened.track_id, exc)
        return None
    return opened.start_s + info.duration_s


def _close_intervals(starts_ends: list[list[float | None]], end_s: float | None) -> tuple[Interval, ...]:
    out: list[Interval] = []
    for start, stop in starts_ends:
        assert start is not None
        final = stop if stop is not None else end_s
        out.append(Interval(start, final if final is not None else start))
    return tuple(out)


def build_manifest(meeting_dir: Path, events: list[ManifestEvent]) -> MeetingManifest:
    """Fold an event list into a :class:`MeetingManifest`."""
    started: MeetingStarted | None = None
    ended: MeetingEnded | None = None
    opened: dict[str, TrackOpened] = {}
    closed: dict[str, TrackClosed] = {}
    muted: dict[str, list[list[float | None]]] = {}
    gaps: dict[str, list[Gap]] = {}
    losses: dict[str, list[Interval]] = {}
    repairs: dict[str, TrackRepaired] = {}
    video_stats: dict[str, VideoStats] = {}
    video_failures: list[VideoFailed] = []
    interruptions: list[list[float | None]] = []
    failures: list[RecordingFailed] = []
    for event in events:
        if isinstance(event, MeetingStarted):
            started = event
        elif isinstance(event, TrackOpened):
            opened[event.track_id] = event
            muted.setdefault(event.track_id, [])
            gaps.setdefault(event.track_id, [])
        elif isinstance(event, Muted):
            spans = muted.setdefault(event.track_id, [])
            if not spans or spans[-1][1] is not None:
                spans.append([event.t_s, None])
        elif isinstance(event, Unmuted):
            spans = muted.setdefault(event.track_id, [])
            if spans and spans[-1][1] is None:
                spans[-1][1] = event.t_s
        elif isinstance(event, GapEvent):
            gaps.setdefault(event.track_id, []).append(Gap(event.start_s, event.end_s, event.reason))
        elif isinstance(event, LossEvent):
            losses.setdefault(event.track_id, []).extend(
                Interval(float(span[0]), float(span[1])) for span in event.spans if len(span) == 2
            )
        elif isinstance(event, TrackRepaired):
            repairs[event.track_id] = event
        elif isinstance(event, VideoStats):
            video_stats[event.track_id] = event
        elif isinstance(event, VideoFailed):
            video_failures.append(event)
        elif isinstance(event, TrackClosed):
            closed[event.track_id] = event
        elif isinstance(event, RecordingFailed):
            failures.append(event)
        elif isinstance(event, MeetingInterrupted):
            interruptions.append([event.t_s, None])
        elif isinstance(event, MeetingResumed):
            if interruptions and interruptions[-1][1] is None:
                interruptions[-1][1] = event.t_s
        elif isinstance(event, MeetingEnded):
            ended = event
    if started is None:
        raise ManifestError(f"{meeting_dir}: the manifest has no meeting_started event")
    tracks: list[TrackRecord] = []
    for track_id, op in opened.items():
        close = closed.get(track_id)
        end_s = close.end_s if close is not None else decodable_end_s(meeting_dir, op)
        tracks.append(
            TrackRecord(
                track_id=track_id,
                path=op.file,
                participant_id=op.participant_id,
                username=op.username,
                display_name=op.display_name,
                unit_code=op.unit_code,
                unit_name=op.unit_name,
                start_s=op.start_s,
                end_s=end_s,
                muted=_close_intervals(muted.get(track_id, []), end_s),
                gaps=tuple(gaps.get(track_id, [])),
                sha256=close.sha256 if close is not None else None,
                size_bytes=close.bytes if close is not None else None,
                segment=op.segment,
                previous_track_id=op.previous_track_id,
                closed=close is not None,
                channels=op.channels,
                losses=merge_intervals(losses.get(track_id, [])),
                repair=repairs.get(track_id),
                kind=op.media,
                video=video_stats.get(track_id),
            )
        )
    return MeetingManifest(
        meeting_id=started.meeting_id,
        started_at=datetime.fromisoformat(started.utc),
        ended_at=datetime.fromisoformat(ended.utc) if ended is not None else None,
        ended_s=ended.t_s if ended is not None else None,
        interrupted=bool(interruptions),
        interruptions=tuple(Interval(s or 0.0, e if e is not None else (s or 0.0)) for s, e in interruptions),
        tracks=tuple(tracks),
        failures=tuple(failures),
        video_failures=tuple(video_failures),
    )


def read_manifest(meeting_dir: Path | str) -> MeetingManifest:
    """Read ``<meeting_dir>/manifest.jsonl`` (also after a crash: a torn last line is ignored)."""
    folder = Path(meeting_dir)
    return build_manifest(folder, read_events(folder / MANIFEST_FILENAME))
