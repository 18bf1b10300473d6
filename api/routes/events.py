"""GET /api/events/{event_id}: read back a stored event (admin token, or a read key within its
projects; a stats key may not read events one by one)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request

from api.event_reader import Ambiguous, find_event
from api.read_keys import ReadScope
from api.reads import STATS_KEY_REFUSED, read_scope, read_side
from api.responses import ErrorBody, error, json_response
from api.state import AppState, app_state
from shared.query.errors import QueryError, StoreUnavailable
from shared.queue.locate import locate

router = APIRouter()


@router.get(
    "/api/events/{event_id}",
    responses={
        200: {
            "description": (
                'Stored: `{"status": "stored", ...every field as ClickHouse holds it}`. '
                'Not stored yet: `{"status": "queued", "event_id", "job_id", "retries_left"}`, or '
                '`{"status": "failed", "event_id", "job_id", "error"}` once its job is a dead letter.'
            ),
            "content": {"application/json": {}},
        },
        401: {"model": ErrorBody},
        403: {"model": ErrorBody, "description": "No admin token or read key configured, or a stats key"},
        404: {"model": ErrorBody, "description": "Neither stored nor waiting in the queue"},
        409: {
            "description": (
                "The id names events of several teams or projects: "
                '`{"error", "matches": [{"team_id", "project_id"}, ...]}`; ask again with both'
            ),
            "content": {"application/json": {}},
        },
        503: {"model": ErrorBody, "description": "Store unreachable"},
    },
    summary="Read back one event, or where it is in the pipeline (team_id, project_id narrow the id)",
)
def get_event(
    event_id: str,
    request: Request,
    state: Annotated[AppState, Depends(app_state)],
    scope: Annotated[ReadScope, Depends(read_scope)],
    team_id: str | None = None,
    project_id: str | None = None,
) -> Any:
    if scope.public:
        return error(403, STATS_KEY_REFUSED)
    try:
        event = find_event(
            read_side(request).engine,
            state.settings.clickhouse_database,
            event_id,
            team_id=team_id,
            project_id=project_id,
            projects=scope.projects,
            limits=read_side(request).limits,  # the caps every read runs under
            retention=read_side(request).retention(),
        )
    except QueryError as exc:  # over a cap (a 408 or a 400), as a query would be
        return error(exc.status, str(exc))
    except StoreUnavailable as exc:
        return error(503, str(exc))
    except Exception as exc:  # any other store failure: not migrated, engine locked
        return error(503, f"store unavailable ({type(exc).__name__})")
    if isinstance(event, Ambiguous):  # never one team's event for another's id
        message = "event_id names events of several teams or projects: add team_id and project_id"
        return json_response({"error": message, "matches": event.scopes}, 409)
    if event is not None:
        return {"status": "stored", **event}
    where = locate(state.redis, state.settings, event_id, projects=scope.projects)
    if where is None:
        return error(404, "Event not found")
    body: dict[str, Any] = {"status": where.status, "event_id": event_id, "job_id": where.job_id}
    if where.status == "failed":
        # A job holds other projects' events too: its error may quote them. Admins only.
        body["error"] = where.error if scope.projects is None else None
    else:
        body["retries_left"] = where.retries_left
    return body
