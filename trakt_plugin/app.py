"""Composition root: builds the store, scheduler, API, webhook routes and dashboard pages.

Nothing else creates shared objects; everything receives the :class:`AppContext` from here.
"""

from __future__ import annotations

import gc
import logging
import re
import signal
import sys
from collections.abc import Callable, Mapping
from datetime import timedelta
from functools import partial
from types import FrameType
from urllib.parse import urlsplit

from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import JSONResponse, Response
from nicegui import app, ui
from nicegui.storage import Storage
from starlette.routing import Mount
from starlette.types import ASGIApp

from . import __version__, clock, machine_path
from .api import docs as api_docs
from .api import health, ledger, scrobbles, users
from .api import ratings as ratings_api
from .api import servers as servers_api
from .api import sync as sync_api
from .api import test_clock as test_clock_api
from .api import trakt as trakt_api
from .api import unmatched as unmatched_api
from .api.common import install_error_handlers, require_token
from .config import LoadedSettings, Settings
from .connections import ConnectionService, TraktGateway
from .context import AppContext, build_context
from .enrich.runtimes import FILL_FIRST_RUN, FILL_INTERVAL, fill_play_runtimes
from .enrich_wiring import ENRICH_PAGES, enrich_router, install_enrich_jobs
from .jobs import housekeeping, vip
from .jobs.lease import once_per_period
from .jobs.scheduler import PERIODIC, add_periodic, build_scheduler
from .logs import configure_logging
from .oauth_callback import oauth_callback
from .posters import route as poster_route
from .posters.service import INTERVAL as POSTER_INTERVAL
from .posters.service import PosterService
from .scrobble import install_scrobbling
from .security.files import private_umask
from .security.gate import SecurityGate, allowed_hosts_for
from .servers.service import ServerService
from .servers.watch.factory import make_watcher
from .servers.watch.manager import WatchManager
from .sync import SyncService
from .ui import history as history_page
from .ui import login, overview
from .ui import servers as servers_page
from .ui import settings as settings_page
from .ui import sync as sync_page
from .ui import unmatched as unmatched_page
from .ui import users as users_page
from .ui import watchlist as watchlist_page
from .ui.theme import ASSETS_DIR

log = logging.getLogger("trakt_plugin")


def build_api(ctx: AppContext) -> FastAPI:
    """The ``/api/v1`` application (its own OpenAPI document and JSON error handlers)."""
    api = FastAPI(
        title="trakt-plugin API",
        version=__version__,
        description="Bearer-token API of trakt-plugin. Lists answer "
        '`{"items": [...], "next_cursor": ...}`; errors answer `{"error": ...}`.',
        openapi_url="/openapi.json",
        docs_url=None,  # our own page (api/docs.py): no assets from another host
        redoc_url=None,
    )
    api.state.context = ctx
    install_error_handlers(api)
    api_docs.install(api)
    api.include_router(users.router)
    api.include_router(health.router)
    api.include_router(trakt_api.router)
    api.include_router(scrobbles.router)
    api.include_router(ledger.router)
    api.include_router(ratings_api.router)
    api.include_router(sync_api.router)
    api.include_router(servers_api.router)
    api.include_router(enrich_router)
    api.include_router(unmatched_api.router)
    if clock.adjustable():  # only in a process started with the test flag (clock.py)
        api.include_router(test_clock_api.router)
    return api


def install_root_routes(ctx: AppContext) -> None:
    app.state.context = ctx

    @app.get("/healthz", include_in_schema=False)
    def healthz() -> JSONResponse:
        """Open liveness check; 503 when the store cannot be read (runs in a worker thread)."""
        if not health.database_ok(ctx):
            return JSONResponse({"status": "error", "db": "error", "version": ctx.version}, 503)
        return JSONResponse({"status": "ok", "version": ctx.version})

    @app.get("/metrics", include_in_schema=False)
    def metrics(request: Request) -> Response:
        try:
            require_token(request)
        except HTTPException as exc:
            return JSONResponse({"error": exc.detail}, exc.status_code, headers=exc.headers)
        return Response(health.metrics_text(ctx), media_type="text/plain; version=0.0.4")

    app.add_api_route(
        "/oauth/trakt/callback", oauth_callback, methods=["GET"], include_in_schema=False
    )
    poster_route.install(app, ctx)  # GET /posters/{item_key} (signed-in sessions)


