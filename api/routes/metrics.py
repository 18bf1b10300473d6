"""GET /metrics: Prometheus text exposition (metric list: `shared/metrics.py`), and the rejection
reasons the ingestion handlers count.

With TRACKHOUSE_ADMIN_TOKEN set, a scraper sends it as a bearer token (Prometheus:
`authorization: {credentials: ...}`): the tracking port is public, the pipeline's figures are
not. Without a token (the local default, bound to loopback) /metrics is open.

With `PROMETHEUS_MULTIPROC_DIR` set, the counters and histograms are those of every process
writing to that directory (`prometheus_client.multiprocess.MultiProcessCollector`). The queue
metrics are read from Redis on each scrape, in the threadpool (this route is sync).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST
from redis.exceptions import RedisError

from api.auth import check_admin
from api.body import BodyTooLarge, UnsupportedEncoding
from api.state import AppState, app_state
from shared.event.errors import EventError, MissingFieldError
from shared.metrics import QueueCollector, Reason, exposition

router = APIRouter()


def rejection_reason(exc: Exception) -> Reason:
    """The metric label for an error the handlers answer: by type and field, never by message."""
    if isinstance(exc, MissingFieldError):
        return "missing_field"
    if isinstance(exc, EventError) and exc.status == 401:  # a project that requires its key
        return "unauthorized"
    if isinstance(exc, EventError):
        # Field "body": the body (or an NDJSON line) is not a JSON value of the expected shape.
        return "malformed_json" if exc.field == "body" else "invalid_field"
    if isinstance(exc, BodyTooLarge):
        return "too_large"
    if isinstance(exc, UnsupportedEncoding):
        return "unsupported_encoding"
    if isinstance(exc, RedisError):
        return "queue_unavailable"
    return "invalid_field"  # a new kind of client error must not turn a 4xx into a 500 here


@router.get(
    "/metrics",
    response_class=Response,
    responses={200: {"content": {CONTENT_TYPE_LATEST: {}}, "description": "Prometheus text format"}},
    summary="Prometheus metrics",
)
def metrics(request: Request, state: Annotated[AppState, Depends(app_state)]) -> Response:
    denied = check_admin(request, state, open_without_token=True)
    if denied is not None:
        return denied
    body = exposition(QueueCollector(state.redis, state.settings.queue_name))
    return Response(body, media_type=CONTENT_TYPE_LATEST)
