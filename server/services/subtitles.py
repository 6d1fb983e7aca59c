"""WebVTT subtitles of a meeting from its corrected transcript (``GET /api/meetings/{id}/subtitles.vtt``).

One cue per transcript segment on the meeting clock, the speaker and unit as the cue's voice (``<v ...>``),
the clerk's corrected text; segments the engine doubts and nobody confirmed are marked ``(?)``.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from server.errors import Conflict, NotFound
from server.models import JobStatus, Transcript, TranscriptSegment
from server.services import transcripts
from server.services.context import Actor
from server.services.transcripts import SegmentView

_ESCAPES = (("&", "&amp;"), ("<", "&lt;"), (">", "&gt;"))


def vtt_time(seconds: float) -> str:
    millis = max(0, round(seconds * 1000))
    hours, rest = divmod(millis, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    secs, ms = divmod(rest, 1000)
    return f"{hours:02d}:{minutes:02d}:{secs:02d}.{ms:03d}"


def _escape(text: str) -> str:
    for raw, entity in _ESCAPES:
        text = text.replace(raw, entity)
    return " ".join(text.split())  # a cue's text must not hold a blank line (nor "-->")


def webvtt(session: Session, actor: Actor, meeting_id: int) -> str:
    """The transcript as WebVTT. NotFound before a transcription was queued or when it failed; Conflict while
    it is being made."""
    view = transcripts.get_transcript(session, actor, meeting_id)
    if view.status in (JobStatus.QUEUED.value, JobStatus.RUNNING.value):
        raise Conflict(
            "Phụ đề đang được tạo cùng bản ghi chữ, vui lòng thử lại sau.",
            code="subtitles_processing",
            details={"meeting": meeting_id, "progress": view.progress},
        )
    if view.status != JobStatus.DONE.value:
        raise NotFound("Cuộc họp chưa có bản ghi chữ để làm phụ đề.", details={"meeting": meeting_id})
    return render(view.segments)


def render(segments: Sequence[SegmentView]) -> str:
    """WebVTT of transcript segments (the endpoint's and the composed video's)."""
    lines = ["WEBVTT", ""]
    for number, seg in enumerate(segments, start=1):
        end = max(seg.end, seg.start + 0.001)
        voice = seg.speaker + (f" ({seg.unit})" if seg.unit else "")
        text = _escape(seg.text).replace("--&gt;", "-- &gt;") + (" (?)" if seg.uncertain else "")
        cue = f"{vtt_time(seg.start)} --> {vtt_time(end)}"
        lines += [str(number), cue, f"<v {_escape(voice)}>{text}", ""]
    return "\n".join(lines)


def for_meeting(session: Session, meeting_id: int) -> str | None:
    """The WebVTT of a meeting's finished transcript (no visibility check: the worker's), None without one."""
    row = session.scalar(select(Transcript).where(Transcript.meeting_id == meeting_id))
    if row is None or row.status is not JobStatus.DONE:
        return None
    codes = transcripts._unit_codes(session)
    segs = session.scalars(
        select(TranscriptSegment)
        .where(TranscriptSegment.meeting_id == meeting_id)
        .order_by(TranscriptSegment.seq)
    )
    return render([transcripts._segment_view(s, codes) for s in segs])
