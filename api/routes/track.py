"""POST /api/events/track: validate, enqueue (group commit), answer 201 once Redis has the job."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from redis.exceptions import RedisError

from api.backpressure import Overload
from api.body import BodyTooLarge, UnsupportedEncoding, decode_json, read_body
from api.paths import TRACK_PATH
from api.responses import ErrorBody, FailureBody, Tracked, error, tracked
from api.routes.metrics import rejection_reason
from api.state import AppState
from api.suppressions import SUPPRESSED
from shared import metrics
from shared.event.errors import EventError
from shared.event.model import TrackEvent
from shared.event.parse import parse_event
from shared.queue.connect import ReplicasBehind

log = logging.getLogger(__name__)
router = APIRouter()


def body_error(exc: Exception) -> JSONResponse:
    """The response for a body that could not be read (too large, bad encoding, bad JSON)."""
    if isinstance(exc, BodyTooLarge):
        return error(413, str(exc))
    if isinstance(exc, UnsupportedEncoding):
        return error(415, str(exc))
    assert isinstance(exc, EventError)
    return error(exc.status, exc.message)


def overloaded(overload: Overload) -> JSONResponse:
    """503: the pipeline is behind; the client should retry after the given time."""
    return error(503, overload.reason, headers={"Retry-After": str(overload.retry_after_seconds)})


def queue_failure(exc: RedisError) -> JSONResponse:
    if isinstance(exc, ReplicasBehind):  # not acknowledged yet: the client retries (same event_id)
        log.warning("enqueue not acknowledged: %s", exc)
        return error(503, str(exc), headers={"Retry-After": "1"})
    log.error("enqueue failed: %s", exc)
    body = FailureBody(details=f"event queue unavailable ({type(exc).__name__})")
    return JSONResponse(body.model_dump(), status_code=500)


READ_ERRORS = (BodyTooLarge, UnsupportedEncoding, EventError)

_REQUEST_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {"schema": TrackEvent.model_json_schema()},
            # navigator.sendBeacon sends text/plain: the body is still the JSON event.
            "text/plain": {"schema": {"type": "string", "description": "The JSON event, as text"}},
        },
    }
}


@router.post(
    TRACK_PATH,
    status_code=201,
    response_model=Tracked,
    openapi_extra=_REQUEST_BODY,
    responses={
        400: {"model": ErrorBody, "description": "Missing event_type, or any other invalid input"},
        401: {"model": ErrorBody, "description": "Unknown, revoked or missing write key (docs/tenancy.md)"},
        403: {"model": ErrorBody, "description": "A write key sent from a page outside its project's domains"},
        429: {"model": ErrorBody, "description": "A rate limit (per client IP or per write key); Retry-After"},
        413: {"model": ErrorBody, "description": "Body (inflated) larger than TRACKHOUSE_MAX_BODY_BYTES"},
        415: {"model": ErrorBody, "description": "Content-Encoding other than gzip"},
        500: {"model": FailureBody, "description": "The event could not be queued"},
        503: {"model": ErrorBody, "description": "The pipeline is behind: retry after `Retry-After` seconds"},
    },
    summary="Track one event",
)
async def track(request: Request) -> Response:
    state: AppState = request.app.state.trackhouse
    if state.backpressure and (overload := state.backpressure.overload):
        metrics.TRACK_REJECTED["overloaded"].inc()
        return overloaded(overload)
    context = state.resolver.context(request)
    try:
        raw = await read_body(request, state.settings.max_body_bytes)
        row = parse_event(decode_json(raw), context, generate_ids=False)
        state.access.bind(row, request)
        ip = row["ip_address"]  # as sent: enrichment may cut it for storage
        dropped = state.enricher.apply(row, context) or (
            state.suppressions.reason(row, ip) if state.suppressions else None
        )
    except READ_ERRORS as exc:
        metrics.TRACK_REJECTED[rejection_reason(exc)].inc()
        return body_error(exc)
    except RedisError as exc:  # the day's visitor salt lives in Redis
        metrics.TRACK_REJECTED["queue_unavailable"].inc()
        return queue_failure(exc)
    if dropped:
        (metrics.TRACK_DROPPED_SUPPRESSED if dropped == SUPPRESSED else metrics.TRACK_DROPPED_BOT).inc()
        return tracked(row["event_id"], dropped=dropped)
    try:
        await state.committer.submit([row], len(raw))
    except RedisError as exc:
        metrics.TRACK_REJECTED["queue_unavailable"].inc()
        return queue_failure(exc)
    metrics.TRACK_ACCEPTED.inc()
    return tracked(row["event_id"])
