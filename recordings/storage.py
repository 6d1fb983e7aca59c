"""The recorder the media layer drives during a meeting (``MeetingRecorder``): the meeting's folder, its
manifest and its tracks. The layout on disk is ``recordings.layout``'s; one audio track is
``recordings.audio_track.TrackHandle``, one video track ``recordings.videotracks.VideoTrackHandle``.

A disk error while recording never reaches the media path: the recorder stops every track, keeps what
was written intact, and exposes the failure (``MeetingRecorder.error`` and the ``on_error`` callback).
"""

from __future__ import annotations

import logging
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

from recordings import videotracks
from recordings.audio_track import (  # noqa: F401 - re-exported: callers import them from here
    LOSS_BATCH_S,
    ErrorCallback,
    ParticipantInfo,
    RecordingFailure,
    TrackHandle,
    _describe_os_error,
)
from recordings.errors import InvalidIdError, MeetingExistsError
from recordings.integrity import sha256_file
from recordings.ivf import IvfWriter
from recordings.layout import (  # noqa: F401 - re-exported
    MAX_ID_LENGTH,
    MIX_FILENAME,
    RECORDINGS_DIRNAME,
    TRACK_SUFFIX,
    TRACKS_DIRNAME,
    VIDEO_TRACK_SUFFIX,
    RecordingsLayout,
    slug,
    track_relative_path,
    validate_id,
)
from recordings.manifest import (
    KIND_AUDIO,
    MANIFEST_FILENAME,
    ManifestEvent,
    ManifestLog,
    MeetingEnded,
    MeetingInterrupted,
    MeetingResumed,
    MeetingStarted,
    RecordingFailed,
    TrackClosed,
    TrackOpened,
    build_manifest,
    read_events,
)
from recordings.oggopus import (
    DEFAULT_FSYNC_INTERVAL_S,
    DEFAULT_PAGE_DURATION_S,
    DEFAULT_PRE_SKIP_SAMPLES,
    OggOpusWriter,
    read_ogg_opus_info,
)
from recordings.videotracks import VideoTrackHandle

logger = logging.getLogger(__name__)

DEFAULT_VIDEO_MIN_FREE_BYTES = 256 * 2**20
DEFAULT_MIN_GAP_EVENT_S = 1.0  # shorter RTP gaps (DTX, a short pause) are filled but not logged


def _utc_now() -> datetime:
    return datetime.now(UTC)


