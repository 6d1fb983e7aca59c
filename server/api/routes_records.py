"""What a meeting leaves on paper: transcript and its edits, conclusions, minutes (form 1.9) and the
conclusion notice (form 1.4) with their versions, approval, verification and DOCX/PDF exports."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import APIRouter, BackgroundTasks, Depends, Request, Response
from fastapi.responses import JSONResponse, StreamingResponse
from fastapi.responses import Response as FileResponse
from starlette.concurrency import run_in_threadpool

from server.api.deps import ActorDep, DatabaseDep, SessionDep, SettingsDep
from server.config import Settings
from server.db import Database
from server.documents.pool import RenderBusy, RenderPool
from server.services import minutes, transcripts
from server.services.context import Actor
from server.services.minutes import ApproveRequest, DraftEdit, FileFormat, VerifyResult, VersionView
from server.services.minutes_content import DocKind, DocumentRequest
from server.services.transcripts import (
    ConclusionCreate,
    ConclusionUpdate,
    ConclusionView,
    SegmentEditView,
    SegmentPatch,
    SegmentView,
    TranscriptProgress,
    TranscriptView,
)

router = APIRouter(tags=["records"])

# The progress stream reads the transcript's row this often (the worker may be another process or machine,
# so the database is where progress lives) and says it is alive this often when nothing changes.
PROGRESS_CHECK_INTERVAL_S = 1.0
PROGRESS_KEEPALIVE_S = 15.0
# A stream ends after this long; EventSource reconnects by itself (bounded server state per client).
PROGRESS_STREAM_MAX_S = 600.0


@router.get("/api/meetings/{meeting_id}/transcript", response_model=TranscriptView)
def get_transcript(meeting_id: int, session: SessionDep, actor: ActorDep) -> TranscriptView:
    return transcripts.get_transcript(session, actor, meeting_id)


@router.get("/api/meetings/{meeting_id}/transcript/events", response_class=StreamingResponse)
def transcript_events(
    meeting_id: int, request: Request, db: DatabaseDep, actor: ActorDep
) -> StreamingResponse:
    """Transcription progress pushed as Server-Sent Events (``event: progress``, data = TranscriptProgress as
    JSON) whenever it changes; the stream ends once the transcript is done or failed."""
    with db.session() as session:
        first = transcripts.transcript_progress(session, actor, meeting_id)  # 403/404 before streaming
    return StreamingResponse(
        _progress_events(request, db, actor, first),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )


async def _progress_events(
    request: Request, db: Database, actor: Actor, state: TranscriptProgress
) -> AsyncIterator[str]:
    def read() -> TranscriptProgress:
        with db.session() as session:
            return transcripts.transcript_progress(session, actor, state.meeting_id)

    loop = asyncio.get_running_loop()
    started = last_sent = loop.time()
    yield f"event: progress\ndata: {state.model_dump_json()}\n\n"
    while not state.finished and loop.time() - started < PROGRESS_STREAM_MAX_S:
        await asyncio.sleep(PROGRESS_CHECK_INTERVAL_S)
        if await request.is_disconnected():
            return
        current = await run_in_threadpool(read)
        if current != state:
            state, last_sent = current, loop.time()
            yield f"event: progress\ndata: {state.model_dump_json()}\n\n"
        elif loop.time() - last_sent >= PROGRESS_KEEPALIVE_S:
            last_sent = loop.time()
            yield ": keepalive\n\n"


@router.patch("/api/segments/{segment_id}", response_model=SegmentView)
def edit_segment(
    segment_id: int,
    body: SegmentPatch,
    session: SessionDep,
    actor: ActorDep,
    request: Request,
    after: BackgroundTasks,
) -> SegmentView:
    view = transcripts.edit_segment(session, actor, segment_id, body)
    meeting_id = transcripts.segment_meeting_id(session, segment_id)
    # once the correction is committed (background tasks run after it): the composed video's subtitles again
    background = getattr(request.app.state, "background", None)
    if background is not None:
        after.add_task(background.queue_subtitles, meeting_id)
    return view


@router.get("/api/segments/{segment_id}/history", response_model=list[SegmentEditView])
def segment_history(segment_id: int, session: SessionDep, actor: ActorDep) -> list[SegmentEditView]:
    return transcripts.segment_history(session, actor, segment_id)


@router.get("/api/meetings/{meeting_id}/conclusions", response_model=list[ConclusionView])
def list_conclusions(meeting_id: int, session: SessionDep, actor: ActorDep) -> list[ConclusionView]:
    return transcripts.list_conclusions(session, actor, meeting_id)


@router.post("/api/meetings/{meeting_id}/conclusions", response_model=ConclusionView, status_code=201)
def create_conclusion(
    meeting_id: int, body: ConclusionCreate, session: SessionDep, actor: ActorDep
) -> ConclusionView:
    return transcripts.create_conclusion(session, actor, meeting_id, body)


@router.patch("/api/meetings/{meeting_id}/conclusions/{conclusion_id}", response_model=ConclusionView)
def update_conclusion(
    meeting_id: int, conclusion_id: int, body: ConclusionUpdate, session: SessionDep, actor: ActorDep
) -> ConclusionView:
    return transcripts.update_conclusion(session, actor, meeting_id, conclusion_id, body)


@router.delete("/api/meetings/{meeting_id}/conclusions/{conclusion_id}", status_code=204)
def delete_conclusion(meeting_id: int, conclusion_id: int, session: SessionDep, actor: ActorDep) -> Response:
    transcripts.delete_conclusion(session, actor, meeting_id, conclusion_id)
    return Response(status_code=204)


def _render_pool(request: Request) -> RenderPool:
    pool: RenderPool = request.app.state.render_pool
    return pool


RenderPoolDep = Annotated[RenderPool, Depends(_render_pool)]


async def _export(
    db: Database,
    actor: Actor,
    settings: Settings,
    pool: RenderPool,
    what: tuple[int, DocKind, FileFormat, int | None],
) -> Response:
    """Database reads in the threadpool, the rendering in the render pool: the event loop only waits."""

    def gather() -> minutes.Export:
        with db.session() as session:
            return minutes.export(session, actor, settings, *what)

    try:
        with pool.admit():
            prepared = await pool.read(gather)
            data = await pool.render(prepared.job, cache=prepared.sealed)
    except RenderBusy as exc:
        return JSONResponse(
            exc.to_json(), status_code=exc.status_code, headers={"Retry-After": str(exc.retry_after_s)}
        )
    return FileResponse(
        data,
        media_type=prepared.media_type,
        headers={"Content-Disposition": f'attachment; filename="{prepared.filename}"'},
    )


def _document_routes(kind: DocKind) -> None:
    """The same routes for ``/minutes`` (form 1.9) and ``/notice`` (form 1.4)."""
    base = f"/api/meetings/{{meeting_id}}/{kind.value}"

    def read(meeting_id: int, session: SessionDep, actor: ActorDep, settings: SettingsDep) -> VersionView:
        return minutes.get(session, actor, settings, meeting_id, kind)

    def generate(
        meeting_id: int,
        session: SessionDep,
        actor: ActorDep,
        settings: SettingsDep,
        body: DocumentRequest | None = None,
    ) -> VersionView:
        return minutes.generate(session, actor, settings, meeting_id, kind, body or DocumentRequest())

    def versions(meeting_id: int, session: SessionDep, actor: ActorDep) -> list[VersionView]:
        return minutes.list_versions(session, actor, meeting_id, kind)

    def read_version(
        meeting_id: int, version: int, session: SessionDep, actor: ActorDep, settings: SettingsDep
    ) -> VersionView:
        return minutes.get(session, actor, settings, meeting_id, kind, version)

    def approve(
        meeting_id: int,
        version: int,
        session: SessionDep,
        actor: ActorDep,
        settings: SettingsDep,
        body: ApproveRequest | None = None,
    ) -> VersionView:
        return minutes.approve(session, actor, settings, meeting_id, kind, version, body)

    def verify(meeting_id: int, version: int, session: SessionDep, actor: ActorDep) -> VerifyResult:
        return minutes.verify(session, actor, meeting_id, kind, version)

    def export(fmt: FileFormat):  # type: ignore[no-untyped-def]
        async def download(
            meeting_id: int,
            db: DatabaseDep,
            actor: ActorDep,
            settings: SettingsDep,
            pool: RenderPoolDep,
            version: int | None = None,
        ) -> Response:
            return await _export(db, actor, settings, pool, (meeting_id, kind, fmt, version))

        return download

    tag = kind.value
    router.add_api_route(base, read, methods=["GET"], response_model=VersionView, name=f"{tag}.read")
    router.add_api_route(
        base, generate, methods=["POST"], response_model=VersionView, status_code=201, name=f"{tag}.generate"
    )
    router.add_api_route(
        f"{base}/versions",
        versions,
        methods=["GET"],
        response_model=list[VersionView],
        name=f"{tag}.versions",
    )
    router.add_api_route(
        f"{base}/{{version}}",
        read_version,
        methods=["GET"],
        response_model=VersionView,
        name=f"{tag}.version",
    )
    router.add_api_route(
        f"{base}/{{version}}/approve",
        approve,
        methods=["POST"],
        response_model=VersionView,
        name=f"{tag}.approve",
    )
    router.add_api_route(
        f"{base}/{{version}}/verify",
        verify,
        methods=["GET"],
        response_model=VerifyResult,
        name=f"{tag}.verify",
    )
    for fmt in FileFormat:
        router.add_api_route(
            f"{base}.{fmt.value}",
            export(fmt),
            methods=["GET"],
            response_class=FileResponse,
            name=f"{tag}.{fmt.value}",
        )


@router.post("/api/meetings/{meeting_id}/minutes/drafts", response_model=VersionView, status_code=201)
def save_minutes_draft(
    meeting_id: int, body: DraftEdit, session: SessionDep, actor: ActorDep, settings: SettingsDep
) -> VersionView:
    """The clerk's editor saved: a new draft version (the version history keeps every save)."""
    return minutes.save_draft(session, actor, settings, meeting_id, body)


for _kind in DocKind:
    _document_routes(_kind)
