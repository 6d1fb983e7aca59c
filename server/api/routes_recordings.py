"""``/api/meetings/{id}/recording``: the mixed playback file (HTTP ranges) and per-track downloads."""

from __future__ import annotations

from dataclasses import asdict
from typing import Literal

from fastapi import APIRouter
from fastapi.responses import FileResponse, Response
from pydantic import BaseModel, Field

from server.api.deps import ActorDep, SessionDep
from server.services import recordings, subtitles, videos
from server.services.videos import VideoStatusView

router = APIRouter(tags=["recordings"])


class TrackView(BaseModel):
    """A recorded track: a connection point's microphone (Ogg Opus) or camera / screen share (VP8, IVF)."""

    track_key: str = Field(description="download it at /api/meetings/{id}/recording/tracks/{track_key}")
    file: str
    username: str
    unit_code: str
    start_s: float = Field(description="start on the meeting clock (seconds)")
    end_s: float | None
    sha256: str
    size_bytes: int
    previous_track_key: str = Field(description="the same participant's and kind's track before a reconnect")
    kind: Literal["audio", "camera", "screen"]


class TracksView(BaseModel):
    status: str | None = Field(description="recording, finished, failed, interrupted, purged; null: none")
    error: str
    tracks: list[TrackView]


@router.get("/api/meetings/{meeting_id}/recording")
def playback(meeting_id: int, session: SessionDep, actor: ActorDep) -> FileResponse:
    f = recordings.playback_file(session, actor, meeting_id)
    return FileResponse(
        f.path, media_type=f.media_type, filename=f.filename, content_disposition_type="inline"
    )


@router.get("/api/meetings/{meeting_id}/recording/tracks", response_model=TracksView)
def tracks(meeting_id: int, session: SessionDep, actor: ActorDep) -> TracksView:
    rec = recordings.get(session, meeting_id)
    items = recordings.list_tracks(session, actor, meeting_id)
    return TracksView(
        status=rec.status.value if rec else None,
        error=rec.error if rec else "",
        tracks=[TrackView.model_validate(asdict(t)) for t in items],
    )


@router.get("/api/meetings/{meeting_id}/recording/tracks/{track_key}")
def track(meeting_id: int, track_key: str, session: SessionDep, actor: ActorDep) -> FileResponse:
    f = recordings.track_file(session, actor, meeting_id, track_key)
    return FileResponse(f.path, media_type=f.media_type, filename=f.filename)


@router.get("/api/meetings/{meeting_id}/subtitles.vtt", response_class=Response)
def subtitles_vtt(meeting_id: int, session: SessionDep, actor: ActorDep) -> Response:
    """WebVTT subtitles from the corrected transcript: 409 while it is being made, 404 before."""
    return Response(
        subtitles.webvtt(session, actor, meeting_id),
        media_type="text/vtt; charset=utf-8",
        headers={"Content-Disposition": f'inline; filename="cuoc-hop-{meeting_id}.vtt"'},
    )


@router.get("/api/meetings/{meeting_id}/video")
def video(meeting_id: int, session: SessionDep, actor: ActorDep) -> FileResponse:
    """The composed MP4 (H.264, AAC, Vietnamese subtitles, chapters) with HTTP range requests: 409 while it is
    being made, 404 before."""
    f = videos.video_file(session, actor, meeting_id)
    return FileResponse(
        f.path, media_type=f.media_type, filename=f.filename, content_disposition_type="inline"
    )


@router.get("/api/meetings/{meeting_id}/video/status", response_model=VideoStatusView)
def video_status(meeting_id: int, session: SessionDep, actor: ActorDep) -> VideoStatusView:
    """The composition's progress (as the transcript's) and the picture gaps the player shows."""
    return videos.status(session, actor, meeting_id)
