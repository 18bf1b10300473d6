"""POST /api/export: the stored events themselves (every column, one row per event), streamed
as CSV (with a header line), NDJSON or Parquet. The response is produced block by block from
the store; a slow reader holds one query slot, never the event loop nor the ingestion path."""

from __future__ import annotations

from collections.abc import AsyncIterator, Generator
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response, StreamingResponse
from starlette.concurrency import iterate_in_threadpool, run_in_threadpool

from api.read_keys import ReadScope
from api.reads import ReadSide, failure, read_scope, read_side
from api.responses import json_body_doc
from api.routes.query import ERRORS
from shared.query import sql
from shared.query.errors import QueryError, StoreUnavailable
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
    stream = reads.engine.stream(statement, _FORMATS[body.format][0])
    try:
        return stream, next(stream, b"")
    except BaseException:
        stream.close()
        raise


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
    summary="Export the stored events as CSV, NDJSON or Parquet (admin token or read key)",
)
async def export(
    request: Request,
    scope: Annotated[ReadScope, Depends(read_scope)],
    reads: Annotated[ReadSide, Depends(read_side)],
) -> Response:
    body = await reads.body(request, ExportBody)
    try:
        await reads.gate.acquire()
    except QueryError as exc:
        return failure(exc)
    try:
        stream, first = await run_in_threadpool(_open, reads, body, scope)
    except (QueryError, StoreUnavailable) as exc:
        reads.gate.release()
        return failure(exc)
    except BaseException:
        reads.gate.release()
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
                reads.gate.release()

    filename = f"trackhouse-events.{'csv' if body.format.startswith('csv') else body.format}"
    headers: dict[str, Any] = {"Content-Disposition": f'attachment; filename="{filename}"'}
    return StreamingResponse(chunks(), media_type=media_type, headers=headers)
