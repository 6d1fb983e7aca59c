"""Every HTTP/WebSocket router of the app, in the order they are mounted (one line per module)."""

from __future__ import annotations

from fastapi import APIRouter

from server.api import (
    routes_auth,
    routes_health,
    routes_meetings,
    routes_recordings,
    routes_records,
    routes_search,
    routes_tasks,
    signaling,
)

ALL: list[APIRouter] = [
    routes_health.router,
    routes_auth.router,
    routes_meetings.router,
    routes_recordings.router,
    routes_tasks.router,
    routes_records.router,
    routes_search.router,
    signaling.router,
]
