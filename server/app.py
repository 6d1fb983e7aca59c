"""The FastAPI application: ``create_app(settings)`` and its lifespan; nothing else."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import partial
from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import RedirectResponse
from fastapi.staticfiles import StaticFiles

import server
from server.api import errors as api_errors
from server.api.limits import BodyLimits
from server.api.routers import ALL as ROUTERS
from server.api.socket_auth import session_sockets
from server.background import Background
from server.bus import NotificationHub, RedisBus, watch_commits
from server.clock import Clock
from server.config import Settings
from server.db import Database, migrate
from server.documents.pool import RenderPool
from server.live import LiveMeetings
from server.reminders import ReminderScheduler
from server.security import use_password_hashing
from server.services import meetings, recordings
from server.site import SiteNode

log = logging.getLogger(__name__)

REMINDER_INTERVAL_S = 300.0  # how often due-date reminders are checked (each is sent once)
WEB_DIR = Path(__file__).resolve().parent.parent / "web"


def _sessions_ended(app: FastAPI, session_ids: list[int]) -> None:
    """Another process logged these sessions out: their sockets here re-read them and close."""
    for session_id in session_ids:
        session_sockets(app).session_ended(session_id)


def create_app(settings: Settings | None = None, *, run_migrations: bool = True) -> FastAPI:
    settings = settings or Settings()
    use_password_hashing(settings.password_hashing)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if run_migrations:
            migrate(settings)
        db = Database(settings)
        app.state.db = db
        # notification sockets woken at a commit, here and through Redis elsewhere
        hub = NotificationHub(settings.notify_fallback_poll_s)
        hub.bind(asyncio.get_running_loop())
        relay = None
        if settings.redis_url:  # the other processes of the site hear of notifications and logouts at once
            relay = RedisBus(settings.redis_url, hub, partial(_sessions_ended, app))
            relay.start()
        watch_commits(db, hub, relay)
        app.state.notification_hub = hub
        app.state.bus = relay
        live = LiveMeetings(settings, db)
        site: SiteNode | None = None
        if settings.redis_url:  # one node of a site: a live meeting may be held by another process
            site = SiteNode(settings, load=live.load, tick=live.site_tick)
            live.site = site
            await site.start()
        else:
            with db.session() as session:
                interrupted = meetings.mark_interrupted_on_startup(session)
                recordings.mark_interrupted(session, interrupted)
            if interrupted:
                log.warning("meetings marked interrupted after a restart: %s", interrupted)
                live.recover_after_restart(interrupted)
        app.state.site = site
        background = Background(settings, db)
        live.on_recording_finished.append(background.queue_transcription)
        live.on_recording_finished.append(background.queue_composition)
        if settings.worker_in_process:
            background.start_worker()
        app.state.live = live
        app.state.jobs = background.queue
        app.state.background = background
        app.state.render_pool = RenderPool.from_settings(settings)  # its processes start on first use
        stop_reminders = asyncio.Event()
        scheduler = ReminderScheduler(db, app.state.clock, settings)
        reminders = asyncio.create_task(scheduler.run(stop_reminders, interval_s=REMINDER_INTERVAL_S))
        try:
            yield
        finally:
            stop_reminders.set()
            await reminders
            if site is not None:
                await site.stop()
            await live.close()
            if relay is not None:
                await asyncio.to_thread(relay.stop)
            background.stop()
            app.state.render_pool.shutdown()
            db.dispose()

    app = FastAPI(
        title="giaoban",
        version=server.__version__,
        lifespan=lifespan,
        description="Họp trực tuyến, ghi âm, biên bản và theo dõi nhiệm vụ cho chính quyền địa phương.",
    )
    app.state.settings = settings
    app.state.clock = Clock()
    api_errors.install(app)
    app.add_middleware(BodyLimits, settings=settings)
    for router in ROUTERS:
        app.include_router(router)

    if WEB_DIR.is_dir():
        app.mount("/static", StaticFiles(directory=WEB_DIR), name="static")

        @app.get("/", include_in_schema=False)
        def index() -> RedirectResponse:
            return RedirectResponse("/static/index.html")

    return app
