"""The FastAPI application: ``create_app(settings)`` and its lifespan; nothing else."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import RedirectResponse
from fastapi.staticfiles import StaticFiles

import server
from server.api import errors as api_errors
from server.api import routes_auth, routes_health, routes_meetings
from server.config import Settings
from server.db import Database, migrate
from server.live import LiveMeetings
from server.services import meetings

log = logging.getLogger(__name__)

WEB_DIR = Path(__file__).resolve().parent.parent / "web"


def create_app(settings: Settings | None = None, *, run_migrations: bool = True) -> FastAPI:
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if run_migrations:
            migrate(settings)
        db = Database(settings)
        app.state.db = db
        with db.session() as session:
            interrupted = meetings.mark_interrupted_on_startup(session)
        if interrupted:
            log.warning("meetings marked interrupted after a restart: %s", interrupted)
        app.state.live = LiveMeetings(settings, db)
        try:
            yield
        finally:
            await app.state.live.close()
            db.dispose()

    app = FastAPI(
        title="giaoban",
        version=server.__version__,
        lifespan=lifespan,
        description="Họp trực tuyến, ghi âm, biên bản và theo dõi nhiệm vụ cho chính quyền địa phương.",
    )
    app.state.settings = settings
    api_errors.install(app)
    app.include_router(routes_health.router)
    app.include_router(routes_auth.router)
    app.include_router(routes_meetings.router)

    if WEB_DIR.is_dir():
        app.mount("/static", StaticFiles(directory=WEB_DIR), name="static")

        @app.get("/", include_in_schema=False)
        def index() -> RedirectResponse:
            return RedirectResponse("/static/index.html")

    return app
