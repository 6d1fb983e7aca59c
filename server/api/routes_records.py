"""What a meeting leaves on paper: transcript and its edits, conclusions, minutes (form 1.9) and the
conclusion notice (form 1.4) with their versions, approval, verification and DOCX/PDF exports."""

from __future__ import annotations

from fastapi import APIRouter, Response
from fastapi.responses import Response as FileResponse

from server.api.deps import ActorDep, SessionDep, SettingsDep
from server.services import minutes, transcripts
from server.services.minutes import DocKind, DocumentRequest, FileFormat, VerifyResult, VersionView
from server.services.transcripts import (
    ConclusionCreate,
    ConclusionUpdate,
    ConclusionView,
    SegmentEditView,
    SegmentPatch,
    SegmentView,
    TranscriptView,
)

router = APIRouter(tags=["records"])


@router.get("/api/meetings/{meeting_id}/transcript", response_model=TranscriptView)
def get_transcript(meeting_id: int, session: SessionDep, actor: ActorDep) -> TranscriptView:
    return transcripts.get_transcript(session, actor, meeting_id)


@router.patch("/api/segments/{segment_id}", response_model=SegmentView)
def edit_segment(segment_id: int, body: SegmentPatch, session: SessionDep, actor: ActorDep) -> SegmentView:
    return transcripts.edit_segment(session, actor, segment_id, body)


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


def _file(rendered: minutes.RenderedFile) -> FileResponse:
    return FileResponse(
        rendered.content,
        media_type=rendered.media_type,
        headers={"Content-Disposition": f'attachment; filename="{rendered.filename}"'},
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
        meeting_id: int, version: int, session: SessionDep, actor: ActorDep, settings: SettingsDep
    ) -> VersionView:
        return minutes.approve(session, actor, settings, meeting_id, kind, version)

    def verify(meeting_id: int, version: int, session: SessionDep, actor: ActorDep) -> VerifyResult:
        return minutes.verify(session, actor, meeting_id, kind, version)

    def export(fmt: FileFormat):  # type: ignore[no-untyped-def]
        def download(
            meeting_id: int,
            session: SessionDep,
            actor: ActorDep,
            settings: SettingsDep,
            version: int | None = None,
        ) -> FileResponse:
            return _file(minutes.render(session, actor, settings, meeting_id, kind, fmt, version))

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


for _kind in DocKind:
    _document_routes(_kind)
