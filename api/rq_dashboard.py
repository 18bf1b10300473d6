"""rq-dashboard inside the API process, at /rq (`trackhouse up --rq-dashboard`,
TRACKHOUSE_RQ_DASHBOARD).

The dashboard can requeue and delete jobs, so it is never served without a credential:
HTTP basic auth, user `admin`, password = TRACKHOUSE_ADMIN_TOKEN (a browser can send
basic auth; it cannot send a bearer token). It reads jobs with trackhouse's serializer.

rq-dashboard renders job data into the page unescaped (underscore's `<%= %>`: the job
detail, the workers' call strings) and checks no CSRF token, while a browser resends basic
auth by itself. So `DashboardGuard`, in front of it:
- sends a Content-Security-Policy: scripts only from /rq itself and the page's own inline
  script (by hash), so injected markup (`<img onerror=…>`, `<script>`) never runs;
- HTML-escapes the strings of its JSON data (except the job list, whose template escapes
  them itself), so job text renders as text even without CSP;
- refuses state-changing requests (any non-GET, and the GET that requeues) that a browser
  did not send from the dashboard's own origin (`Sec-Fetch-Site`, else `Origin`).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import html
import re
from typing import Any
from urllib.parse import urlsplit

import orjson
from fastapi import FastAPI
from fastapi.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.lockout import Lockout
from shared.queue.serializer import OrjsonSerializer
from shared.settings import Settings

MOUNT_PATH = "/rq"
USERNAME = "admin"

# The inline scripts a page of rq-dashboard runs (not its `text/template` blocks, which are data).
_INLINE_SCRIPT = re.compile(
    rb"<script(?![^>]*\bsrc=)(?![^>]*\btype=\"text/template\")[^>]*>(.*?)</script>", re.S
)
# underscore's templates compile with `new Function` (unsafe-eval); nothing runs from markup.
_CSP = (
    "default-src 'self'; script-src 'self' 'unsafe-eval'{hashes}; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'"
)
_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
_JOB_LIST = re.compile(r"/data/jobs/")


def mount_dashboard(app: FastAPI, settings: Settings, redis_url: str) -> None:
    if settings.admin_token is None:
        raise SystemExit(
            "--rq-dashboard needs TRACKHOUSE_ADMIN_TOKEN: rq-dashboard can requeue and delete jobs"
        )
    try:
        from a2wsgi import WSGIMiddleware
        from rq_dashboard import web
        from rq_dashboard.cli import make_flask_app
    except ImportError as exc:
        raise SystemExit(
            f"--rq-dashboard needs the dashboard extra: pip install 'trackhouse[dashboard]' ({exc})"
        ) from None
    # Auth is ours, in front of the mount: rq-dashboard's own basic auth mutates a module-level
    # blueprint, which can be set up once per process only.
    flask_app = make_flask_app(None, None, None, "")
    flask_app.config["RQ_DASHBOARD_REDIS_URL"] = (redis_url,)  # a list of instances, as its CLI sets
    web.config.serializer = OrjsonSerializer
    password = settings.admin_token.get_secret_value()
    guarded = DashboardGuard(WSGIMiddleware(flask_app))  # type: ignore[arg-type]
    app.mount(MOUNT_PATH, BasicAuth(guarded, USERNAME, password))


class BasicAuth:
    """ASGI guard: HTTP basic auth with one user, compared in constant time; a peer's failed
    attempts are throttled (`api.lockout`)."""

    def __init__(self, app: ASGIApp, username: str, password: str) -> None:
        self.app = app
        self._expected = b"Basic " + base64.b64encode(f"{username}:{password}".encode())
        self.lockout = Lockout()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            peer = str(scope["client"][0]) if scope.get("client") else ""
            if (wait := self.lockout.retry_after(peer)) is not None:
                refused = JSONResponse(
                    {"error": "Too many failed attempts: retry later"},
                    status_code=429,
                    headers={"Retry-After": str(wait)},
                )
                await refused(scope, receive, send)
                return
            given = dict(scope["headers"]).get(b"authorization", b"")
            if not hmac.compare_digest(given, self._expected):
                if given:  # a guess; no header is a browser's first try, before the challenge
                    self.lockout.failed(peer)
                response = JSONResponse(
                    {"error": "Unauthorized"},
                    status_code=401,
                    headers={"WWW-Authenticate": 'Basic realm="rq"'},
                )
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)


def _changes_state(scope: Scope) -> bool:
    # rq-dashboard's requeue-all also answers GET: a link or an <img> could trigger it.
    return scope["method"] not in _SAFE_METHODS or "/requeue/" in scope["path"]


def same_origin(headers: dict[bytes, bytes]) -> bool:
    """Did a browser send this from the page's own origin? `Sec-Fetch-Site` when the browser
    sends it (all current ones do), else `Origin` against `Host`. Neither: refused (a tool
    such as curl can send `Origin` itself; a browser attack always carries one of them)."""
    site = headers.get(b"sec-fetch-site")
    if site is not None:
        return site == b"same-origin"
    origin, host = headers.get(b"origin"), headers.get(b"host")
    if origin is None or host is None:
        return False
    return urlsplit(origin.decode("latin-1")).netloc.lower() == host.decode("latin-1").lower()


def _escape(value: Any) -> Any:
    if isinstance(value, str):
        return html.escape(value)
    if isinstance(value, list):
        return [_escape(item) for item in value]
    if isinstance(value, dict):
        return {key: _escape(item) for key, item in value.items()}
    return value


def _inline_hashes(page: bytes) -> str:
    return "".join(
        f" 'sha256-{base64.b64encode(hashlib.sha256(m[1]).digest()).decode()}'"
        for m in _INLINE_SCRIPT.finditer(page)
    )


class DashboardGuard:
    """CSP, escaped JSON data and same-origin checks in front of rq-dashboard (see above)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if _changes_state(scope) and not same_origin(dict(scope["headers"])):
            response = JSONResponse({"error": "Forbidden: cross-site request"}, status_code=403)
            await response(scope, receive, send)
            return
        escape_json = not _JOB_LIST.search(scope["path"])
        start: Message | None = None
        body = bytearray()

        async def buffered(message: Message) -> None:
            nonlocal start
            if message["type"] == "http.response.start":
                start = message
                return
            if message["type"] != "http.response.body" or start is None:
                await send(message)
                return
            body.extend(message.get("body", b""))
            if message.get("more_body", False):
                return
            await self._finish(start, bytes(body), escape_json, send)

        await self.app(scope, receive, buffered)

    @staticmethod
    async def _finish(start: Message, body: bytes, escape_json: bool, send: Send) -> None:
        headers = [(k, v) for k, v in start["headers"] if k.lower() != b"content-length"]
        media = dict(start["headers"]).get(b"content-type", b"").split(b";")[0].strip().lower()
        if media == b"application/json" and escape_json:
            body = orjson.dumps(_escape(orjson.loads(body)))
        headers += [
            (b"content-length", str(len(body)).encode()),
            (b"content-security-policy", _CSP.format(hashes=_inline_hashes(body)).encode()),
            (b"x-content-type-options", b"nosniff"),
            (b"referrer-policy", b"no-referrer"),
        ]
        await send({**start, "headers": headers})
        await send({"type": "http.response.body", "body": body})
