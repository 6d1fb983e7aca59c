"""``/api/tasks``, ``/api/reports/units``, ``/api/notifications``, task suggestions, ``/ws/notifications``.

The notification socket is authenticated like the signaling socket (a one-use ``ticket``, cookie, ``token``
query parameter or bearer header) and closes with 4401 when it is not, or when its login session ends (logout,
expiry). It pushes each new notification of the user's unit (or of
the user) as ``{"type": "notification", "id", "kind", "text", "data"}`` as soon as the transaction that wrote
it commits, in this process or — with ``GIAOBAN_REDIS_URL`` — in another server of the site
(``server.bus``); it also polls the outbox table (every second, or every
``GIAOBAN_NOTIFY_FALLBACK_POLL_S`` while the Redis bus listens), so what any other writer commits arrives
too. ``?after=<id>`` also sends the ones after that id (a client catching up after a reconnect); without it
only notifications written after the socket opened are pushed.
"""

from __future__ import annotations

import asyncio
import csv
import datetime as dt
import io
import logging
import os
from asyncio import FIRST_COMPLETED as FIRST
from typing import Annotated, Any, Literal

from fastapi import APIRouter, File, Form, Query, Request, UploadFile, WebSocket, WebSocketDisconnect
from fastapi.responses import FileResponse, Response
from openpyxl import Workbook
from openpyxl.styles import Alignment, Font
from openpyxl.utils import get_column_letter

from server.api import socket_auth
from server.api.deps import ActorDep, DatabaseDep, SessionDep, SettingsDep
from server.api.limits import REPORT_FORM_FIELDS, REPORT_FORM_PARTS
from server.bus import NotificationHub
from server.errors import PayloadTooLarge, Unauthenticated
from server.services import notifications, suggestions, task_agenda, task_extensions, tasks
from server.services.context import Actor
from server.services.inputs import MAX_DB_ID, Text
from server.services.notifications import NotificationPush, NotificationView
from server.services.suggestions import Suggestion, SuggestionConfirm
from server.services.task_agenda import OpenTasksAgenda
from server.services.task_evidence import EvidenceUpload, size_label
from server.services.task_extensions import ExtensionCreate, ExtensionDecision
from server.services.task_status import TaskStatus
from server.services.task_unit_report import UnitReport, unit_report
from server.services.tasks import (
    ExtensionView,
    ReportInput,
    ReportView,
    ReviewInput,
    TaskCreate,
    TaskDetail,
    TaskView,
)

log = logging.getLogger(__name__)
router = APIRouter(tags=["tasks"])

CLOSE_UNAUTHENTICATED = 4401
REPORT_FORM_MAX_FIELD_BYTES = 64 * 1024  # a note of 5000 characters is at most 20 KB

REPORT_HEADERS = (
    "Mã đơn vị",
    "Đơn vị",
    "Được giao",
    "Hoàn thành đúng hạn",
    "Hoàn thành quá hạn",
    "Đang thực hiện trong hạn",
    "Quá hạn",
    "Tỷ lệ quá hạn (%)",
)
XLSX_SHEET_TITLE = "Nhiệm vụ theo đơn vị"
XLSX_MEDIA_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def _today(request: Request) -> dt.date:
    day: dt.date = request.app.state.clock.today()
    return day


# ---- tasks ---------------------------------------------------------------------------------------------


@router.get("/api/tasks", response_model=list[TaskView])
def list_tasks(
    request: Request,
    session: SessionDep,
    actor: ActorDep,
    unit: str | None = None,
    status: TaskStatus | None = None,
    meeting: int | None = None,
) -> list[TaskView]:
    return tasks.list_visible(session, actor, _today(request), unit=unit, status=status, meeting_id=meeting)


@router.post("/api/tasks", response_model=TaskView, status_code=201)
def create_task(body: TaskCreate, request: Request, session: SessionDep, actor: ActorDep) -> TaskView:
    today = _today(request)
    return tasks.view(session, tasks.create(session, actor, body, today), today)


@router.get("/api/tasks/{task_id}", response_model=TaskDetail)
def get_task(task_id: int, request: Request, session: SessionDep, actor: ActorDep) -> TaskDetail:
    return tasks.detail(session, tasks.get_visible(session, actor, task_id), _today(request))


