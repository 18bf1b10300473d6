"""POST /api/export: the stored events themselves (every column, one row per event), streamed
as CSV (with a header line), NDJSON or Parquet. The response is produced block by block from
the store; a slow reader holds one query slot, never the event loop nor the ingestion path."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Generator
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response, StreamingResponse
from starlette.concurrency import iterate_in_threadpool, run_in_threadpool

from api.read_keys import ReadScope
from api.reads import STATS_KEY_REFUSED, ReadSide, failure, read_scope, read_side
from api.responses import error, json_body_doc
from api.routes.query import ERRORS
from shared.query import sql
from shared.query.bounded_stream import BoundedStreamingResponse
from shared.query.errors import QueryError, QueryTimeout, StoreUnavailable
from shared.query.model import ExportBody

router = APIRouter()

# format: (ClickHouse format, media type, header line). CSV's header is written here: chDB
# streams only formats without a global header (CSVWithNames would be built whole).
_CSV_HEADER = (",".join(sql.EXPORT_COLUMNS) + "\n").encode()
_FORMATS: dict[str, tuple[str, str, bytes]] = {
    "csv": ("CSV", "text/csv; charset=utf-8", _CSV_HEADER),
    "csv_raw": ("CSV", "text/csv; charset=utf-8", _CSV_HEADER),
    "ndjson": ("JSONEachRow", "application/x-ndjson", b""),
    "parquet": ("Parquet", "application/vnd.apache.parquet", b""),
}


def _open(reads: ReadSide, body: ExportBody, scope: ReadScope) -> tuple[Generator[bytes, None, None], bytes]:
    """The stream and its first chunk: a query that fails, fails here, before the 200."""
    database = reads.settings.clickhouse_database
    selection = reads.select(body, scope)
    timeout = reads.settings.export_timeout_seconds
    statement = sql.export(selection, database, reads.limits, timeout, for_spreadsheets=body.format == "csv")
    stream = reads.engine_for(scope).stream(statement, _FORMATS[body.format][0])
    try:
        return stream, next(stream, b"")
    except BaseException:
        stream.close()
        raise


def _abandon(opened: asyncio.Future[tuple[Generator[bytes, None, None], bytes]], reads: ReadSide) -> None:
    try:
        if not opened.cancelled() and opened.exception() is None:
            opened.result()[0].close()
    finally:
        reads.export_gate.release()


@router.post(
    "/api/export",
    responses={
        200: {
            "description": "The events, streamed",
            "content": {"text/csv": {}, "application/x-ndjson": {}, "application/vnd.apache.parquet": {}},
        },
        **ERRORS,
    },
    response_class=StreamingResponse,
    openapi_extra=json_body_doc(ExportBody),
    summary="Export the stored events as CSV, NDJSON or Parquet (admin token or read key; not a stats key)",
)
async def export(
    request: Request,
    scope: Annotated[ReadScope, Depends(read_scope)],
    reads: Annotated[ReadSide, Depends(read_side)],
) -> Response:
    if scope.public:
        return error(403, STATS_KEY_REFUSED)
    body = await reads.body(request, ExportBody)
    deadline = asyncio.get_running_loop().time() + reads.settings.export_timeout_seconds
    try:
        await reads.export_gate.acquire()
    except QueryError as exc:
        return failure(exc)
    opening = asyncio.ensure_future(run_in_threadpool(_open, reads, body, scope))
    try:
        async with asyncio.timeout_at(deadline):
            stream, first = await asyncio.shield(opening)
    except TimeoutError:
        # The thread still runs the store query: its stream is closed, and the slot freed,
        # when it returns.
        opening.add_done_callback(lambda done: _abandon(done, reads))
        return failure(QueryTimeout("query", "took longer than EXPORT_TIMEOUT_SECONDS: narrow the range"))
    except (QueryError, StoreUnavailable) as exc:
        reads.export_gate.release()
        return failure(exc)
    except BaseException:
        reads.export_gate.release()
        raise
    _, media_type, header = _FORMATS[body.format]

    async def chunks() -> AsyncIterator[bytes]:
        try:
            if header:
                yield header
            if first:
                yield first
            async for chunk in iterate_in_threadpool(stream):
                yield chunk
        finally:
            # Synchronous: awaiting here after a client disconnect would be cancelled again and
            # leak the slot. No thread is inside the generator now (to_thread waits for it).
            try:
                stream.close()
            finally:
                reads.export_gate.release()

    filename = f"trackhouse-events.{'csv' if body.format.startswith('csv') else body.format}"
    headers: dict[str, Any] = {"Content-Disposition": f'attachment; filename="{filename}"'}
    response = BoundedStreamingResponse(chunks(), media_type=media_type, headers=headers)
    return response.bound(deadline=deadline, idle_seconds=reads.settings.export_idle_timeout_seconds)
