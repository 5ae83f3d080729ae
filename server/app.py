"""The app factory: assembles the domains' routes, the database plugin, errors, OpenAPI and the scheduler."""

from __future__ import annotations

import asyncio
import gc
import logging
import os
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any, Final

from litestar import Litestar, Request, get
from litestar.datastructures import State
from litestar.di import Provide
from litestar.enums import ScopeType
from litestar.openapi.config import OpenAPIConfig
from litestar.openapi.plugins import ScalarRenderPlugin, SwaggerRenderPlugin
from litestar.openapi.spec import Components, SecurityScheme, Server
from litestar.response import Response
from litestar.types import ASGIApp, Receive, Scope, Send
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from accounts.deps import BEARER_SECURITY
from accounts.routes import AuthController, MeController, UserAdminController
from audit import context as acting
from booking.routes import (
    AvailabilityController,
    BookingController,
    EnrolmentController,
    MyBookingsController,
    VenueOperationsController,
)
from calendar_feeds.routes import FeedController, ical_feed
from checkin.keys import key_ring, remember_previous_secrets
from checkin.routes import BookingCodeController, CheckinController
from core.catalogue_version import VersionReader
from core.clients import ClientAddresses
from core.database import create_engine, request_session, sqlite_write_intent, unit_of_work
from core.errors import EXCEPTION_HANDLERS
from core.ratelimit import STATE_KEY as RATE_LIMITER
from core.settings import SETTINGS_STATE, Settings
from core.validation import BoundedRequest
from notifications.routes import MyNoticesController, OutboxController
from programs.routes import InstructorController, ProgramController
from reports.routes import AuditController, ReportController
from server.fast_lane import FastLane
from server.headers import security_headers
from server.lease import Leader
from server.logs import configure as configure_logging
from server.observability import (
    METRICS_MEDIA_TYPE,
    RedisProbe,
    exposition,
    health_report,
    observe_requests,
    require_metrics_reader,
)
from server.openapi import WallClockSchema
from server.ratelimits import build_limiter, limiter_lifespan
from server.read_cache import ReadCache
from server.scheduler import build_scheduler
from server.wiring import provide_closure_hooks, provide_session_hooks
from venues.directory import provide_venue_directory
from venues.routes import SpaceController, VenueController, list_districts
from web.plugin import WebPlugin

log = logging.getLogger(__name__)

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


# The sessions a request opened, for ``close_sessions_middleware``.
OPEN_SESSIONS: Final = "seoulrun.open_sessions"


def close_sessions_middleware(app: ASGIApp) -> ASGIApp:
    """Give back the connection of a request's session whatever happened to the request.

    Litestar runs the clean-up of ``yield`` dependencies after the handler, but not when a later
    dependency raises while they are resolved (``KwargsModel.resolve_dependencies``): a bad token (401)
    or a page for someone else (403) would leave the unit of work open, its connection held until the
    garbage collector found it. Closing the unit of work here rolls it back and returns the connection;
    for a request whose unit of work ended normally it does nothing."""

    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP:
            await app(scope, receive, send)
            return
        opened: list[AsyncGenerator[AsyncSession, None]] = []
        scope.setdefault("state", {})[OPEN_SESSIONS] = opened
        try:
            await app(scope, receive, send)
        finally:
            for unit in opened:
                await unit.aclose()

    return middleware


def write_intent_middleware(*, queue_writes: bool) -> Callable[[ASGIApp], ASGIApp]:
    """Tell the SQLite engine whether a request may write (see ``core.database._sqlite_begin``), and
    with ``queue_writes`` (SQLite) let this process's writing requests take turns.

    SQLite has one write lock per file. Left to itself, a writer that finds it taken sleeps and retries
    in steps of up to 100 ms, which under a rush is unfair: some requests wait past the lock timeout and
    fail with 503 while later ones get through. Queueing the process's writers on an asyncio lock (FIFO)
    leaves the file lock to at most one writer per process, and waits grow with the queue, in order.
    """

    # One queue for the whole app: Litestar builds a middleware stack per route, so a lock made in
    # ``factory`` would queue only the writers of one route, and two routes' writers would meet at the
    # file lock after all (a long offline sync made any other write wait out the lock timeout: 503).
    lock: asyncio.Lock | None = None

    def factory(app: ASGIApp) -> ASGIApp:
        async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
            nonlocal lock
            if scope["type"] != ScopeType.HTTP:
                await app(scope, receive, send)
                return
            writes = scope.get("method", "GET") not in SAFE_METHODS
            token = sqlite_write_intent.set(writes)
            try:
                if writes and queue_writes:
                    lock = lock or asyncio.Lock()
                    async with lock:
                        await app(scope, receive, send)
                else:
                    await app(scope, receive, send)
            finally:
                sqlite_write_intent.reset(token)

        return middleware

    return factory


