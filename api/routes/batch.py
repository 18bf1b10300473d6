"""POST /api/events/batch: many events in one request, each validated on its own."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Request
from fastapi.responses import Response
from pydantic import BaseModel
from redis.exceptions import RedisError

from api.body import read_body, split_batch
from api.paths import BATCH_PATH
from api.responses import ErrorBody, FailureBody, json_response
from api.routes.metrics import rejection_reason
from api.routes.track import READ_ERRORS, body_error, overloaded, queue_failure
from api.state import AppState
from api.suppressions import SUPPRESSED
from shared import metrics
from shared.event.errors import EventError
from shared.event.model import TrackEvent
from shared.event.parse import parse_events

router = APIRouter()


class Accepted(BaseModel):
    index: int
    event_id: str
    status: Literal["accepted"] = "accepted"


class Dropped(BaseModel):
    index: int
    event_id: str
    status: Literal["dropped"] = "dropped"
    reason: str  # "bot" (TRACKHOUSE_DROP_BOTS)


class Rejected(BaseModel):
    index: int
    error: str


class BatchResult(BaseModel):
    success: bool
    accepted: int
    dropped: int
    rejected: int
    results: list[Accepted | Dropped | Rejected]


class BatchRejected(BatchResult):
    error: str


_REQUEST_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {
                "schema": {
                    "oneOf": [
                        {"type": "array", "items": TrackEvent.model_json_schema(), "minItems": 1},
                        {
                            "type": "object",
                            "required": ["events"],
                            "properties": {
                                "events": {
                                    "type": "array",
                                    "items": TrackEvent.model_json_schema(),
                                    "minItems": 1,
                                }
                            },
                        },
                    ]
                }
            },
            "application/x-ndjson": {"schema": {"type": "string", "description": "One JSON event per line"}},
        },
    }
}


@router.post(
    BATCH_PATH,
    status_code=201,
    response_model=BatchResult,
    openapi_extra=_REQUEST_BODY,
    responses={
        207: {"model": BatchResult, "description": "Some events accepted, some rejected (see results)"},
        400: {
            # No event valid: BatchRejected, with each event's error. A body that cannot be read
            # as events (empty, not JSON, no array) has no results: just {"error": "body: ..."}.
            "model": BatchRejected | ErrorBody,
            "description": "No event valid (with the results), or the body unusable (`error` only)",
        },
        401: {"model": ErrorBody, "description": "Unknown, revoked or missing write key (docs/tenancy.md)"},
        403: {"model": ErrorBody, "description": "A write key sent from a page outside its project's domains"},
        429: {"model": ErrorBody, "description": "A rate limit (per client IP or per write key); Retry-After"},
        413: {"model": ErrorBody, "description": "Too many events or too many bytes"},
        415: {"model": ErrorBody, "description": "Content-Encoding other than gzip"},
        500: {"model": FailureBody, "description": "The events could not be queued"},
        503: {"model": ErrorBody, "description": "The pipeline is behind: retry after `Retry-After` seconds"},
    },
    summary="Track many events",
)
async def batch(request: Request) -> Response:
    state: AppState = request.app.state.trackhouse
    settings = state.settings
    if state.backpressure and (overload := state.backpressure.overload):
        metrics.BATCH_REJECTED["overloaded"].inc()
        return overloaded(overload)
    context = state.resolver.context(request)
    try:
        raw = await read_body(request, settings.batch_max_bytes)
        items = split_batch(raw, request.headers.get("content-type", ""), settings.batch_max_events)
    except READ_ERRORS as exc:
        metrics.BATCH_REJECTED[rejection_reason(exc)].inc()
        return body_error(exc)
    metrics.BATCH_EVENTS.observe(len(items))

    rows: list[dict[str, Any]] = []
    results: list[dict[str, Any]] = []  # shaped as Accepted / Rejected, built as dicts: this runs per event
    dropped = 0
    for index, parsed in enumerate(parse_events(items, context, generate_ids=False)):
        try:
            if isinstance(parsed, EventError):
                raise parsed
            row = parsed
            state.access.bind(row, request)
            ip = row["ip_address"]  # as sent: enrichment may cut it for storage
            reason = state.enricher.apply(row, context) or (
                state.suppressions.reason(row, ip) if state.suppressions else None
            )
        except EventError as exc:
            metrics.BATCH_REJECTED[rejection_reason(exc)].inc()
            results.append({"index": index, "error": exc.message})
            continue
        except RedisError as exc:  # the day's visitor salt lives in Redis
            metrics.BATCH_REJECTED["queue_unavailable"].inc(len(items) - index)
            return queue_failure(exc)
        if reason:
            dropped += 1
            (metrics.BATCH_DROPPED_SUPPRESSED if reason == SUPPRESSED else metrics.BATCH_DROPPED_BOT).inc()
            results.append(
                {"index": index, "event_id": row["event_id"], "status": "dropped", "reason": reason}
            )
            continue
        rows.append(row)
        results.append({"index": index, "event_id": row["event_id"], "status": "accepted"})

    rejected = len(items) - len(rows) - dropped
    if not rows and not dropped:
        refused = {
            "success": False,
            "accepted": 0,
            "dropped": 0,
            "rejected": rejected,
            "results": results,
            "error": "no valid events",
        }
        return json_response(refused, 400)
    try:
        if rows:
            await state.committer.submit(rows, len(raw) * len(rows) // len(items))
    except RedisError as exc:
        metrics.BATCH_REJECTED["queue_unavailable"].inc(len(rows))
        return queue_failure(exc)
    metrics.BATCH_ACCEPTED.inc(len(rows))
    body = {
        "success": rejected == 0,
        "accepted": len(rows),
        "dropped": dropped,
        "rejected": rejected,
        "results": results,
    }
    return json_response(body, 201 if rejected == 0 else 207)
