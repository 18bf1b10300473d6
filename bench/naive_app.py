"""The naive design: validate, then one synchronous ClickHouse insert per request, no queue.

A plain `def` route, so FastAPI runs it in its threadpool; every request's insert goes
through the one chDB client of the process (chDB allows one engine per process), under a
lock because the client is not safe to share between concurrent inserts. Settings come
from the environment: BENCH_CLICKHOUSE_URL (`chdb:///abs/path`), BENCH_DATABASE.
"""

from __future__ import annotations

import os
import threading
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import Body, FastAPI, Request
from fastapi.responses import JSONResponse

from bench.rows import write_rows
from shared.event.errors import EventError
from shared.event.parse import RequestContext, parse_event
from shared.store.client import open_client
from shared.store.migrate import migrate
from worker.writer import EventWriter

_writer: EventWriter | None = None
_lock = threading.Lock()


@asynccontextmanager
async def lifespan(_: FastAPI) -> AsyncIterator[None]:
    global _writer
    database = os.environ.get("BENCH_DATABASE", "trackhouse")
    client = open_client(os.environ["BENCH_CLICKHOUSE_URL"])
    migrate(client, database)
    _writer = EventWriter(client, database)
    yield


app = FastAPI(lifespan=lifespan)


@app.post("/api/events/track")
def track(request: Request, payload: Annotated[Any, Body()]) -> JSONResponse:
    context = RequestContext(
        received_at=datetime.now(UTC),
        ip_address=request.client.host if request.client else None,
        user_agent=request.headers.get("user-agent"),
        referrer=request.headers.get("referer"),
    )
    try:
        row = parse_event(payload, context)
    except EventError as exc:
        return JSONResponse({"error": exc.message}, status_code=400)
    assert _writer is not None
    with _lock:
        write_rows(_writer, [row], token=f"naive-{uuid.uuid4()}")
    return JSONResponse(
        {"success": True, "message": "Event tracked successfully", "event_id": row["event_id"]},
        status_code=201,
    )


@app.get("/healthz")
def healthz() -> dict[str, str]:
    return {"status": "ok"}
