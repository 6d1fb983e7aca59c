"""One camera or screen-share track being recorded: VP8 RTP in, IVF frames out, gaps in the manifest.

The handle is made when the track's first packet arrives (``MeetingRecorder.open_video_track``); its file
and its ``track_opened`` line are made at the first key frame, which is the track's start on the meeting
clock (frames before it cannot be decoded). ``wants_keyframe`` tells the caller to ask the sender for one
(PLI): at the start, and after a loss the depacketizer could not recover, until the next key frame arrives;
the span in between is logged as a ``gap`` (reason ``video_loss``). Its methods never raise into the media
path; a disk error stops video recording only (``MeetingRecorder.video_failure``), audio goes on.
"""

from __future__ import annotations

import errno as errno_codes
import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING

import recordings.storage as storage
from recordings.ivf import VIDEO_CLOCK_HZ, IvfWriter, read_ivf_info
from recordings.manifest import (
    GAP_REASON_VIDEO_LOSS,
    GapEvent,
    TrackClosed,
    VideoFailed,
    VideoStats,
)
from recordings.vp8frames import Vp8FrameAssembler

if TYPE_CHECKING:
    from recordings.storage import MeetingRecorder, ParticipantInfo

logger = logging.getLogger(__name__)

VIDEO_KINDS = ("camera", "screen")


class VideoTrackHandle:
    def __init__(self, recorder: MeetingRecorder, participant: ParticipantInfo, kind: str) -> None:
        if kind not in VIDEO_KINDS:
            raise ValueError(f"video track kind must be one of {VIDEO_KINDS}, not {kind!r}")
        self._recorder = recorder
        self.participant = participant
        self.kind = kind
        self.track_id: str | None = None  # given with the file, at the first key frame
        self.start_s: float | None = None
        self._writer: IvfWriter | None = None
        self._assembler = Vp8FrameAssembler(self._frame, self._loss)
        self._ssrc: int | None = None
        self._base_ts = 0  # extended RTP timestamp of pts 0 (of the current SSRC)
        self._pts_offset = 0  # pts of the current SSRC's first frame
        self._rebase = False  # the next frame starts a new SSRC's timeline
        self._last_pts = 0
        self._done = False
        self._gaps = 0
        self.dropped_frames = 0
        self.last_keyframe_request_s = -1e9  # the caller's rate limit (its clock)

    @property
    def recording(self) -> bool:
        return not self._done and self._recorder.video_failure is None and not self._recorder.ended

    @property
    def wants_keyframe(self) -> bool:
        return self.recording and self._assembler.waiting_keyframe

    @property
    def frames(self) -> int:
        return 0 if self._writer is None else self._writer.frames

    @property
    def duration_s(self) -> float:
        return 0.0 if self._writer is None else self._writer.duration_s

    def write_rtp(
        self, payload: bytes, rtp_timestamp: int, sequence_number: int, marker: bool, ssrc: int
    ) -> None:
        """One VP8 RTP payload as received (any order; duplicates and retransmissions welcome)."""
        if not self.recording:
            return
        try:
            if ssrc != self._ssrc:
                if self._ssrc is not None:  # the sender restarted its stream: a new timeline, a new key frame
                    self._assembler.flush()
                    self.dropped_frames += self._assembler.stats.dropped_frames
                    self._assembler = Vp8FrameAssembler(self._frame, self._loss)
                    self._rebase = True
                self._ssrc = ssrc
            self._assembler.push(sequence_number, rtp_timestamp, marker, payload)
        except OSError as exc:
            self._recorder._fail_video(exc, self.track_id)
        except Exception:  # a bug must not take the meeting down
            logger.exception(
                "video track %s/%s: unexpected error", self.participant.participant_id, self.kind
            )
            self._recorder._fail_video(OSError(errno_codes.EIO, "unexpected recorder error"), self.track_id)

    def close(self, t_s: float, *, reason: str = "closed") -> None:
        """Write what the depacketizer holds, finish the file, log its stats and track_closed (idempotent)."""
        if self._done:
            return
        try:
            if self.recording:
                self._assembler.flush()
        except OSError as exc:
            self._recorder._fail_video(exc, self.track_id)
        self._done = True
        writer = self._writer
        if writer is None or writer.closed:
            self._recorder._forget_video(self)
            return
        try:
            stats = writer.close()
        except OSError as exc:  # the last batch failed: closed, with every other video track, as failed
            self._recorder._fail_video(exc, self.track_id)
            return
        self._recorder._forget_video(self)
        assert self.track_id is not None and self.start_s is not None
        self._recorder._append(
            VideoStats(
                self.track_id,
                frames=stats.frames,
                keyframes=stats.keyframes,
                dropped_frames=self.dropped_frames + self._assembler.stats.dropped_frames,
                losses=self._gaps,
                width=writer.width,
                height=writer.height,
            ),
            self.track_id,
        )
        end_s = (
            max(t_s, self.start_s + stats.duration_s)
            if reason != "recording_failed"
            else (self.start_s + stats.duration_s)
        )
        self._recorder._append(
            TrackClosed(self.track_id, round(end_s, 6), stats.sha256, stats.bytes_written, reason=reason),
            self.track_id,
        )

    def _abandon(self) -> tuple[str, float, int] | None:
        """After a failure: drop the file handle without writing; (track id, end, bytes) if a file exists."""
        self._done = True
        writer = self._writer
        if writer is None or self.track_id is None or self.start_s is None:
            return None
        try:
            writer.abandon()
        except OSError:
            pass
        return self.track_id, self.start_s + writer.duration_s, writer.stats().bytes_written

    # -- depacketizer callbacks ---------------------------------------------------------------------

    def _frame(self, frame: bytes, ts: int, keyframe: bool) -> None:
        if self._writer is None:
            opened = self._recorder._open_video_file(self)
            if opened is None:
                self._done = True
                return
            self._writer = opened
            self._base_ts = ts
        elif self._rebase:
            self._rebase = False
            assert self.start_s is not None
            now_pts = round((self._recorder.clock_s() - self.start_s) * VIDEO_CLOCK_HZ)
            self._pts_offset = max(now_pts, self._last_pts + 1)
            self._base_ts = ts
            self._log_gap(self._last_pts, self._pts_offset)
        pts = ts - self._base_ts + self._pts_offset
        if pts <= self._last_pts and self._writer.frames:
            pts = self._last_pts + 1  # IVF players want increasing pts
        self._last_pts = pts
        self._writer.write_frame(frame, pts)

    def _loss(self, last_good_ts: int, keyframe_ts: int) -> None:
        self._log_gap(
            last_good_ts - self._base_ts + self._pts_offset, keyframe_ts - self._base_ts + self._pts_offset
        )

    def _log_gap(self, from_pts: int, to_pts: int) -> None:
        if self.track_id is None or self.start_s is None or to_pts <= from_pts:
            return
        self._gaps += 1
        self._recorder._append(
            GapEvent(
                self.track_id,
                round(self.start_s + from_pts / VIDEO_CLOCK_HZ, 6),
                round(self.start_s + to_pts / VIDEO_CLOCK_HZ, 6),
                GAP_REASON_VIDEO_LOSS,
            ),
            self.track_id,
        )


