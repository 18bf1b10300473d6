"""The two ingestion endpoints, answered ahead of FastAPI's router.

`POST /api/events/track` and `/batch` are the whole hot path: FastAPI's per-request
routing, dependency solving and exception-wrapping cost more CPU than validating and
queueing the event itself (profiled under wrk). This ASGI middleware hands those two
requests straight to the same handler functions the router has registered (so /docs
still documents them) and lets every other request through untouched. Errors the
handlers do not answer themselves still reach the app's exception handlers.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping

from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

Handler = Callable[[Request], Awaitable[Response]]
Guard = Callable[[Request], Response | None]
"""Runs before the handler (rate limits, write keys): a response refuses the request."""


class IngestFastPath:
    def __init__(self, app: ASGIApp, handlers: Mapping[str, Handler], guard: Guard | None = None) -> None:
        self.app = app
        self._handlers = dict(handlers)
        self._guard = guard

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "POST":
            handler = self._handlers.get(scope["path"])
            if handler is not None:
                request = Request(scope, receive)
                refused = self._guard(request) if self._guard is not None else None
                response = refused if refused is not None else await handler(request)
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)
