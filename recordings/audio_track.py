"""One participant's audio track being recorded (``TrackHandle``), whose it is and why recording stopped.
Driven by ``recordings.storage.MeetingRecorder``; its methods never raise into the media path."""

from __future__ import annotations

import errno as errno_codes
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from recordings.manifest import GAP_REASON_RTP, GapEvent, LossEvent, Muted, TrackRepaired, Unmuted
from recordings.oggopus import OggOpusWriter
from recordings.opuspacket import OPUS_CLOCK_HZ
from recordings.repair import TrackRepairer

if TYPE_CHECKING:
    from recordings.storage import MeetingRecorder

logger = logging.getLogger(__name__)

LOSS_BATCH_S = 5.0  # unrecovered loss spans are written to the manifest in one line per this much track time


@dataclass(frozen=True)
class ParticipantInfo:
    """Who a track belongs to: the participant and their unit (connection point)."""

    participant_id: str
    username: str
    display_name: str
    unit_code: str
    unit_name: str


@dataclass(frozen=True)
class RecordingFailure:
    """Why recording stopped. ``message`` is user-facing (Vietnamese)."""

    message: str
    errno: int | None
    track_id: str | None
    t_s: float | None


ErrorCallback = Callable[[RecordingFailure], None]


def _describe_os_error(exc: OSError) -> str:
    if exc.errno in (errno_codes.ENOSPC, errno_codes.EDQUOT, errno_codes.EFBIG):
        return "hết dung lượng lưu trữ"
    if exc.errno in (errno_codes.EACCES, errno_codes.EPERM, errno_codes.EROFS):
        return "không có quyền ghi vào thư mục lưu trữ"
    return "lỗi ghi đĩa"


class TrackHandle:
    """One participant's audio track being recorded. Its methods never raise into the media path."""

    def __init__(
        self,
        recorder: MeetingRecorder,
        track_id: str,
        start_s: float,
        writer: OggOpusWriter | None,
    ) -> None:
        self._recorder = recorder
        self.track_id = track_id
        self.start_s = start_s
        self._writer = writer
        self._muted = False
        self._pending_gaps: list[tuple[int, int]] = []
        self._repairer: TrackRepairer | None = None  # made by the first sequenced packet (write_rtp)
        self._pending_losses: list[list[float]] = []

    @property
    def recording(self) -> bool:
        """True while packets written here reach the file."""
        return self._writer is not None and not self._writer.closed

    @property
    def muted(self) -> bool:
        return self._muted

    @property
    def duration_s(self) -> float:
        return 0.0 if self._writer is None else self._writer.duration_samples / OPUS_CLOCK_HZ

    def write(self, payload: bytes, rtp_timestamp: int) -> None:
        """Record one Opus RTP payload as it comes (no reordering, no repair: see :meth:`write_rtp`).
        On a disk error the whole recording stops (see recorder.error)."""
        self._deliver(payload, rtp_timestamp)
        self._log_pending()

    def write_rtp(
        self, payload: bytes, rtp_timestamp: int, sequence_number: int, *, red: bool = False
    ) -> None:
        """Record one RTP payload (Opus, or RED around Opus) with its sequence number: through the reorder
        buffer, holes filled from RED blocks and Opus in-band FEC, unrecovered losses logged."""
        if not self.recording:
            return
        if self._repairer is None:
            self._repairer = TrackRepairer(self._deliver, on_loss=self._loss)
        try:
            self._repairer.push(sequence_number, rtp_timestamp, payload, red=red)
        except Exception:  # a bug must not take the meeting down either
            logger.exception("track %s: unexpected error while repairing", self.track_id)
            self._recorder._fail(OSError(errno_codes.EIO, "unexpected recorder error"), self.track_id)
        self._log_pending()

    def _deliver(self, payload: bytes, rtp_timestamp: int) -> None:
        writer = self._writer
        if writer is None or writer.closed:
            return
        try:
            writer.write(payload, rtp_timestamp)
        except OSError as exc:
            self._recorder._fail(exc, self.track_id)
        except Exception:  # a bug must not take the meeting down either
            logger.exception("track %s: unexpected error while recording", self.track_id)
            self._recorder._fail(OSError(errno_codes.EIO, "unexpected recorder error"), self.track_id)

    def _log_pending(self, *, final: bool = False) -> None:
        """Log gaps and losses after the writer returned: a failing log may close the writer."""
        if self._pending_gaps:
            gaps, self._pending_gaps = self._pending_gaps, []
            for start, end in gaps:
                self._log_gap(start, end)
        if self._pending_losses and (
            final or self.start_s + self.duration_s - self._pending_losses[0][0] >= LOSS_BATCH_S
        ):
            spans, self._pending_losses = self._pending_losses, []
            self._recorder._append(LossEvent(self.track_id, spans), self.track_id)

    def _loss(self, start_ts: int, end_ts: int) -> None:
        writer = self._writer
        if writer is None:
            return
        end = writer.position_samples(end_ts)
        start = writer.position_samples(start_ts)
        if start is None or end is None or end <= start:
            return
        self._pending_losses.append(
            [round(self.start_s + start / OPUS_CLOCK_HZ, 6), round(self.start_s + end / OPUS_CLOCK_HZ, 6)]
        )

    def _finish_repair(self) -> None:
        """Write what the reorder buffer holds, the pending losses and the repair counts (track closing)."""
        repairer = self._repairer
        if repairer is None or not self.recording:
            return
        try:
            repairer.flush()
        except Exception:
            logger.exception("track %s: unexpected error while repairing", self.track_id)
        self._log_pending(final=True)
        stats = repairer.stats
        self._recorder._append(
            TrackRepaired(
                self.track_id,
                packets=stats.packets,
                holes=stats.holes,
                recovered_red=stats.recovered_red,
                recovered_fec=stats.recovered_fec,
                concealed=stats.concealed,
                reordered=stats.reordered,
                late=stats.late,
                lost_s=round(stats.lost_samples / OPUS_CLOCK_HZ, 6),
                malformed=stats.malformed,
            ),
            self.track_id,
        )

    def mute(self, t_s: float) -> None:
        if self.recording and not self._muted:
            if self._repairer is not None:  # packets stop while muted: the sequence numbers jump on unmute
                self._repairer.restart()
                self._log_pending()
            self._muted = True
            self._recorder._append(Muted(self.track_id, round(t_s, 6)), self.track_id)

    def unmute(self, t_s: float) -> None:
        if self.recording and self._muted:
            self._muted = False
            self._recorder._append(Unmuted(self.track_id, round(t_s, 6)), self.track_id)

    def close(self, t_s: float) -> None:
        """Finish the file and write track_closed (end, sha256, size). Safe to call twice."""
        self._recorder._close_track(self, t_s, reason="closed")

    def _gap(self, start_samples: int, end_samples: int) -> None:
        self._pending_gaps.append((start_samples, end_samples))

    def _log_gap(self, start_samples: int, end_samples: int) -> None:
        start_s = self.start_s + start_samples / OPUS_CLOCK_HZ
        end_s = self.start_s + end_samples / OPUS_CLOCK_HZ
        if end_s - start_s >= self._recorder.min_gap_event_s:
            self._recorder._append(
                GapEvent(self.track_id, round(start_s, 6), round(end_s, 6), GAP_REASON_RTP), self.track_id
            )
