"""Request bodies bounded while they stream, before any route reads them.

Every HTTP request body is at most :data:`MAX_BODY_BYTES` (JSON and anything else), except on the routes of
:data:`UPLOAD_ROUTES` when the body is ``multipart/form-data``: there the bound is the route's (for evidence,
``MAX_EVIDENCE_FILES`` files of ``settings.max_upload_bytes`` each, plus the form fields) and the number of
parts is counted as they arrive. A request that declares more (``Content-Length``) is refused before a byte of
it is read; one that sends more (chunked, or lying) is refused at the chunk crossing the bound. The refusal
is the house error shape with status 413 (``payload_too_large``) and closes the connection; whatever the route
had started answering is replaced. Uvicorn buffers at most 64 KiB of a body between two reads, so no request
can make the server hold more than the route's own reading does (multipart files are spooled to disk past
1 MiB each).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass

from python_multipart.multipart import MultipartParseError, MultipartParser, parse_options_header
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from server.config import Settings
from server.errors import GiaobanError, InvalidInput, PayloadTooLarge
from server.services.task_evidence import MAX_EVIDENCE_FILES

MAX_BODY_BYTES = 1 << 20  # a JSON body: the largest legitimate one (minutes content) is some tens of KB
MULTIPART_OVERHEAD_BYTES = 1 << 20  # form fields, part headers and boundaries of an upload
REPORT_FORM_FIELDS = 3  # kind, note, progress_pct
# one file more than allowed still reaches the route, whose message names the limit
REPORT_FORM_PARTS = MAX_EVIDENCE_FILES + 1 + REPORT_FORM_FIELDS


@dataclass(frozen=True)
class UploadRoute:
    """A route that takes ``multipart/form-data`` with files: its own body bound and number of parts."""

    method: str
    path: re.Pattern[str]
    max_bytes: Callable[[Settings], int]
    max_parts: int


UPLOAD_ROUTES = (
    UploadRoute(
        "POST",
        re.compile(r"^/api/tasks/[0-9]+/reports$"),
        lambda s: MAX_EVIDENCE_FILES * s.max_upload_bytes + MULTIPART_OVERHEAD_BYTES,
        REPORT_FORM_PARTS,
    ),
)


class BodyRefused(Exception):
    """Raised from ``receive`` when the body crosses a bound; carries the error answered instead."""

    def __init__(self, error: GiaobanError) -> None:
        super().__init__(error.message)
        self.error = error


class _PartCounter:
    """Counts the parts of a multipart body as it streams (python-multipart's parser, callbacks only)."""

    def __init__(self, boundary: bytes, max_parts: int) -> None:
        self.max_parts = max_parts
        self.parts = 0
        self.parser = MultipartParser(boundary, {"on_part_begin": self._part})

    def _part(self) -> None:
        self.parts += 1
        if self.parts > self.max_parts:
            raise BodyRefused(
                PayloadTooLarge(
                    f"Biểu mẫu có quá nhiều phần (tối đa {self.max_parts}).",
                    details={"max_parts": self.max_parts},
                )
            )

    def feed(self, chunk: bytes) -> None:
        try:
            self.parser.write(chunk)
        except MultipartParseError as exc:
            raise BodyRefused(
                InvalidInput("Dữ liệu biểu mẫu gửi lên không đúng định dạng.", details={"reason": str(exc)})
            ) from exc


def _too_large(limit: int) -> BodyRefused:
    return BodyRefused(
        PayloadTooLarge(f"Dữ liệu gửi lên vượt quá giới hạn {limit} byte.", details={"max_bytes": limit})
    )


class _Guard:
    def __init__(self, limit: int, counter: _PartCounter | None) -> None:
        self.limit = limit
        self.counter = counter
        self.received = 0
        self.refused: BodyRefused | None = None

    def feed(self, chunk: bytes) -> None:
        if self.refused is not None:
            raise self.refused
        self.received += len(chunk)
        try:
            if self.received > self.limit:
                raise _too_large(self.limit)
            if self.counter is not None:
                self.counter.feed(chunk)
        except BodyRefused as exc:
            self.refused = exc
            raise


async def _answer(send: Send, error: GiaobanError) -> None:
    body = json.dumps(error.to_json(), ensure_ascii=False).encode()
    await send(
        {
            "type": "http.response.start",
            "status": error.status_code,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


class BodyLimits:
    """ASGI middleware bounding every HTTP request body (see the module's docstring)."""

    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        self.app = app
        self.settings = settings

    def _bound(self, scope: Scope, headers: Headers) -> tuple[int, _PartCounter | None]:
        content_type, params = parse_options_header(headers.get("content-type", ""))
        boundary = params.get(b"boundary")
        if content_type == b"multipart/form-data" and boundary:
            for route in UPLOAD_ROUTES:
                if scope["method"] == route.method and route.path.match(scope["path"]):
                    return route.max_bytes(self.settings), _PartCounter(boundary, route.max_parts)
        return MAX_BODY_BYTES, None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        limit, counter = self._bound(scope, headers)
        declared = headers.get("content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > limit):
            await _answer(send, _too_large(limit).error)  # refused unread
            return
        guard = _Guard(limit, counter)
        started = [False]  # the app began its response before the body was refused

        async def guarded_receive() -> Message:
            message = await receive()
            if message["type"] == "http.request":
                guard.feed(message.get("body", b""))
            return message

        async def guarded_send(message: Message) -> None:
            if guard.refused is not None and not started[0]:
                return  # the refusal is answered below instead
            if message["type"] == "http.response.start":
                started[0] = True
            await send(message)

        try:
            await self.app(scope, guarded_receive, guarded_send)
        except Exception:
            if guard.refused is None or started[0]:
                raise
        if guard.refused is not None and not started[0]:
            await _answer(send, guard.refused.error)
