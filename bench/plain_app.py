"""The plain design's API: validate, enqueue ONE RQ job per event (JSON serializer), answer 201.

The textbook FastAPI + RQ shape: a plain `def` route (FastAPI's threadpool) calling
`queue.enqueue`. Settings from the environment: BENCH_REDIS_URL, BENCH_QUEUE.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import Body, FastAPI, Request
from fastapi.responses import JSONResponse
from redis import Redis
from rq import Queue
from rq.serializers import JSONSerializer

from bench.plain_jobs import INSERT_EVENT
from shared.event.errors import EventError
from shared.event.parse import RequestContext, parse_event

app = FastAPI()
queue = Queue(
    os.environ.get("BENCH_QUEUE", "bench-plain"),
    connection=Redis.from_url(os.environ["BENCH_REDIS_URL"]),
    serializer=JSONSerializer,
)


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
    queue.enqueue(INSERT_EVENT, args=(row,), result_ttl=0)
    return JSONResponse(
        {"success": True, "message": "Event tracked successfully", "event_id": row["event_id"]},
        status_code=201,
    )


@app.get("/healthz")
def healthz() -> dict[str, str]:
    return {"status": "ok"}
