"""rq-dashboard inside the embedded process, at /rq (`trackhouse up --dashboard`).

The dashboard can requeue and delete jobs, so it is never served without a credential:
HTTP basic auth, user `admin`, password = TRACKHOUSE_ADMIN_TOKEN (a browser can send
basic auth; it cannot send a bearer token). It reads jobs with trackhouse's serializer.
"""

from __future__ import annotations

import base64
import hmac

from fastapi import FastAPI
from fastapi.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from shared.queue.serializer import OrjsonSerializer
from shared.settings import Settings

MOUNT_PATH = "/rq"
USERNAME = "admin"


def mount_dashboard(app: FastAPI, settings: Settings, redis_url: str) -> None:
    if settings.admin_token is None:
        raise SystemExit(
            "--dashboard needs TRACKHOUSE_ADMIN_TOKEN: the dashboard can requeue and delete jobs"
        )
    try:
        from a2wsgi import WSGIMiddleware
        from rq_dashboard import web
        from rq_dashboard.cli import make_flask_app
    except ImportError as exc:
        raise SystemExit(
            f"--dashboard needs the dashboard extra: pip install 'trackhouse[dashboard]' ({exc})"
        ) from None
    # Auth is ours, in front of the mount: rq-dashboard's own basic auth mutates a module-level
    # blueprint, which can be set up once per process only.
    flask_app = make_flask_app(None, None, None, "")
    flask_app.config["RQ_DASHBOARD_REDIS_URL"] = (redis_url,)  # a list of instances, as its CLI sets
    web.config.serializer = OrjsonSerializer
    password = settings.admin_token.get_secret_value()
    app.mount(MOUNT_PATH, BasicAuth(WSGIMiddleware(flask_app), USERNAME, password))  # type: ignore[arg-type]


class BasicAuth:
    """ASGI guard: HTTP basic auth with one user, compared in constant time."""

    def __init__(self, app: ASGIApp, username: str, password: str) -> None:
        self.app = app
        self._expected = b"Basic " + base64.b64encode(f"{username}:{password}".encode())

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            given = dict(scope["headers"]).get(b"authorization", b"")
            if not hmac.compare_digest(given, self._expected):
                response = JSONResponse(
                    {"error": "Unauthorized"},
                    status_code=401,
                    headers={"WWW-Authenticate": 'Basic realm="rq"'},
                )
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)
