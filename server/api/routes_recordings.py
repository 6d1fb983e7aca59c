"""``/api/meetings/{id}/recording``: the mixed playback file (HTTP ranges) and per-track downloads."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from fastapi import APIRouter
from fastapi.responses import FileResponse

from server.api.deps import ActorDep, SessionDep
from server.services import recordings

router = APIRouter(tags=["recordings"])


@router.get("/api/meetings/{meeting_id}/recording")
def playback(meeting_id: int, session: SessionDep, actor: ActorDep) -> FileResponse:
    f = recordings.playback_file(session, actor, meeting_id)
    return FileResponse(
        f.path, media_type=f.media_type, filename=f.filename, content_disposition_type="inline"
    )


@router.get("/api/meetings/{meeting_id}/recording/tracks")
def tracks(meeting_id: int, session: SessionDep, actor: ActorDep) -> dict[str, Any]:
    rec = recordings.get(session, meeting_id)
    items = recordings.list_tracks(session, actor, meeting_id)
    return {
        "status": rec.status.value if rec else None,
        "error": rec.error if rec else "",
        "tracks": [asdict(t) for t in items],
    }


@router.get("/api/meetings/{meeting_id}/recording/tracks/{track_key}")
def track(meeting_id: int, track_key: str, session: SessionDep, actor: ActorDep) -> FileResponse:
    f = recordings.track_file(session, actor, meeting_id, track_key)
    return FileResponse(f.path, media_type=f.media_type, filename=f.filename)
