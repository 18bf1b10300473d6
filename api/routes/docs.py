"""Security headers for the API docs pages, whose assets come from the `fastapi-offline` wheel.

`FastAPIOffline` (api/app.py) serves Swagger UI and ReDoc from the package, so /docs works on a
machine without internet access. Two third-party fetches remain in those bundles: ReDoc's side
menu always shows Redocly's logo from its CDN, and Swagger UI would ask swagger.io to validate
the schema of a non-localhost deployment (`validatorUrl`, switched off in api/app.py). This
Content-Security-Policy confines both pages to the API's own origin, so an operator's browser
makes no request elsewhere (the logo is refused before any connection; its alt text shows).
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.responses import BODY_MODELS

DOCS_PATHS = frozenset({"/docs", "/redoc"})
# Both pages hold an inline bootstrap script (FastAPI's HTML); ReDoc runs a worker from a blob.
DOCS_CSP = (
    "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; font-src 'self' data:; worker-src 'self' blob:; connect-src 'self'; "
    "frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
)


class DocsSecurityHeaders:
    """ASGI middleware: a same-origin CSP on the docs pages; every other path passes untouched."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] not in DOCS_PATHS:
            await self.app(scope, receive, send)
            return

        async def send_with_csp(message: Message) -> None:
            if message["type"] == "http.response.start":
                MutableHeaders(scope=message)["Content-Security-Policy"] = DOCS_CSP
            await send(message)

        await self.app(scope, receive, send_with_csp)


def document_body_models(app: FastAPI) -> None:
    """Adds the schemas of the bodies routes read themselves (`api.responses.json_body_doc`)
    to the app's OpenAPI document, nested models included, once, when it is first built."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        schema = build()
        components = schema.setdefault("components", {}).setdefault("schemas", {})
        for name, model in BODY_MODELS.items():
            document = model.model_json_schema(ref_template="#/components/schemas/{model}")
            for nested, sub in document.pop("$defs", {}).items():
                components.setdefault(nested, sub)
            components[name] = document
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