# -- the recorder's video side (MeetingRecorder delegates here) ----------------------------------------


def recover_file(recorder: MeetingRecorder, track_id: str, start_s: float, path: Path) -> float:
    """A video file a dead process left: cut to its last whole frame, its counts logged; its end."""
    info = read_ivf_info(path)
    if info.valid_bytes < info.file_bytes:
        os.truncate(path, info.valid_bytes)
    recorder._append(
        VideoStats(
            track_id, frames=info.frames, keyframes=info.keyframes, width=info.width, height=info.height
        ),
        track_id,
    )
    return start_s + info.duration_s


def open_file(recorder: MeetingRecorder, handle: VideoTrackHandle) -> IvfWriter | None:
    """The first key frame of a video handle: its track id, file and track_opened (None: not recorded)."""
    if recorder.video_failure is not None or recorder.failure is not None or recorder.ended:
        return None
    participant = handle.participant
    who = storage._series_key(participant.participant_id, handle.kind)
    track_id = f"t{len(recorder._track_ids) + 1:03d}-{storage.slug(participant.participant_id)}-{handle.kind}"
    while track_id in recorder._track_ids:
        track_id += "x"
    storage.validate_id(track_id, kind="track id")
    recorder._track_ids.add(track_id)
    relative = storage.track_relative_path(track_id, storage.VIDEO_TRACK_SUFFIX)
    now_s = recorder.clock_s()
    try:
        writer = IvfWriter(
            recorder.meeting_dir / relative,
            fsync_interval_s=recorder.fsync_interval_s,
            min_free_bytes=recorder.video_min_free_bytes,
        )
    except OSError as exc:
        recorder._fail_video(exc, track_id)
        return None
    storage._fsync_dir(recorder.meeting_dir / storage.TRACKS_DIRNAME)
    handle.track_id = track_id
    handle.start_s = now_s
    recorder._track_opened(participant, who, track_id, relative, now_s, 0, media=handle.kind)
    return writer


def fail(recorder: MeetingRecorder, exc: OSError, track_id: str | None) -> None:
    """Stop recording video (every video track), keep the files intact, report once. Audio goes on."""
    if recorder.video_failure is not None:
        return
    t_s = recorder.clock_s()
    message = f"Ghi hình đã dừng: {storage._describe_os_error(exc)} ({exc.strerror or exc})."
    recorder.video_failure = storage.RecordingFailure(
        message=message, errno=exc.errno, track_id=track_id, t_s=round(t_s, 6)
    )
    logger.error("meeting %s: video recording stopped on track %s: %s", recorder.meeting_id, track_id, exc)
    recorder._append(VideoFailed(round(t_s, 6), track_id, message), track_id)
    _abandon_all(recorder)
    if recorder.on_video_error is not None:
        try:
            recorder.on_video_error(recorder.video_failure)
        except Exception:
            logger.exception("meeting %s: on_video_error callback failed", recorder.meeting_id)


def _abandon_all(recorder: MeetingRecorder) -> None:
    for handle in list(recorder._open_video.values()):
        recorder._forget_video(handle)
        left = handle._abandon()
        if left is None:
            continue
        track_id, end_s, size = left
        path = recorder.meeting_dir / storage.track_relative_path(track_id, storage.VIDEO_TRACK_SUFFIX)
        try:  # what reached the disk: whole frames up to the failure
            info = read_ivf_info(path)
            if info.valid_bytes < info.file_bytes:
                os.truncate(path, info.valid_bytes)
            end_s = handle.start_s + info.duration_s if handle.start_s is not None else end_s
            digest, size = storage._hash_and_size(path)
        except (OSError, ValueError):
            digest = ""
        recorder._append(
            TrackClosed(track_id, round(end_s, 6), digest, size, reason="recording_failed"), track_id
        )
