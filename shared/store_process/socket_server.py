"""The store process's side of the read seam: a small HTTP app on a unix socket that runs
statements on the ReadEngine that owns the store (a ClientEngine on chDB), for the API
processes' `RemoteEngine`s. It runs what it is sent, so only its owner may reach it: the
socket lives in a directory only the service's user can enter (uvicorn makes the socket
itself world-writable)."""

from __future__ import annotations

import asyncio
import tempfile
from collections.abc import AsyncIterator, Generator
from pathlib import Path

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from shared.files import private_dir
from shared.query.bounded_stream import BoundedStreamingResponse
from shared.query.engine import ReadEngine
from shared.query.errors import QueryError, StoreUnavailable
from shared.queue.redis_server import MAX_UNIX_SOCKET_PATH
from shared.store_process import wire

_DONE = object()


def socket_path(run_dir: Path) -> Path:
    return run_dir / "store.sock"


def run_dir_for(data_dir: Path) -> Path:
    """A private directory for the socket: `<data_dir>/run`, or a fresh 0700 one under /tmp
    when that path is too long for a unix socket."""
    beside = data_dir.resolve() / "run"
    if len(str(socket_path(beside))) <= MAX_UNIX_SOCKET_PATH:
        return private_dir(beside)
    return Path(tempfile.mkdtemp(prefix="trackhouse-run-", dir="/tmp"))  # mkdtemp: 0700


def prepare_socket(run_dir: Path) -> Path:
    """The socket's private directory, with any socket a dead process left behind removed."""
    private_dir(run_dir)
    path = socket_path(run_dir)
    path.unlink(missing_ok=True)
    return path


def _failure(exc: QueryError | StoreUnavailable) -> Response:
    return Response(wire.error_to_wire(exc), status_code=exc.status, media_type="application/json")


def read_app(engine: ReadEngine, *, stream_seconds: float, idle_seconds: float) -> Starlette:
    """`stream_seconds`, `idle_seconds`: the bounds of a stream (BoundedStreamingResponse)."""

    async def rows(request: Request) -> Response:
        statement, _ = wire.statement_from_wire(await request.body())
        try:
            result = await run_in_threadpool(engine.rows, statement)
        except (QueryError, StoreUnavailable) as exc:
            return _failure(exc)
        return Response(wire.dumps([list(row) for row in result]), media_type="application/json")

    async def stream(request: Request) -> Response:
        statement, fmt = wire.statement_from_wire(await request.body())
        chunks = engine.stream(statement, fmt or "CSVWithNames")
        try:  # the first chunk before the 200: a query that fails at once is an error answer
            first = await run_in_threadpool(next, chunks, _DONE)
        except (QueryError, StoreUnavailable) as exc:
            return _failure(exc)

        async def body() -> AsyncIterator[bytes]:
            try:
                if isinstance(first, bytes):
                    yield first
                    while (chunk := await run_in_threadpool(next, chunks, _DONE)) is not _DONE:
                        yield chunk  # type: ignore[misc]
            finally:  # the API process hung up, or done: release the engine's client
                await run_in_threadpool(_close, chunks)

        deadline = asyncio.get_running_loop().time() + stream_seconds
        response = BoundedStreamingResponse(body(), media_type="application/octet-stream")
        return response.bound(deadline=deadline, idle_seconds=idle_seconds)

    async def ping(_: Request) -> Response:
        # The process answers; the engine too (its own probe client, no read slot).
        up = await run_in_threadpool(engine.ping)
        return PlainTextResponse("ok" if up else "store down", status_code=200 if up else 503)

    return Starlette(
        routes=[
            Route("/rows", rows, methods=["POST"]),
            Route("/stream", stream, methods=["POST"]),
            Route("/ping", ping, methods=["GET"]),
        ]
    )


def _close(chunks: Generator[bytes, None, None]) -> None:
    chunks.close()