class MeetingRecorder:
    """Records one meeting: a manifest plus one Ogg Opus file per track, on the meeting clock.

    The caller owns the meeting clock (seconds since ``started_at``) and passes it to every call;
    ``clock_s()`` computes it from the wall clock. Start a new meeting with :meth:`start`; after a
    server restart, :meth:`reopen` the folder, call :meth:`mark_interrupted`, then :meth:`resume`.
    """

    def __init__(
        self,
        layout: RecordingsLayout,
        meeting_id: str,
        log: ManifestLog,
        started_at: datetime,
        *,
        channels: int,
        pre_skip: int,
        fsync_interval_s: float | None,
        page_duration_s: float,
        min_gap_event_s: float,
        on_error: ErrorCallback | None,
    ) -> None:
        self.layout = layout
        self.meeting_id = meeting_id
        self.meeting_dir = layout.meeting_dir(meeting_id)
        self.started_at = started_at
        self.channels = channels
        self.pre_skip = pre_skip
        self.fsync_interval_s = fsync_interval_s
        self.page_duration_s = page_duration_s
        self.min_gap_event_s = min_gap_event_s
        self.on_error = on_error
        self.on_video_error: ErrorCallback | None = None
        self.failure: RecordingFailure | None = None
        self.video_failure: RecordingFailure | None = None  # video stopped (audio may go on)
        # video stops (a warning to the chair) when the disk's free space falls under this: the rest is left
        # for the audio tracks, which need ~14 MB an hour each
        self.video_min_free_bytes = DEFAULT_VIDEO_MIN_FREE_BYTES
        self.ended = False
        self._open_video: dict[int, VideoTrackHandle] = {}
        self._log = log
        self._open: dict[str, TrackHandle] = {}
        self._track_ids: set[str] = set()
        self._last_track_of: dict[str, str] = {}
        self._segments_of: dict[str, int] = {}
        self._interruption_open = False  # meeting_interrupted written, meeting_resumed not yet

    # -- construction -------------------------------------------------------------------------

    @classmethod
    def start(
        cls,
        layout: RecordingsLayout,
        meeting_id: str,
        *,
        started_at: datetime | None = None,
        channels: int = 1,
        pre_skip: int = DEFAULT_PRE_SKIP_SAMPLES,
        fsync_interval_s: float | None = DEFAULT_FSYNC_INTERVAL_S,
        page_duration_s: float = DEFAULT_PAGE_DURATION_S,
        min_gap_event_s: float = DEFAULT_MIN_GAP_EVENT_S,
        on_error: ErrorCallback | None = None,
    ) -> MeetingRecorder:
        """Create the meeting folder and write meeting_started. Raises MeetingExistsError if it exists."""
        folder = layout.meeting_dir(meeting_id)
        (folder / TRACKS_DIRNAME).mkdir(parents=True, exist_ok=True)
        manifest = folder / MANIFEST_FILENAME
        if manifest.exists() and manifest.stat().st_size > 0:
            raise MeetingExistsError(f"meeting {meeting_id} already has a manifest")
        started = started_at or _utc_now()
        log = ManifestLog(manifest)
        log.append(MeetingStarted(meeting_id, started.isoformat()))
        _fsync_dir(folder)
        _fsync_dir(folder.parent)
        logger.info("meeting %s: recording started", meeting_id)
        return cls(
            layout,
            meeting_id,
            log,
            started,
            channels=channels,
            pre_skip=pre_skip,
            fsync_interval_s=fsync_interval_s,
            page_duration_s=page_duration_s,
            min_gap_event_s=min_gap_event_s,
            on_error=on_error,
        )

    @classmethod
    def reopen(
        cls,
        layout: RecordingsLayout,
        meeting_id: str,
        *,
        channels: int = 1,
        pre_skip: int = DEFAULT_PRE_SKIP_SAMPLES,
        fsync_interval_s: float | None = DEFAULT_FSYNC_INTERVAL_S,
        page_duration_s: float = DEFAULT_PAGE_DURATION_S,
        min_gap_event_s: float = DEFAULT_MIN_GAP_EVENT_S,
        on_error: ErrorCallback | None = None,
    ) -> MeetingRecorder:
        """Open an existing meeting (after a restart) to append to its manifest."""
        folder = layout.meeting_dir(meeting_id)
        events = read_events(folder / MANIFEST_FILENAME)
        manifest = build_manifest(folder, events)
        log = ManifestLog(folder / MANIFEST_FILENAME)
        recorder = cls(
            layout,
            meeting_id,
            log,
            manifest.started_at,
            channels=channels,
            pre_skip=pre_skip,
            fsync_interval_s=fsync_interval_s,
            page_duration_s=page_duration_s,
            min_gap_event_s=min_gap_event_s,
            on_error=on_error,
        )
        recorder.ended = manifest.ended_s is not None
        for event in events:
            if isinstance(event, MeetingInterrupted | MeetingResumed):
                recorder._interruption_open = isinstance(event, MeetingInterrupted)
        for track in manifest.tracks:
            who = _series_key(track.participant_id, track.kind)
            recorder._track_ids.add(track.track_id)
            recorder._last_track_of[who] = track.track_id
            recorder._segments_of[who] = track.segment + 1
        return recorder

    # -- state --------------------------------------------------------------------------------

    @property
    def error(self) -> str | None:
        """User-facing reason recording stopped, or None while it works."""
        return None if self.failure is None else self.failure.message

    @property
    def open_tracks(self) -> tuple[TrackHandle, ...]:
        return tuple(self._open.values())

    def _utc_at(self, t_s: float) -> str:
        return (self.started_at + timedelta(seconds=t_s)).isoformat()

    def clock_s(self, at: datetime | None = None) -> float:
        """The meeting clock (seconds since started_at) at ``at`` (default: now)."""
        return ((at or _utc_now()) - self.started_at).total_seconds()

    # -- driving ------------------------------------------------------------------------------

    def open_track(
        self, participant: ParticipantInfo, now_s: float, *, track_id: str | None = None
    ) -> TrackHandle:
        """Start a track whose first packet plays at ``now_s`` on the meeting clock.

        Open it when the participant's first audio packet arrives. A second track of the same
        participant (a reconnect) gets the next segment number and points at the previous track.
        While the recorder is failed or ended, the returned handle records nothing.
        """
        if track_id is None:
            track_id = f"t{len(self._track_ids) + 1:03d}-{slug(participant.participant_id)}"
        validate_id(track_id, kind="track id")
        if track_id in self._track_ids:
            raise InvalidIdError(f"track id {track_id!r} is already used in meeting {self.meeting_id}")
        if self.failure is not None or self.ended:
            return TrackHandle(self, track_id, now_s, None)
        self._track_ids.add(track_id)
        handle = TrackHandle(self, track_id, now_s, None)
        relative = track_relative_path(track_id)
        try:
            writer = OggOpusWriter(
                self.meeting_dir / relative,
                channels=self.channels,
                pre_skip=self.pre_skip,
                page_duration_s=self.page_duration_s,
                fsync_interval_s=self.fsync_interval_s,
                tags={"TITLE": participant.display_name, "ARTIST": participant.unit_name},
                on_gap=handle._gap,
            )
        except OSError as exc:
            self._fail(exc, track_id)
            return handle
        _fsync_dir(self.meeting_dir / TRACKS_DIRNAME)  # the new file's name survives a power cut
        handle._writer = writer
        self._open[track_id] = handle
        self._track_opened(participant, participant.participant_id, track_id, relative, now_s, self.channels)
        return handle

    def _track_opened(
        self,
        participant: ParticipantInfo,
        series: str,
        track_id: str,
        relative: str,
        now_s: float,
        channels: int,
        media: str = KIND_AUDIO,
    ) -> None:
        """Log track_opened for a track whose file is open: numbered in its series (a participant's audio,
        or one kind of its video) after the series' previous track, which it points at."""
        segment = self._segments_of.get(series, 0)
        self._segments_of[series] = segment + 1
        previous = self._last_track_of.get(series)
        self._last_track_of[series] = track_id
        self._append(
            TrackOpened(
                track_id=track_id,
                file=relative,
                participant_id=participant.participant_id,
                username=participant.username,
                display_name=participant.display_name,
                unit_code=participant.unit_code,
                unit_name=participant.unit_name,
                start_s=round(now_s, 6),
                segment=segment,
                previous_track_id=previous,
                channels=channels,
                media=media,
            ),
            track_id,
        )
        what = "track" if media == KIND_AUDIO else "video track"
        pid = participant.participant_id
        logger.info("meeting %s: %s %s opened for %s", self.meeting_id, what, track_id, pid)

    def open_video_track(self, participant: ParticipantInfo, kind: str) -> VideoTrackHandle:
        """A camera or screen track of ``participant`` (kind "camera" / "screen"); its file and track_opened
        come with the first key frame. While the recorder is failed or ended, the handle records nothing."""
        handle = VideoTrackHandle(self, participant, kind)
        if self.video_failure is None and self.failure is None and not self.ended:
            self._open_video[id(handle)] = handle
        return handle

    @property
    def open_video_tracks(self) -> tuple[VideoTrackHandle, ...]:
        return tuple(self._open_video.values())

    def end(self, now_s: float) -> None:
        """Close every open track and write meeting_ended."""
        for video in list(self._open_video.values()):
            video.close(now_s, reason="meeting_ended")
        for handle in list(self._open.values()):
            self._close_track(handle, now_s, reason="meeting_ended")
        if not self.ended:
            self.ended = True
            self._append(MeetingEnded(round(now_s, 6), self._utc_at(now_s)), None, force=True)
        self._log.close()
        logger.info("meeting %s: recording ended at %.3f s", self.meeting_id, now_s)

    def mark_interrupted(self) -> float:
        """After a restart: close the tracks the dead process left open and write meeting_interrupted.

        Each such file is cut to its last valid page (a torn page cannot be decoded anyway), hashed,
        and closed at its decodable end. Returns the interruption time on the meeting clock: the
        last recorded moment.
        """
        manifest = build_manifest(self.meeting_dir, read_events(self.meeting_dir / MANIFEST_FILENAME))
        last_s = max([0.0, *(i.end_s for i in manifest.interruptions)])
        for track in manifest.tracks:
            if track.closed:
                last_s = max(last_s, track.end_s or 0.0)
                continue
            if track.track_id in self._open:
                continue
            path = self.meeting_dir / track.path
            end_s = track.start_s
            try:
                if not track.is_audio:
                    end_s = self._recover_video(track.track_id, track.start_s, path)
                else:
                    info = read_ogg_opus_info(path)
                    if info.valid_bytes < info.file_bytes:
                        os.truncate(path, info.valid_bytes)
                    end_s = track.start_s + info.duration_s
                digest, size = _hash_and_size(path)
            except (OSError, ValueError) as exc:
                logger.warning("meeting %s: track %s unreadable: %s", self.meeting_id, track.track_id, exc)
                digest, size = "", 0
            last_s = max(last_s, end_s)
            closing = TrackClosed(track.track_id, round(end_s, 6), digest, size, reason="interrupted")
            self._append(closing, track.track_id)
        self._append(MeetingInterrupted(round(last_s, 6), _utc_now().isoformat()), None)
        self._interruption_open = True
        logger.warning("meeting %s: marked interrupted at %.3f s", self.meeting_id, last_s)
        return last_s

    def resume(self, now_s: float) -> None:
        """Write meeting_resumed: recording goes on (new tracks) after an interruption.

        Calls :meth:`mark_interrupted` first unless an interruption is already marked, so a reopened
        meeting's crashed tracks are always closed before new ones start.
        """
        if not self._interruption_open:
            self.mark_interrupted()
        self._append(MeetingResumed(round(now_s, 6), self._utc_at(now_s)), None)
        self._interruption_open = False

    # -- internals ----------------------------------------------------------------------------

    def _recover_video(self, track_id: str, start_s: float, path: Path) -> float:
        return videotracks.recover_file(self, track_id, start_s, path)

    def _open_video_file(self, handle: VideoTrackHandle) -> IvfWriter | None:
        return videotracks.open_file(self, handle)

    def _forget_video(self, handle: VideoTrackHandle) -> None:
        self._open_video.pop(id(handle), None)

    def _fail_video(self, exc: OSError, track_id: str | None) -> None:
        videotracks.fail(self, exc, track_id)

    def _close_track(self, handle: TrackHandle, t_s: float, *, reason: str) -> None:
        writer = handle._writer
        if writer is None or handle.track_id not in self._open:
            return
        handle._finish_repair()
        if handle.track_id not in self._open:  # the manifest refused the counts: recording failed
            return
        del self._open[handle.track_id]
        try:
            stats = writer.close()
        except OSError as exc:
            self._fail(exc, handle.track_id)
            return
        self._append(
            TrackClosed(handle.track_id, round(t_s, 6), stats.sha256, stats.bytes_written, reason=reason),
            handle.track_id,
        )

    def _append(self, event: ManifestEvent, track_id: str | None, *, force: bool = False) -> None:
        if self.failure is not None and not force:
            return
        try:
            self._log.append(event)
        except OSError as exc:
            if self.failure is None:
                self._fail(exc, track_id)
        except ValueError:
            logger.error("meeting %s: manifest closed, dropped %s", self.meeting_id, event.kind)

    def _fail(self, exc: OSError, track_id: str | None) -> None:
        """Stop recording everything, keep what is on disk intact, report once."""
        if self.failure is not None:
            return
        t_s = max([h.start_s + h.duration_s for h in self._open.values()] + [0.0])
        message = f"Ghi âm đã dừng: {_describe_os_error(exc)} ({exc.strerror or exc})."
        self.failure = RecordingFailure(
            message=message, errno=exc.errno, track_id=track_id, t_s=round(t_s, 6)
        )
        logger.error("meeting %s: recording stopped on track %s: %s", self.meeting_id, track_id, exc)
        for video in list(self._open_video.values()):  # the disk refuses: video stops without writing more
            self._open_video.pop(id(video), None)
            video._abandon()
        closed: list[TrackClosed] = []
        for handle in list(self._open.values()):
            writer = handle._writer
            del self._open[handle.track_id]
            if writer is None:
                continue
            try:
                stats = writer.close()
            except OSError as close_exc:
                logger.error("track %s: close after failure: %s", handle.track_id, close_exc)
                stats = writer.stats()
            end_s = handle.start_s + stats.duration_s
            closed.append(
                TrackClosed(
                    handle.track_id,
                    round(end_s, 6),
                    stats.sha256,
                    stats.bytes_written,
                    reason="recording_failed",
                )
            )
        for event in [RecordingFailed(round(t_s, 6), track_id, message), *closed]:
            try:
                self._log.append(event)
            except (OSError, ValueError):
                logger.error("meeting %s: could not log %s (disk refusing)", self.meeting_id, event.kind)
                break
        if self.on_error is not None:
            try:
                self.on_error(self.failure)
            except Exception:
                logger.exception("meeting %s: on_error callback failed", self.meeting_id)


def _series_key(participant_id: str, kind: str) -> str:
    """Tracks of one participant and kind form a series (segments after reconnects)."""
    return participant_id if kind == KIND_AUDIO else f"{participant_id}/{kind}"


def _hash_and_size(path: Path) -> tuple[str, int]:
    return sha256_file(path), path.stat().st_size


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    except OSError:
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
