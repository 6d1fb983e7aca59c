"""The speaker view as a list of shots: which video track fills the picture and which sits in the corner.

At any moment: a screen share, when one is being recorded, fills the picture with the speaker (or the hall)
in the corner; otherwise the speaker's camera fills it with the hall (the chairing unit's camera) in the
corner; the hall alone when the hall speaks or nobody has spoken yet. A track shows only where it has frames:
from its start to its last whole frame (a file cut by a killed server or a full disk ends there) and outside
its ``video_loss`` gaps. Where the camera a shot wants has no frames, another source takes its place and the
moment is noted as a :class:`PictureGap` (kept with the composition, shown in the player), as are the
meeting's interruptions (a killed server, until it resumed) and the rest of the meeting after video recording
stopped (a full disk).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from recordings.manifest import GAP_REASON_VIDEO_LOSS, Interval, MeetingManifest, TrackRecord
from recordings.speakers import Turn

KIND_SCREEN = "screen"
KIND_CAMERA = "camera"
GAP_TRUNCATED = "truncated"  # the file ends before the track did (killed server, full disk, corrupt tail)
GAP_VIDEO_LOSS = GAP_REASON_VIDEO_LOSS
GAP_INTERRUPTED = "interrupted"  # the server stopped (killed, crashed) until the meeting resumed
GAP_VIDEO_STOPPED = "video_stopped"  # video recording stopped (the disk filled up); audio went on
MIN_SHOT_S = 0.05


@dataclass(frozen=True)
class VideoSource:
    """A video track with the spans on the meeting clock where its file has frames."""

    track: TrackRecord
    frames: tuple[Interval, ...]  # where it can be shown
    file_end_s: float  # where it can be shown until: its last whole frame, or held to the track's end
    valid_bytes: int  # the file up to its last whole frame (the composer reads no further)
    last_frame_s: float  # the meeting clock at its last whole frame, by the file's timestamps

    def shows(self, t_s: float) -> bool:
        return any(span.start_s <= t_s < span.end_s for span in self.frames)

    def covers(self, t_s: float) -> bool:
        """The track was being recorded at ``t_s`` (whether or not its file has the frames)."""
        end = self.track.end_s if self.track.end_s is not None else self.file_end_s
        return self.track.start_s <= t_s < end


@dataclass(frozen=True)
class Shot:
    start_s: float
    end_s: float
    main: str | None  # track id filling the picture; None: no picture (a slate)
    corner: str | None  # track id in the corner


@dataclass(frozen=True)
class PictureGap:
    """A span where a camera or screen that should have been shown had no frames."""

    start_s: float
    end_s: float
    track_id: str
    participant_id: str
    reason: str  # "truncated", "video_loss", "interrupted" or "video_stopped"


def source_of(track: TrackRecord, file_duration_s: float, valid_bytes: int, file_bytes: int) -> VideoSource:
    """A track's showable spans: its file's frames, minus the manifest's video_loss gaps. An intact file whose
    frames end before the track did (a sender's media clock behind the wall clock: a loaded machine) holds its
    last frame to the track's end; a file with a torn or corrupt tail ends at its last whole frame."""
    file_end = track.start_s + file_duration_s
    if valid_bytes >= file_bytes and track.end_s is not None:
        file_end = max(file_end, track.end_s)
    spans = [Interval(track.start_s, file_end)] if file_end > track.start_s else []
    for gap in track.gaps:
        if gap.reason != GAP_REASON_VIDEO_LOSS:
            continue
        cut: list[Interval] = []
        for span in spans:
            if gap.end_s <= span.start_s or gap.start_s >= span.end_s:
                cut.append(span)
                continue
            if gap.start_s > span.start_s:
                cut.append(Interval(span.start_s, gap.start_s))
            if gap.end_s < span.end_s:
                cut.append(Interval(gap.end_s, span.end_s))
        spans = cut
    return VideoSource(track, tuple(spans), file_end, valid_bytes, track.start_s + file_duration_s)


def _speaker_at(turns: Sequence[Turn], t_s: float) -> str | None:
    for turn in turns:
        if turn.start_s <= t_s < turn.end_s:
            return turn.participant_id
    return None


def _latest(sources: Sequence[VideoSource], t_s: float) -> VideoSource | None:
    showing = [s for s in sources if s.shows(t_s)]
    return max(showing, key=lambda s: s.track.start_s) if showing else None


def plan_shots(
    manifest: MeetingManifest, sources: Sequence[VideoSource], turns: Sequence[Turn], hall_unit_code: str
) -> tuple[list[Shot], list[PictureGap]]:
    """The shots covering ``[0, manifest.length_s)`` and the picture gaps met on the way."""
    length = manifest.length_s
    cuts = {0.0, length}
    for turn in turns:
        cuts.update((turn.start_s, turn.end_s))
    for source in sources:
        cuts.update((source.track.start_s, source.file_end_s))
        if source.track.end_s is not None:
            cuts.add(source.track.end_s)
        for span in source.frames:
            cuts.update((span.start_s, span.end_s))
    points = sorted(c for c in cuts if 0.0 <= c <= length)
    screens = [s for s in sources if s.track.kind == KIND_SCREEN]
    cameras = [s for s in sources if s.track.kind == KIND_CAMERA]
    halls = [s for s in cameras if s.track.unit_code == hall_unit_code]
    shots: list[Shot] = []
    gaps: list[PictureGap] = []
    for start, end in zip(points, points[1:], strict=False):
        if end - start <= 1e-6:
            continue
        t = (start + end) / 2
        speaker = _speaker_at(turns, t)
        hall = _latest(halls, t)
        wanted = [s for s in cameras if s.track.participant_id == speaker and s.covers(t)]
        wanted += [s for s in screens if s.covers(t)]
        for source in wanted:
            if not source.shows(t):
                reason = GAP_TRUNCATED if t >= source.file_end_s else GAP_VIDEO_LOSS
                gaps.append(
                    PictureGap(start, end, source.track.track_id, source.track.participant_id, reason)
                )
        speaking = _latest([s for s in cameras if s.track.participant_id == speaker], t)
        screen = _latest(screens, t)
        main: VideoSource | None
        corner: VideoSource | None
        if screen is not None:
            inset = speaking or hall
            main, corner = screen, inset
        elif speaking is not None and (hall is None or speaking.track.unit_code != hall_unit_code):
            main, corner = speaking, hall
        else:
            main, corner = hall or speaking or _latest(cameras, t), None
        shot = Shot(
            start, end, main.track.track_id if main else None, corner.track.track_id if corner else None
        )
        if shots and (shots[-1].main, shots[-1].corner) == (shot.main, shot.corner):
            shots[-1] = Shot(shots[-1].start_s, end, shot.main, shot.corner)
        else:
            shots.append(shot)
    for span in manifest.interruptions:
        if span.end_s > span.start_s:
            gaps.append(PictureGap(span.start_s, span.end_s, "", "", GAP_INTERRUPTED))
    for failure in manifest.video_failures:
        if failure.t_s < length:
            gaps.append(PictureGap(failure.t_s, length, failure.track_id or "", "", GAP_VIDEO_STOPPED))
    return _absorb_slivers(shots), _merge_gaps(gaps)


def _absorb_slivers(shots: list[Shot]) -> list[Shot]:
    """Shots shorter than MIN_SHOT_S (rounding between a turn and a track's start) join the one before."""
    out: list[Shot] = []
    for shot in shots:
        if out and shot.end_s - shot.start_s < MIN_SHOT_S:
            out[-1] = Shot(out[-1].start_s, shot.end_s, out[-1].main, out[-1].corner)
        else:
            out.append(shot)
    return out


def _merge_gaps(gaps: list[PictureGap]) -> list[PictureGap]:
    out: list[PictureGap] = []
    for gap in sorted(gaps, key=lambda g: (g.track_id, g.start_s)):
        last = out[-1] if out else None
        if (
            last
            and last.track_id == gap.track_id
            and last.reason == gap.reason
            and gap.start_s <= last.end_s + 1e-6
        ):
            out[-1] = PictureGap(last.start_s, gap.end_s, last.track_id, last.participant_id, last.reason)
        else:
            out.append(gap)
    return sorted(out, key=lambda g: g.start_s)
