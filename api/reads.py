"""What the read routes share, built once in create_app: the engine seam, the concurrency
gate, the keys, the caps. Stored on the app beside AppState."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Annotated, Any, TypeVar

from fastapi import Depends, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ValidationError
from starlette.concurrency import run_in_threadpool

from api.body import BodyTooLarge, UnsupportedEncoding, read_model
from api.query_gate import QueryGate
from api.read_keys import ReadKeys, ReadScope
from api.responses import error
from api.state import app_state
from shared.event.errors import EventError
from shared.lifecycle.retention import Retention
from shared.query.engine import ReadEngine, TenantEngine
from shared.query.errors import QueryBusy, QueryError, QueryTimeout, StoreUnavailable
from shared.query.model import ExportBody, QueryBody, Selection, parse_filters
from shared.query.ranges import parse_timezone
from shared.query.run import resolve_selection
from shared.query.sql import Limits
from shared.registry.view import RegistryView
from shared.settings import Settings

T = TypeVar("T")
STATS_KEY_REFUSED = "a stats key reads /api/query and the dashboard only"
M = TypeVar("M", bound=BaseModel)


@dataclass
class ReadSide:
    settings: Settings
    engine: ReadEngine
    gate: QueryGate
    export_gate: QueryGate
    """Exports wait here, apart from queries: a slow export never holds a query's slot."""
    keys: ReadKeys
    limits: Limits
    registry: RegistryView | None = None
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))
    """The reads' "now": retention cutoffs and relative ranges (a test moves it)."""

    @classmethod
    def build(cls, settings: Settings, engine: ReadEngine, registry: RegistryView | None = None) -> ReadSide:
        limits = Limits(
            settings.query_timeout_seconds,
            settings.query_max_rows_to_read,
            settings.query_max_bytes_to_read,
            settings.query_max_threads,
            settings.query_thread_nice,
            max_memory_bytes=settings.query_max_memory_bytes,
            max_answer_bytes=settings.query_max_answer_bytes,
        )
        gate = QueryGate(settings.query_concurrency, settings.query_wait_seconds)
        export_gate = QueryGate(settings.export_concurrency, settings.query_wait_seconds)
        keys = ReadKeys(settings.read_keys, settings.admin_token, registry)
        return cls(settings, engine, gate, export_gate, keys, limits, registry)

    def retention(self) -> Retention:
        """The cutoffs now: a project's own retention_days, else TRACKHOUSE_RETENTION_DAYS."""
        projects = self.registry.snapshot.projects if self.registry is not None else {}
        return Retention.at(self.clock(), self.settings.retention_days, projects)

    def engine_for(self, scope: ReadScope) -> ReadEngine:
        """The engine as this caller reads through it (its project's or team's share of the slots)."""
        return TenantEngine(self.engine, scope.tenant)

    def select(self, body: QueryBody | ExportBody, scope: ReadScope) -> Selection:
        """The rows a request reads: its range, timezone, filters and bots, within its scope."""
        return resolve_selection(
            self.engine_for(scope),
            self.settings.clickhouse_database,
            self.limits,
            spec=body.date_range,
            tz=parse_timezone(body.timezone),
            filters=parse_filters(body.filters, public=scope.public),
            bots=body.include.bots,
            projects=scope.projects,
            public=scope.public,
            now=self.clock(),
            retention=self.retention(),
        )

    async def body(self, request: Request, model: type[M]) -> M:
        """The request's JSON body as `model`. Read routes take no body parameter, so FastAPI
        reads nothing before their dependencies: the key (and the lockout) is checked first,
        and only then is the body read, within API_MAX_BODY_BYTES, and parsed off the loop."""
        try:
            return await read_model(request, model, self.settings.api_max_body_bytes)
        except BodyTooLarge as exc:
            raise HTTPException(413, str(exc)) from None
        except UnsupportedEncoding as exc:
            raise HTTPException(415, str(exc)) from None
        except EventError as exc:
            raise HTTPException(exc.status, exc.message) from None
        except ValidationError as exc:  # answered like FastAPI's own body errors
            errors = [{**e, "loc": ("body", *e["loc"])} for e in exc.errors(include_url=False)]
            raise RequestValidationError(errors) from None

    async def run(self, work: Callable[..., T], *args: Any) -> T:
        """`work` in a worker thread (never on the event loop), holding a query slot. Past the
        query timeout (and a little for the round trips), the caller gets its 408 whatever the
        store is doing; the slot is freed when the work ends, as the store's is."""
        await self.gate.acquire()
        running = asyncio.ensure_future(run_in_threadpool(work, *args))
        running.add_done_callback(lambda _: self.gate.release())
        try:
            return await asyncio.wait_for(asyncio.shield(running), self.settings.query_timeout_seconds + 2)
        except TimeoutError:
            raise QueryTimeout(
                "query", "took longer than QUERY_TIMEOUT_SECONDS: narrow the range or filters"
            ) from None


def read_side(request: Request) -> ReadSide:
    reads: ReadSide = request.app.state.reads
    return reads


def read_scope(request: Request, reads: Annotated[ReadSide, Depends(read_side)]) -> ReadScope:
    """The caller's scope. Wrong credentials count against the client like wrong admin tokens
    (`api.lockout`, shared: both are guesses at the same header): 10 a minute, then 429."""
    state = app_state(request)
    client = state.resolver.context(request).ip_address or ""
    if (wait := state.admin_lockout.retry_after(client)) is not None:
        raise HTTPException(429, "Too many failed attempts: retry later", headers={"Retry-After": str(wait)})
    try:
        return reads.keys.authorize(request)
    except HTTPException as exc:
        if exc.status_code == 401 and request.headers.get("authorization"):
            state.admin_lockout.failed(client)
        raise


def failure(exc: QueryError | StoreUnavailable) -> JSONResponse:
    headers = {"Retry-After": "1"} if isinstance(exc, QueryBusy) else None
    return error(exc.status, str(exc), headers=headers)
