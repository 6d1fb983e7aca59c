"""The one error tree of giaoban.

Every error a user can cause is a :class:`GiaobanError`. Services raise them; the API turns each into one JSON
shape, with the HTTP status carried by the class::

    {"error": {"code": "not_found", "message": "Không tìm thấy cuộc họp 42.", "details": null}}

==========================  ======  ==========================================================
class                       status  when
==========================  ======  ==========================================================
``InvalidInput``            422     a field is missing or malformed (FastAPI validation too)
``Unauthenticated``         401     no valid session or token
``Forbidden``               403     the role or the unit does not allow it
``NotFound``                404     unknown id (or one the caller may not know exists)
``Conflict``                409     duplicate name, wrong state (e.g. starting an ended meeting)
``TooManyRequests``         429     login throttling, message floods
``PayloadTooLarge``         413     uploads or messages over the limit
``UnsupportedMediaType``    415     an upload whose content is not an accepted file type
``Unavailable``             503     a dependency (database, queue, model) is down
==========================  ======  ==========================================================

Messages are Vietnamese (shown to users); ``code`` is a stable English identifier for clients.
"""

from __future__ import annotations

from typing import Any


class GiaobanError(Exception):
    """Base of every user-facing error."""

    status_code = 400
    code = "bad_request"

    def __init__(self, message: str, *, details: Any = None, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details
        if code is not None:
            self.code = code

    def to_json(self) -> dict[str, Any]:
        return {"error": {"code": self.code, "message": self.message, "details": self.details}}


class InvalidInput(GiaobanError):
    status_code = 422
    code = "invalid_input"


class Unauthenticated(GiaobanError):
    status_code = 401
    code = "unauthenticated"


class Forbidden(GiaobanError):
    status_code = 403
    code = "forbidden"


class NotFound(GiaobanError):
    status_code = 404
    code = "not_found"


class Conflict(GiaobanError):
    status_code = 409
    code = "conflict"


class PayloadTooLarge(GiaobanError):
    status_code = 413
    code = "payload_too_large"


class UnsupportedMediaType(GiaobanError):
    status_code = 415
    code = "unsupported_media_type"


class TooManyRequests(GiaobanError):
    status_code = 429
    code = "too_many_requests"


class Unavailable(GiaobanError):
    status_code = 503
    code = "unavailable"