@get("/health", operation_id="health", summary="Liveness: database, Redis, scheduler leader", tags=["system"])
async def health(state: State) -> Response[dict[str, Any]]:
    status, body = await health_report(state.versions, state.leader, state.redis)
    return Response(body, status_code=status)


@get(
    "/metrics",
    operation_id="metrics",
    summary="Prometheus metrics (the metrics token or an admin's token)",
    tags=["system"],
    security=BEARER_SECURITY,
    media_type=METRICS_MEDIA_TYPE,
)
async def metrics(request: Request[Any, Any, Any], settings: Settings, db_session: AsyncSession) -> Response[bytes]:
    await require_metrics_reader(request, db_session, settings)
    return Response(await exposition(db_session), media_type=METRICS_MEDIA_TYPE)


def audit_context_middleware(address_of: Callable[[Scope], str]) -> Callable[[ASGIApp], ASGIApp]:
    """Open the audit context of a request with its client address (``core.clients``: the peer, or the
    client a trusted proxy names, as the abuse limits count it); authenticating the request names the
    actor in it (``audit.context``)."""

    def factory(app: ASGIApp) -> ASGIApp:
        async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
            if scope["type"] != ScopeType.HTTP:
                await app(scope, receive, send)
                return
            token = acting.begin(address_of(scope)[:64])
            try:
                await app(scope, receive, send)
            finally:
                acting.end(token)

        return middleware

    return factory


