"""Every HTTP/WebSocket router of the app, in the order they are mounted (one line per module).

Two things are done here once for every route rather than in each route module:

- **Ids are bounded.** A plain ``int`` (or ``int | None``) path or query parameter becomes
  ``1 <= value <= 2^31-1`` (:data:`server.services.inputs.MAX_DB_ID`), so an id the database cannot hold is
  a 422 in the house error shape instead of an overflow deep in the driver. The endpoint keeps its code: only
  the signature FastAPI reads is rewritten (before ``app.include_router`` builds the routes from it).
- **Error responses are documented.** Each route's OpenAPI lists, with the house error schema, the codes it
  can answer: 422 where it takes input, 400 and 413 where it takes a body (``server.api.limits``),
  401/403/404/409 where it needs a session, and the route-specific ones of :data:`EXTRA_RESPONSES`.
"""

from __future__ import annotations

import inspect
import re
import types
from collections.abc import Iterable
from typing import Annotated, Any, Union, get_args, get_origin

from fastapi import APIRouter, Path, Query
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from pydantic.fields import FieldInfo

from server.api import (
    routes_auth,
    routes_health,
    routes_invitation_groups,
    routes_media_check,
    routes_meetings,
    routes_recordings,
    routes_records,
    routes_search,
    routes_tasks,
    signaling,
)
from server.api.deps import get_token
from server.api.errors import ErrorOut
from server.services.inputs import MAX_DB_ID

_DESCRIPTIONS = {
    400: "Không đọc được dữ liệu gửi lên (JSON hoặc biểu mẫu hỏng).",
    401: "Chưa đăng nhập hoặc phiên đã hết hạn.",
    403: "Vai trò hoặc đơn vị không được phép.",
    404: "Không tìm thấy.",
    409: "Xung đột: trùng tên hoặc sai trạng thái.",
    413: "Dữ liệu gửi lên quá lớn.",
    415: "Loại tệp không được chấp nhận.",
    422: "Dữ liệu gửi lên không hợp lệ.",
    429: "Quá nhiều yêu cầu; thử lại sau (Retry-After).",
    503: "Dịch vụ tạm thời không sẵn sàng.",
}
SESSION_CODES = (401, 403, 404, 409)
# Codes only some routes answer, by route name (FastAPI's default name is the endpoint function's).
EXTRA_RESPONSES: dict[str, tuple[int, ...]] = {
    "login": (401, 429),  # wrong credentials; login throttling (server.services.accounts)
    "add_report": (415,),  # evidence files of a type not accepted (server.services.task_evidence)
    "start_meeting": (503,),  # a site's Redis unreachable: no node to place it on (server.site)
    "media_check": (503,),  # more pre-join checks at once than server/media/echo.py runs
    # the render pool is busy (server.documents.pool.RenderBusy)
    **{f"{kind}.{fmt}": (503,) for kind in ("minutes", "notice") for fmt in ("docx", "pdf")},
}


def _error(code: int) -> dict[str, Any]:
    return {"model": ErrorOut, "description": _DESCRIPTIONS[code]}


def _is_int(annotation: Any) -> bool:
    """``int`` or ``int | None``."""
    if annotation is int:
        return True
    if get_origin(annotation) in (Union, types.UnionType):
        args = get_args(annotation)
        return int in args and all(a is int or a is type(None) for a in args)
    return False


def bound_int_params(route: APIRoute) -> None:
    """Give every plain ``int`` path or query parameter of ``route`` the bounds 1..MAX_DB_ID."""
    endpoint = route.endpoint
    signature = inspect.signature(endpoint, eval_str=True)
    path_names = set(re.findall(r"{(\w+)", route.path))
    params = []
    changed = False
    for param in signature.parameters.values():
        if _is_int(param.annotation) and not isinstance(param.default, FieldInfo):
            marker = Path if param.name in path_names else Query
            param = param.replace(annotation=Annotated[param.annotation, marker(ge=1, le=MAX_DB_ID)])
            changed = True
        params.append(param)
    if changed:
        endpoint.__signature__ = signature.replace(parameters=params)  # type: ignore[attr-defined]


def _calls(dependant: Dependant) -> Iterable[Any]:
    yield dependant.call
    for sub in dependant.dependencies:
        yield from _calls(sub)


def document_errors(route: APIRoute) -> None:
    """Add the error responses ``route`` can answer to its OpenAPI (route-level entries win)."""
    dependant = route.dependant
    codes: set[int] = set(EXTRA_RESPONSES.get(route.name, ()))
    takes_input = bool(
        dependant.path_params or dependant.query_params or dependant.header_params or dependant.body_params
    )
    if takes_input:
        codes.add(422)
    if dependant.body_params:
        codes.update((400, 413))
    if get_token in set(_calls(dependant)):
        codes.update(SESSION_CODES)
    for code in sorted(codes):
        route.responses.setdefault(code, _error(code))
    if route.name == "health":  # its own body (the checks), not the error shape
        route.responses.setdefault(503, {"description": "Cơ sở dữ liệu không truy cập được (degraded)."})


def prepared(router: APIRouter) -> APIRouter:
    for route in router.routes:
        if isinstance(route, APIRoute):
            bound_int_params(route)
            document_errors(route)
    return router


ALL: list[APIRouter] = [
    prepared(routes_health.router),
    prepared(routes_auth.router),
    prepared(routes_meetings.router),
    prepared(routes_invitation_groups.router),
    prepared(routes_recordings.router),
    prepared(routes_tasks.router),
    prepared(routes_records.router),
    prepared(routes_search.router),
    prepared(routes_media_check.router),
    prepared(signaling.router),
]
