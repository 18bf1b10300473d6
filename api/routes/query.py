"""POST /api/query: metrics over the stored events, grouped, filtered, zero-filled in time."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from api.read_keys import ReadScope
from api.reads import ReadSide, failure, read_scope, read_side
from api.responses import ErrorBody, json_body_doc, json_response
from shared.query.errors import QueryError, StoreUnavailable
from shared.query.model import QueryAnswer, QueryBody
from shared.query.run import answer

router = APIRouter()

ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorBody, "description": 'A bad query: `{"error": "<field>: <problem>"}`'},
    401: {"model": ErrorBody, "description": "Missing or wrong admin token / read key"},
    413: {
        "model": ErrorBody,
        "description": "Body larger than API_MAX_BODY_BYTES, or the answer larger than QUERY_MAX_ANSWER_BYTES",
    },
    403: {"model": ErrorBody, "description": "No admin token nor read keys configured"},
    408: {"model": ErrorBody, "description": "Ran longer than QUERY_TIMEOUT_SECONDS"},
    429: {
        "model": ErrorBody,
        "description": "Every query slot busy, or too many failed attempts (Retry-After)",
    },
    503: {"model": ErrorBody, "description": "Store unavailable"},
}


def _answer(reads: ReadSide, body: QueryBody, scope: ReadScope) -> dict[str, Any]:
    database = reads.settings.clickhouse_database
    selection = reads.select(body, scope)
    engine = reads.engine_for(scope)
    return answer(engine, body, selection, database, reads.limits, reads.settings.query_max_rows)


@router.post(
    "/api/query",
    response_model=QueryAnswer,
    responses=ERRORS,
    openapi_extra=json_body_doc(QueryBody),
    summary="Metrics over the stored events (admin token or read key)",
)
async def query(
    request: Request,
    scope: Annotated[ReadScope, Depends(read_scope)],
    reads: Annotated[ReadSide, Depends(read_side)],
) -> Response:
    body = await reads.body(request, QueryBody)
    try:
        result = await reads.run(_answer, reads, body, scope)
    except (QueryError, StoreUnavailable) as exc:
        return failure(exc)
    return json_response(result, 200)