def create_app(settings: Settings | None = None, *, engine: AsyncEngine | None = None) -> Litestar:
    settings = settings or Settings.from_env()
    engine = engine or create_engine(settings)
    # The check-in keys sealed under an earlier secret are opened with these and sealed again.
    remember_previous_secrets(engine, settings.secret_key, settings.secret_key_previous)
    versions = VersionReader(engine, settings)
    read_cache = ReadCache(versions)

    @asynccontextmanager
    async def keys_lifespan(app: Litestar) -> AsyncIterator[None]:
        # The QR signing key is made (or sealed again under a new secret) at start, in a writing unit of
        # work: done inside the first GET of a code it would be a write in a read transaction, which
        # SQLite refuses under load ("database is locked").
        try:
            async with unit_of_work(engine) as session:
                await key_ring(session, settings.secret_key)
        except Exception:  # a database not up yet: the first code made will make the key
            log.warning("check-in keys not prepared at start", exc_info=True)
        yield

    leader = Leader(engine, settings) if settings.scheduler_enabled else None
    redis = RedisProbe(settings.redis_url) if settings.redis_url else None

    @asynccontextmanager
    async def scheduler_lifespan(app: Litestar) -> AsyncIterator[None]:
        if leader is None:
            yield
            return
        # Take the lease (if free) before the first tick, so that a job run at start runs at once.
        try:
            await leader.try_take()
        except Exception:  # a database not up yet: the lease loop tries again
            log.warning("scheduler: could not take the lease at start", exc_info=True)
        leader.start()
        scheduler = build_scheduler(engine, settings, leader)
        scheduler.start()
        try:
            yield
        finally:
            # No new runs; the ones under way finish (within the shutdown timeout), then the lease is
            # given up for another process to take at its next renewal.
            await scheduler.stop(settings.shutdown_timeout_seconds)
            await leader.stop()

    @asynccontextmanager
    async def connections_lifespan(app: Litestar) -> AsyncIterator[None]:
        try:
            yield
        finally:
            await versions.close()
            if redis is not None:
                await redis.close()

    def provide_settings() -> Settings:
        return settings

    async def provide_db_session(request: Request[Any, Any, Any]) -> AsyncIterator[AsyncSession]:
        unit = request_session(engine)
        opened = request.scope.get("state", {}).get(OPEN_SESSIONS)
        if opened is not None:
            opened.append(unit)
        async for session in unit:
            yield session

    openapi = OpenAPIConfig(
        title="서울런 4050 Venues API",
        version="0.1.0",
        description=(
            "서울런 4050 장소 예약·운영 시스템 — venue booking and operations for Seoul's programme for "
            "citizens aged 40 to 64. Errors are RFC 9457 problem details with a stable `code`."
        ),
        path="/schema",
        render_plugins=[ScalarRenderPlugin(), SwaggerRenderPlugin(path="/swagger")],
        servers=[Server(url=settings.base_url)],
        components=Components(
            security_schemes={
                "BearerToken": SecurityScheme(type="http", scheme="bearer", description="from POST /api/auth/login")
            }
        ),
        use_handler_docstrings=True,
    )

    # The abuse limits (core.ratelimit): each limited route names its limit with a guard.
    limiter = build_limiter(settings)

    app = Litestar(
        route_handlers=[
            health,
            metrics,
            AuthController,
            MeController,
            UserAdminController,
            VenueController,
            SpaceController,
            list_districts,
            BookingController,
            MyBookingsController,
            MyNoticesController,
            OutboxController,
            AvailabilityController,
            VenueOperationsController,
            ProgramController,
            InstructorController,
            EnrolmentController,
            BookingCodeController,
            CheckinController,
            FeedController,
            ical_feed,
            AuditController,
            ReportController,
        ],
        plugins=[WallClockSchema(), WebPlugin(settings)],
        dependencies={
            "settings": Provide(provide_settings, sync_to_thread=False),
            "db_session": Provide(provide_db_session),
            "closure_hooks": Provide(provide_closure_hooks, sync_to_thread=False),
            "session_hooks": Provide(provide_session_hooks, sync_to_thread=False),
            "venue_directory": Provide(provide_venue_directory, sync_to_thread=False),
        },
        exception_handlers=EXCEPTION_HANDLERS,
        middleware=[
            close_sessions_middleware,
            audit_context_middleware(ClientAddresses(settings.trusted_proxies).of),
            write_intent_middleware(queue_writes=settings.is_sqlite),
        ],
        openapi_config=openapi,
        lifespan=[limiter_lifespan(limiter), keys_lifespan, scheduler_lifespan, connections_lifespan],
        state=State(
            {
                "engine": engine,
                SETTINGS_STATE: settings,
                RATE_LIMITER: limiter,
                "leader": leader,
                "redis": redis,
                "versions": versions,
                "read_cache": read_cache,
            }
        ),
        request_max_body_size=settings.max_body_bytes,
        request_class=BoundedRequest,
        # Logging is the process's (server.logs: JSON or text, set up by `seoulrun serve`), not Litestar's
        # own handlers, which would print every line a second time in another format.
        logging_config=None,
        debug=settings.debug,
    )
    # Outside Litestar's own exception handling, so that unknown routes, wrong methods and errors raised
    # before any route (the app-level middleware list runs per route) carry the headers too.
    # The read cache inside them: an answer from memory gets the same headers.
    # Beside it, the refusals given from memory (server.fast_lane): the rush's "sold out".
    fast_lane = FastLane(
        engine,
        versions,
        limiter,
        max_body_bytes=settings.max_body_bytes,
        health=lambda: health_report(versions, leader, redis),
        settings=settings,
    )
    app.asgi_handler = security_headers(
        fast_lane.wrap(read_cache.wrap(app.asgi_handler)), https=settings.base_url.startswith("https://")
    )
    # Outermost: the request's id, its log line and its metrics, whatever answered it (the cache too).
    app.asgi_handler = observe_requests(app.asgi_handler, ClientAddresses(settings.trusted_proxies))
    return app


def freeze_heap() -> None:
    """Leave what a started worker holds (modules, the app, the ORM's mappers and compiled statements)
    out of the garbage collector's full passes, which otherwise walk all of it every few thousand
    requests: on PostgreSQL those pauses were the reads' p99 (60-95 ms at 64 connections, 7-12 ms
    with the heap frozen; bench/README.md). Garbage made at start is collected first."""
    gc.collect()
    gc.freeze()


def app_from_env() -> Litestar:
    """The entry point of ``seoulrun serve`` (uvicorn or granian ``--factory server.app:app_from_env``;
    each worker builds its own)."""
    settings = Settings.from_env()
    configure_logging(settings.log_format)
    app = create_app(settings)
    app.on_startup.append(freeze_heap)  # after every lifespan's start: the worker is all there
    if os.environ.get("SEOULRUN_SERVED_BY") == "granian":
        # uvicorn logs this line for each worker; tests and the bench wait for one per worker.
        app.on_startup.append(lambda: logging.getLogger("server").info("Application startup complete."))
    return app