def _read_upload(up: UploadFile, max_bytes: int) -> EvidenceUpload:
    """The upload as the parser spooled it (at most 1 MiB in memory, the rest on disk): never read whole.

    The whole request was bounded while it streamed (:mod:`server.api.limits`); each file is checked here.
    """
    size = up.file.seek(0, os.SEEK_END)
    if size > max_bytes:
        name = up.filename or ""
        raise PayloadTooLarge(
            f"Tệp {name} vượt quá giới hạn {size_label(max_bytes)}.",
            details={"file": name, "max_bytes": max_bytes},
        )
    up.file.seek(0)
    return EvidenceUpload(filename=up.filename or "", file=up.file)


@router.post(
    "/api/tasks/{task_id}/reports",
    response_model=ReportView,
    status_code=201,
    # the parts are counted as they stream (server.api.limits); files past MAX_EVIDENCE_FILES reach
    # check_uploads, which names the limit in Vietnamese
    form_limits={
        "max_files": REPORT_FORM_PARTS,
        "max_fields": REPORT_FORM_FIELDS,
        "max_part_size": REPORT_FORM_MAX_FIELD_BYTES,
    },
)
def add_report(
    task_id: int,
    request: Request,
    db: DatabaseDep,
    settings: SettingsDep,
    actor: ActorDep,
    kind: Annotated[Literal["progress", "done"], Form()],
    note: Annotated[str, Text(tasks.MAX_NOTE_CHARS, multiline=True, required=False), Form()] = "",
    progress_pct: Annotated[int | None, Form(ge=0, le=100)] = None,
    files: Annotated[list[UploadFile] | None, File()] = None,
) -> ReportView:
    """A progress note or a report of completion (multipart form: kind, note, progress_pct, files)."""
    uploads = [_read_upload(f, settings.max_upload_bytes) for f in files or []]
    return tasks.add_report(
        db,
        actor,
        task_id,
        ReportInput(kind=kind, note=note, progress_pct=progress_pct),
        uploads,
        settings.evidence_dir,
        settings.max_upload_bytes,
        _today(request),
    )


#: evidence a browser may show inside the page (``?inline=1``: the review dialog); others always download
INLINE_EVIDENCE_TYPES = frozenset({"application/pdf", "image/png", "image/jpeg"})


@router.get("/api/tasks/{task_id}/evidence/{evidence_id}")
def download_evidence(
    task_id: int,
    evidence_id: int,
    session: SessionDep,
    settings: SettingsDep,
    actor: ActorDep,
    inline: bool = False,
) -> FileResponse:
    ev = tasks.evidence_file(session, actor, task_id, evidence_id, settings.evidence_dir)
    shown = inline and ev.content_type in INLINE_EVIDENCE_TYPES
    return FileResponse(
        ev.path,
        media_type=ev.content_type,
        filename=ev.filename,
        content_disposition_type="inline" if shown else "attachment",
        headers={"X-Content-Type-Options": "nosniff"},
    )


@router.post("/api/tasks/{task_id}/review", response_model=TaskView)
def review_task(
    task_id: int, body: ReviewInput, request: Request, session: SessionDep, actor: ActorDep
) -> TaskView:
    return tasks.view(session, tasks.review(session, actor, task_id, body), _today(request))


@router.post("/api/tasks/{task_id}/extensions", response_model=ExtensionView, status_code=201)
def request_extension(
    task_id: int, body: ExtensionCreate, session: SessionDep, actor: ActorDep
) -> ExtensionView:
    return tasks.extension_view(task_extensions.request_extension(session, actor, task_id, body))


@router.post("/api/tasks/{task_id}/extensions/{extension_id}/decision", response_model=ExtensionView)
def decide_extension(
    task_id: int, extension_id: int, body: ExtensionDecision, session: SessionDep, actor: ActorDep
) -> ExtensionView:
    return tasks.extension_view(task_extensions.decide_extension(session, actor, task_id, extension_id, body))


# ---- suggestions and the agenda of the next meeting ----------------------------------------------------


@router.get("/api/meetings/{meeting_id}/suggestions", response_model=list[Suggestion])
def list_suggestions(meeting_id: int, session: SessionDep, actor: ActorDep) -> list[Suggestion]:
    return suggestions.list_for_meeting(session, actor, meeting_id)


@router.post("/api/meetings/{meeting_id}/suggestions/{key}/confirm", response_model=TaskView, status_code=201)
def confirm_suggestion(
    meeting_id: int,
    key: str,
    request: Request,
    session: SessionDep,
    actor: ActorDep,
    body: SuggestionConfirm | None = None,
) -> TaskView:
    return suggestions.confirm(session, actor, meeting_id, key, body or SuggestionConfirm(), _today(request))


