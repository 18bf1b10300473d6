"""POST /api/events/track: validate, enqueue, answer 201 once Redis has the job."""

from __future__ import annotations

import ipaddress
import logging
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from redis.exceptions import RedisError

from api.body import BodyTooLarge, decode_json, read_capped
from api.responses import ErrorBody, FailureBody, Tracked, error
from api.state import AppState, app_state
from shared.event import EventError, RequestContext, TrackEvent, parse_event
from shared.queue import enqueue_rows

log = logging.getLogger(__name__)
router = APIRouter()


def _client_ip(request: Request) -> str | None:
    host = request.client.host if request.client else None
    if host is None:
        return None
    try:
        return str(ipaddress.ip_address(host))
    except ValueError:  # e.g. a unix-socket peer
        return None


def request_context(request: Request) -> RequestContext:
    return RequestContext(
        received_at=datetime.now(UTC),
        ip_address=_client_ip(request),
        user_agent=request.headers.get("user-agent"),
        referrer=request.headers.get("referer"),
    )


_REQUEST_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {"application/json": {"schema": TrackEvent.model_json_schema()}},
    }
}


@router.post(
    "/api/events/track",
    status_code=201,
    response_model=Tracked,
    openapi_extra=_REQUEST_BODY,
    responses={
        400: {"model": ErrorBody, "description": "Missing event_type, or any other invalid input"},
        413: {"model": ErrorBody, "description": "Body larger than TRACKHOUSE_MAX_BODY_BYTES"},
        500: {"model": FailureBody, "description": "The event could not be queued"},
    },
    summary="Track one event",
)
async def track(request: Request, state: Annotated[AppState, Depends(app_state)]) -> JSONResponse:
    context = request_context(request)
    try:
        raw = await read_capped(request, state.settings.max_body_bytes)
        row = parse_event(decode_json(raw), context)
    except BodyTooLarge as exc:
        return error(413, str(exc))
    except EventError as exc:
        return error(400, exc.message)
    try:
        await run_in_threadpool(enqueue_rows, state.queue, [row], state.settings)
    except RedisError as exc:
        log.error("enqueue failed: %s", exc)
        body = FailureBody(details=f"event queue unavailable ({type(exc).__name__})")
        return JSONResponse(body.model_dump(), status_code=500)
    return JSONResponse(Tracked(event_id=row["event_id"]).model_dump(), status_code=201)