def install_scheduler(ctx: AppContext) -> None:
    scheduler = build_scheduler()
    ctx.services["scheduler"] = scheduler

    def start() -> None:
        scheduler.start()
        add_periodic(
            scheduler,
            "housekeeping",
            once_per_period(
                ctx.engine,
                "housekeeping",
                housekeeping.INTERVAL,
                partial(housekeeping.purge_expired_states, ctx),
            ),
            housekeeping.INTERVAL,
        )
        add_periodic(
            scheduler,
            "vip-check",
            # A partial of a coroutine function is awaited on the loop; a lambda returning a
            # coroutine would be run in a thread and its coroutine never awaited.
            once_per_period(
                ctx.engine,
                "vip-check",
                lambda: timedelta(seconds=ctx.settings.vip.check_interval),
                partial(vip.check_vip, ctx, ctx.services["connections"]),
            ),
            timedelta(seconds=ctx.settings.vip.check_interval),
        )
        install_enrich_jobs(ctx, scheduler)
        add_periodic(
            scheduler,
            "play-runtimes",
            partial(fill_play_runtimes, ctx),
            FILL_INTERVAL,
            first_run_in=FILL_FIRST_RUN,
        )
        add_periodic(
            scheduler,
            "sync",
            # One scheduled run per period across processes (SPEC §13).
            once_per_period(
                ctx.engine,
                "sync",
                lambda: timedelta(seconds=ctx.settings.sync.sync_interval),
                ctx.services["sync"].sync_all,
            ),
            timedelta(seconds=ctx.settings.sync.sync_interval),
        )
        ctx.services["sync"].start()  # resumes runs a crash or shutdown interrupted
        add_periodic(
            scheduler, "posters", ctx.services["posters"].run_once, POSTER_INTERVAL
        )  # plus a nudge whenever new posters are recorded (posters/service.py)
        # Everything built so far lives as long as the process: move it out of the collector's
        # way, so full collections stay short (they paused webhook answers ~100 ms otherwise).
        gc.collect()
        gc.freeze()
        log.info(
            "trakt-plugin %s ready on http://%s:%s",
            ctx.version,
            ctx.settings.host,
            ctx.settings.port,
        )

    def apply(old: Settings, new: Settings) -> None:
        """Saved settings take effect at once (SPEC §3): intervals rescheduled, budget resized."""
        for job_id, before, after in (
            ("sync", old.sync.sync_interval, new.sync.sync_interval),
            ("vip-check", old.vip.check_interval, new.vip.check_interval),
        ):
            if before != after and scheduler.get_job(job_id, PERIODIC):
                scheduler.reschedule_job(job_id, PERIODIC, trigger="interval", seconds=after)
        budget = ctx.services["trakt"].budget
        budget.post_interval = new.rate.post_interval
        budget.get_per_window = new.rate.get_per_5min

    ctx.settings_listeners.append(apply)

    def stop() -> None:
        if scheduler.running:
            scheduler.shutdown(wait=False)
        ctx.engine.dispose()

    app.on_startup(start)
    app.on_shutdown(stop)


def install_services(ctx: AppContext) -> None:
    gateway = TraktGateway(ctx)
    connections = ConnectionService(ctx, gateway)
    connections.reset_interrupted()
    ctx.services["trakt"] = gateway
    ctx.services["connections"] = connections
    sync = SyncService(ctx, gateway, connections)
    ctx.services["sync"] = sync
    servers = ServerService(ctx)
    servers.load_yaml(ctx.settings.servers)  # integrations.trakt.servers → rows with source "yaml"
    ctx.services["servers"] = servers
    posters = PosterService(
        ctx.engine, ctx.settings.data_dir, lambda: ctx.settings.proxy, busy=lambda: sync.running
    )
    sync.on_idle(posters.nudge)
    ctx.services["posters"] = posters
    app.on_startup(posters.start)
    app.on_shutdown(posters.stop)