@router.post("/api/meetings/{meeting_id}/suggestions/{key}/dismiss", status_code=204)
def dismiss_suggestion(meeting_id: int, key: str, session: SessionDep, actor: ActorDep) -> Response:
    suggestions.dismiss(session, actor, meeting_id, key)
    return Response(status_code=204)


@router.post("/api/meetings/{meeting_id}/agenda/open-tasks", response_model=OpenTasksAgenda)
def open_tasks_agenda(meeting_id: int, session: SessionDep, actor: ActorDep) -> OpenTasksAgenda:
    return task_agenda.add_open_tasks_agenda(session, actor, meeting_id)


# ---- the per-unit report -------------------------------------------------------------------------------


def _report_rows(report: UnitReport) -> list[tuple[str, str, int, int, int, int, int, float]]:
    return [
        (r.unit, r.unit_name, r.assigned, r.completed_on_time, r.completed_late, r.in_progress, r.overdue,
         r.overdue_pct)
        for r in [*report.rows, report.total]
    ]  # fmt: skip


def vn_decimal(value: float) -> str:
    """28.6 → "28,6": the decimal comma of Vietnamese (and of Excel set to Vietnamese)."""
    return f"{value:.1f}".replace(".", ",")


def report_period(report: UnitReport) -> str:
    return (
        f"Kỳ báo cáo: từ ngày {tasks.vn_date(report.from_date)} đến ngày {tasks.vn_date(report.to_date)}"
        f" (số liệu tính đến ngày {tasks.vn_date(report.as_of)})"
    )


def unit_report_csv(report: UnitReport) -> bytes:
    """UTF-8 with a byte-order mark and ";" between fields, decimals with a comma: what Excel set to
    Vietnamese (list separator ";") opens in columns, accents right. One header row, a total row last."""
    out = io.StringIO()
    writer = csv.writer(out, delimiter=";", lineterminator="\r\n")
    writer.writerow(REPORT_HEADERS)
    writer.writerows([*row[:-1], vn_decimal(row[-1])] for row in _report_rows(report))
    return out.getvalue().encode("utf-8-sig")


XLSX_TITLE = "BÁO CÁO TÌNH HÌNH THỰC HIỆN NHIỆM VỤ THEO ĐƠN VỊ"
XLSX_COLUMN_WIDTHS = (12, 34, 11, 14, 14, 16, 10, 13)
XLSX_HEADER_ROW = 4


def unit_report_xlsx(report: UnitReport) -> bytes:
    """A title row, the period, then the table (headers wrapped, a bold total row); widths fit the names."""
    wb = Workbook()
    ws = wb.active
    assert ws is not None
    ws.title = XLSX_SHEET_TITLE
    last = get_column_letter(len(REPORT_HEADERS))
    ws.append([XLSX_TITLE])
    ws.append([report_period(report)])
    ws.append([])
    ws.merge_cells(f"A1:{last}1")
    ws.merge_cells(f"A2:{last}2")
    ws["A1"].font = Font(bold=True, size=14)
    ws["A1"].alignment = Alignment(horizontal="center")
    ws["A2"].font = Font(italic=True)
    ws["A2"].alignment = Alignment(horizontal="center")
    ws.append(list(REPORT_HEADERS))
    for cell in ws[XLSX_HEADER_ROW]:
        cell.font = Font(bold=True)
        cell.alignment = Alignment(wrap_text=True, vertical="center", horizontal="center")
    rows = _report_rows(report)
    for row in rows:
        ws.append(list(row))
        ws.cell(row=ws.max_row, column=len(REPORT_HEADERS)).number_format = "0.0"
    for cell in ws[ws.max_row]:
        cell.font = Font(bold=True)
    for i, width in enumerate(XLSX_COLUMN_WIDTHS, start=1):
        ws.column_dimensions[get_column_letter(i)].width = width
    ws.freeze_panes = f"A{XLSX_HEADER_ROW + 1}"
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


@router.get("/api/reports/units", response_model=UnitReport)
def units_report(
    request: Request,
    session: SessionDep,
    actor: ActorDep,
    from_date: Annotated[dt.date | None, Query(alias="from")] = None,
    to_date: Annotated[dt.date | None, Query(alias="to")] = None,
    format: Literal["json", "csv", "xlsx"] = "json",
) -> UnitReport | Response:
    report = unit_report(session, actor, _today(request), from_date, to_date)
    stem = f"bao-cao-nhiem-vu_{report.from_date.isoformat()}_{report.to_date.isoformat()}"
    if format == "csv":
        return Response(
            unit_report_csv(report),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="{stem}.csv"'},
        )
    if format == "xlsx":
        return Response(
            unit_report_xlsx(report),
            media_type=XLSX_MEDIA_TYPE,
            headers={"Content-Disposition": f'attachment; filename="{stem}.xlsx"'},
        )
    return report


