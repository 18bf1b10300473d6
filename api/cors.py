"""CORS for the public ingestion endpoints only.

Browsers on any site (by default) may POST events, so `/api/events/track` and `/batch`
answer preflights and carry `Access-Control-Allow-Origin`. The read and admin endpoints
(`GET /api/events/{id}`, `/metrics`, `/rq`) never do, whatever CORS_ALLOW_ORIGINS says: a page
must not be able to read them with a visitor's credentials. So Starlette's CORSMiddleware
wraps the app for the ingestion paths and every other path bypasses it. The dispatcher sits
outside the fast path (`api.fast_path`), so its responses, 401 and 429 included, get the
headers too.
"""

from __future__ import annotations

from collections.abc import Collection

from starlette.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp, Receive, Scope, Send

from api.paths import INGEST_PATHS
from api.responses import DROPPED_HEADER

# Content-Type: fetch with application/json needs a preflight (sendBeacon's text/plain does not).
# Authorization / X-Write-Key carry write keys; Content-Encoding: gzip bodies.
ALLOW_HEADERS = ("Content-Type", "Content-Encoding", "Authorization", "X-Write-Key")
# Not CORS-safelisted, so a script could not read them otherwise.
EXPOSE_HEADERS = ("Retry-After", DROPPED_HEADER)
# Browsers cap it (Chromium: 2 h, Firefox: 24 h); every preflight saved is a request saved.
MAX_AGE_SECONDS = 86_400


class IngestCORS:
    """ASGI middleware: CORS on `paths`, nothing anywhere else."""

    def __init__(
        self, app: ASGIApp, allow_origins: Collection[str], paths: Collection[str] = INGEST_PATHS
    ) -> None:
        self.app = app
        self._paths = frozenset(paths)
        # No credentials: events need no cookies, and with "*" browsers would refuse them anyway.
        self._cors: ASGIApp | None = (
            CORSMiddleware(
                app,
                allow_origins=list(allow_origins),
                allow_methods=("POST",),
                allow_headers=ALLOW_HEADERS,
                expose_headers=EXPOSE_HEADERS,
                max_age=MAX_AGE_SECONDS,
            )
            if allow_origins
            else None
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self._cors is not None and scope["type"] == "http" and scope["path"] in self._paths:
            # No Origin, no CORS (servers, curl): skip the middleware's header parsing. Its only
            # effect there, `Vary: Origin`, does not matter for POST answers, which no cache stores.
            for name, _ in scope["headers"]:
                if name == b"origin":
                    await self._cors(scope, receive, send)
                    return
        await self.app(scope, receive, send)