def install_watchers(ctx: AppContext) -> None:
    """Watch mode (SPEC §12 ``live: "watch"``): one watcher per watched server, recording
    through the scrobbler; started once the scrobbler runs, stopped by the server service's
    shutdown (before the scrobbler and the store)."""
    servers: ServerService = ctx.services["servers"]
    servers.watch = WatchManager(
        servers=servers,
        scrobbling=ctx.services["scrobbling"],
        factory=make_watcher,
        interval=lambda: float(ctx.settings.watch_interval),
    )
    app.on_startup(servers.watch.start)


def security_gate(ctx: AppContext) -> Callable[[ASGIApp], ASGIApp]:
    """The outermost layer: Host allow-list, security headers, API token before the body."""
    settings = ctx.settings
    allowed = allowed_hosts_for(
        settings.host, urlsplit(settings.redirect_uri).hostname, settings.allowed_hosts
    )

    def wrap(inner: ASGIApp) -> ASGIApp:
        return SecurityGate(
            inner,
            api_token=lambda: ctx.api_token,
            session_valid=ctx.sessions.is_valid,
            allowed_hosts=allowed,
        )

    return wrap


def build(ctx: AppContext) -> None:
    """Register everything on NiceGUI's application object."""
    machine_path.install(app, security_gate(ctx))
    install_services(ctx)
    # Registered before the scheduler's stop, which disposes the engine.
    app.on_startup(ctx.services["servers"].start)  # checks every server in the background
    app.on_shutdown(ctx.services["servers"].stop)
    app.add_static_files("/assets", str(ASSETS_DIR))
    install_root_routes(ctx)
    app.mount("/api/v1", build_api(ctx))
    # Starlette's mount pattern stops at a newline, so "/api/v1/users/a%0Ab" would fall through
    # to the dashboard's HTML 404: let the API answer every path under it.
    for route in app.router.routes:
        if isinstance(route, Mount) and route.path == "/api/v1":
            route.path_regex = re.compile(route.path_regex.pattern, re.DOTALL)
    for page in (login, overview, users_page, sync_page, settings_page, *ENRICH_PAGES):
        page.register(ctx)
    servers_page.register(ctx)
    for page in (history_page, watchlist_page, unmatched_page):
        page.register(ctx)
    install_scheduler(ctx)
    install_scrobbling(ctx, app)
    install_watchers(ctx)
    # Saved app credentials release the calls waiting for them at once.
    ctx.settings_listeners.append(ctx.services["scrobbling"].settings_changed)


def serve(loaded: LoadedSettings, environ: Mapping[str, str]) -> None:
    """Start the service and block until SIGTERM/Ctrl-C."""
    configure_logging()
    private_umask()
    if clock.enable_from(environ):
        log.warning("%s=1: the clock can be moved through /api/v1/test/clock", clock.FLAG)
    ctx = build_context(environ, loaded)
    if ctx.setup_code:
        log.warning(
            "First-run setup code (asked unless the browser runs on this machine and connects "
            "directly): %s",
            ctx.setup_code,
        )
    # Whatever NiceGUI stores lives in the data dir. No storage secret is given: the dashboard
    # keeps its own sessions in the store, so NiceGUI sets no cookie of its own.
    Storage.path = (ctx.settings.data_dir / "ui-storage").resolve()
    build(ctx)
    # uvicorn shuts down gracefully on SIGTERM/SIGINT, then re-raises the signal to the handler
    # that was installed before it: make that one a clean exit 0.
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, _exit_cleanly)
    ui.run(
        host=ctx.settings.host,
        port=ctx.settings.port,
        title="trakt-plugin",
        favicon=ASSETS_DIR / "icon.svg",
        # Forwarded headers are read only from trusted_proxies (security/clients.py).
        proxy_headers=False,
        reload=False,
        show=False,
        show_welcome_message=False,
        uvicorn_logging_level="info",
        reconnect_timeout=10.0,
    )


def _exit_cleanly(_signum: int, _frame: FrameType | None) -> None:
    sys.exit(0)