# ---- notifications -------------------------------------------------------------------------------------


@router.get("/api/notifications", response_model=list[NotificationView])
def list_notifications(session: SessionDep, actor: ActorDep, unread: bool = False) -> list[NotificationView]:
    return [notifications.view(n) for n in notifications.list_for(session, actor, unread_only=unread)]


@router.post("/api/notifications/{notification_id}/read", response_model=NotificationView)
def mark_notification_read(notification_id: int, session: SessionDep, actor: ActorDep) -> NotificationView:
    return notifications.view(notifications.mark_read(session, actor, notification_id))


@router.websocket("/ws/notifications")
async def notification_socket(ws: WebSocket) -> None:
    # what is pushed: everything written after the client saw the socket open, so the mark is taken before
    # accepting (taken after, a notification written meanwhile by the client's next request was never pushed)
    raw_after = ws.query_params.get("after", "")
    after = min(int(raw_after), MAX_DB_ID) if raw_after.isdigit() else await asyncio.to_thread(_latest_id, ws)
    # authenticated before it is accepted: a socket its client sees open has used up its ticket and is bound
    # to its login session. Accepted first, a client that closed it at once (before the server's thread read
    # the ticket) left the ticket valid for another socket (the CI hang of test_socket_sessions.py)
    try:
        info = await socket_auth.authenticate(ws)
    except Unauthenticated as exc:
        await ws.accept()
        await ws.send_json({"type": "error", "code": exc.code, "message": exc.message})
        await ws.close(code=CLOSE_UNAUTHENTICATED, reason=exc.code)
        return
    await ws.accept()
    actor = info.actor

    async def session_ended() -> None:  # logout or expiry: 4401, like the signaling socket
        code, message = socket_auth.SESSION_ENDED_CODE, socket_auth.SESSION_ENDED_MESSAGE
        await ws.send_json({"type": "error", "code": code, "message": message})
        await ws.close(code=CLOSE_UNAUTHENTICATED, reason=code)

    watch = socket_auth.SessionWatch(ws, info, session_ended).start()
    try:
        await _push_notifications(ws, actor, after)
    except (WebSocketDisconnect, RuntimeError) as exc:  # closed under us (session ended)
        log.debug("notification socket of %s closed: %s", actor.username, exc)
    finally:
        await watch.stop()


def _latest_id(ws: WebSocket) -> int:
    with ws.app.state.db.session() as session:
        return notifications.latest_id(session)


async def _push_notifications(ws: WebSocket, actor: Actor, after: int) -> None:
    """Push the actor's notifications with an id above ``after`` (an id past the database's range, which would
    overflow PostgreSQL's bigint, was clamped by the caller), then each new one as it is written: woken by the
    commit that wrote it (this process, or another one through Redis: server/bus.py), or at the next
    poll."""
    db = ws.app.state.db
    hub: NotificationHub = ws.app.state.notification_hub

    def fetch(after_id: int) -> list[NotificationPush]:
        with db.session() as session:
            return [notifications.push_message(n) for n in notifications.newer_than(session, actor, after_id)]

    with hub.waiting(actor.unit_id, actor.id) as wake:
        receive: asyncio.Task[Any] | None = None
        woken: asyncio.Task[Any] | None = None
        try:
            while True:
                wake.clear()  # before reading: a commit from now on wakes the next wait
                for msg in await asyncio.to_thread(fetch, after):
                    await ws.send_text(msg.model_dump_json())
                    after = msg.id
                # wait for a wake-up or the next poll, reading (and ignoring) what the client sends meanwhile
                receive = receive or asyncio.ensure_future(ws.receive())
                woken = woken or asyncio.ensure_future(wake.wait())
                done, _ = await asyncio.wait({receive, woken}, timeout=hub.poll_s, return_when=FIRST)
                if woken in done:
                    woken = None
                if receive in done:
                    incoming, receive = receive.result(), None
                    if incoming["type"] == "websocket.disconnect":
                        log.debug("notification socket of %s closed", actor.username)
                        return
        finally:
            for task in (receive, woken):
                if task is not None:
                    task.cancel()
