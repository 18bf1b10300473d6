"""GET /api/events/{event_id}: read back a stored event (admin token required)."""

from __future__ import annotations

import hmac
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse

from api.event_reader import find_event
from api.responses import ErrorBody, error
from api.state import AppState, app_state

router = APIRouter()


def _authorized(request: Request, state: AppState) -> JSONResponse | None:
    """None when the caller holds the admin token, else the response to send."""
    token = state.settings.admin_token
    if token is None:
        return error(403, "Read endpoints are disabled: set TRACKHOUSE_ADMIN_TOKEN to enable them")
    scheme, _, given = request.headers.get("authorization", "").partition(" ")
    expected = token.get_secret_value().encode()
    if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode(), expected):
        return error(401, "Unauthorized", headers={"WWW-Authenticate": "Bearer"})
    return None


@router.get(
    "/api/events/{event_id}",
    responses={
        200: {"description": "The event as ClickHouse holds it", "content": {"application/json": {}}},
        401: {"model": ErrorBody},
        403: {"model": ErrorBody, "description": "No admin token configured"},
        404: {"model": ErrorBody, "description": "Not stored (yet)"},
        503: {"model": ErrorBody, "description": "Store unreachable"},
    },
    summary="Read back one stored event",
)
def get_event(event_id: str, request: Request, state: Annotated[AppState, Depends(app_state)]) -> Any:
    denied = _authorized(request, state)
    if denied is not None:
        return denied
    try:
        event = find_event(state.store(), state.settings.clickhouse_database, event_id)
    except Exception as exc:  # any store failure: unreachable, not migrated, engine locked
        return error(503, f"store unavailable ({type(exc).__name__})")
    if event is None:
        return error(404, "Event not found")
    return event
