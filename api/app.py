"""The FastAPI application. `create_app` takes everything it needs; it opens nothing itself."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from clickhouse_connect.driver.client import Client
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi_offline import FastAPIOffline
from redis import Redis
from starlette.exceptions import HTTPException as StarletteHTTPException

from api.backpressure import Backpressure
from api.body_cap import BodyCap
from api.cors import IngestCORS
from api.fast_path import IngestFastPath
from api.group_commit import GroupCommitter
from api.ingest_guard import IngestGuard, ResolveOnce
from api.paths import BATCH_PATH, TRACK_PATH
from api.rate_limit import RateLimiter
from api.reads import ReadSide
from api.responses import error
from api.routes import (
    admin,
    batch,
    dashboard,
    events,
    export,
    health,
    metrics,
    projects,
    query,
    track,
    tracker,
)
from api.routes.docs import DocsSecurityHeaders, document_body_models
from api.state import AppState
from api.suppressions import SuppressionCheck
from api.write_access import WriteAccess
from api.write_keys import WriteKeys
from shared.event.enrich import Enricher
from shared.event.visitors import DailySalt
from shared.lifecycle.subjects import hash_key
from shared.query.engine import ClientEngine, ReadEngine
from shared.query.slots import read_slots
from shared.queue.jobs import events_queue
from shared.registry.connect import registry_store
from shared.registry.view import RegistryView
from shared.settings import Settings

log = logging.getLogger(__name__)


def create_app(
    settings: Settings,
    *,
    redis: Redis,
    open_store: Callable[[], Client],
    read_engine: ReadEngine | None = None,
) -> FastAPI:
    """`read_engine`: where every read runs (GET by id, /readyz, /api/query, /api/export);
    default: clients from `open_store`, one per query slot (opened on the first read: with
    chDB the engine may belong to another process, `trackhouse up`'s store process)."""
    committer = GroupCommitter(events_queue(redis, settings), settings)
    backpressure = Backpressure(redis, settings)
    limiter = RateLimiter.from_settings(redis, settings)
    registry = RegistryView(registry_store(redis, settings))

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        backpressure.start()
        registry.refresh()  # a failure is retried by the thread, and by ready()
        registry.start()
        yield
        registry.stop()
        await backpressure.stop()
        # uvicorn has drained the requests; each one awaited its own job, so nothing is pending.
        committer.close()
        limiter.close()

    # /docs and /redoc load Swagger UI and ReDoc from the package, not from a CDN (README "Browser").
    app = FastAPIOffline(
        static_url="/docs-assets",
        swagger_ui_parameters={"validatorUrl": None},  # no schema upload to swagger.io
        title="trackhouse",
        summary="Event-tracking ingestion: validate, queue on Redis, store in ClickHouse.",
        version="0.1.0",
        lifespan=lifespan,
    )
    enricher = Enricher(settings, DailySalt(redis) if settings.visitor_hash else None)
    access = WriteAccess(WriteKeys(settings.write_keys), registry)
    app.state.trackhouse = AppState(settings, redis, committer, ResolveOnce(settings), enricher, access)
    app.state.trackhouse.backpressure = backpressure
    state: AppState = app.state.trackhouse
    state.limiter = limiter
    state.suppressions = SuppressionCheck(registry, lambda: hash_key(redis, settings))
    guard = IngestGuard(state.resolver, access, limiter)
    app.include_router(track.router)
    app.include_router(batch.router)
    app.add_middleware(DocsSecurityHeaders)  # innermost: the ingestion fast path never meets it
    app.add_middleware(BodyCap, limit_bytes=settings.api_max_body_bytes)  # ingestion caps its own
    app.add_middleware(
        IngestFastPath,
        handlers={TRACK_PATH: track.track, BATCH_PATH: batch.batch},
        guard=guard,
    )
    # Added last, so outermost: fast-path answers (201, 401, 429, ...) get the CORS headers too.
    app.add_middleware(IngestCORS, allow_origins=settings.cors_allow_origins)
    app.include_router(events.router)
    app.include_router(health.router)
    app.include_router(metrics.router)
    app.state.reads = ReadSide.build(
        settings,
        read_engine or ClientEngine(open_store, read_slots(settings)),
        registry,
    )
    app.include_router(query.router)
    app.include_router(export.router)
    app.include_router(tracker.router)
    app.include_router(dashboard.router)
    app.include_router(projects.router)
    app.include_router(admin.router)
    document_body_models(app)

    # Every error leaves in the contract's shape, {"error": "..."}; never FastAPI's 422.
    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        first = exc.errors()[0] if exc.errors() else {"loc": ("request",), "msg": "invalid"}
        field = ".".join(str(part) for part in first["loc"][1:]) or str(first["loc"][0])
        return error(400, f"{field}: {first['msg']}")

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        return error(exc.status_code, str(exc.detail), headers=getattr(exc, "headers", None))

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        if request.url.path == TRACK_PATH:
            return JSONResponse(
                {"error": "Failed to track event", "details": type(exc).__name__}, status_code=500
            )
        return error(500, "Internal server error")

    return app
