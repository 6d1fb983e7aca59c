"""``GET /api/health``: version and the state of database, queue, speech model and the site's bus."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from sqlalchemy import text

import server
from server.media.aiortc_hooks import disabled_accelerations

router = APIRouter(tags=["health"])


@router.get("/api/health")
def health(request: Request) -> JSONResponse:
    state = request.app.state
    checks: dict[str, Any] = {}
    try:
        with state.db.engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        checks["database"] = {"status": "ok", "backend": state.db.engine.dialect.name}
    except Exception as exc:  # noqa: BLE001 - health reports any failure
        checks["database"] = {"status": "error", "error": str(exc)[:200]}
    jobs = getattr(state, "jobs", None)
    checks["queue"] = jobs.health() if jobs is not None else {"status": "disabled"}
    model = getattr(state, "model_status", None)
    checks["model"] = model() if callable(model) else {"status": "unknown"}
    # the site's bus (server/bus.py): "local" on one process; with Redis, whether its listener is subscribed
    hub = getattr(state, "notification_hub", None)
    if getattr(state, "bus", None) is None:
        checks["bus"] = {"status": "local"}
    else:
        checks["bus"] = {"status": "listening" if hub is not None and hub.bus_listening else "down"}
    # the SFU's accelerations switched off at start because aiortc's internals changed (server.media docs)
    checks["media"] = {"accelerations_off": disabled_accelerations()}
    ok = checks["database"]["status"] == "ok"
    body = {"status": "ok" if ok else "degraded", "version": server.__version__, **checks}
    return JSONResponse(body, status_code=200 if ok else 503)
