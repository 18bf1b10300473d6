"""The admin token check, shared by the read endpoints and /metrics (constant-time compare;
a client's failed attempts are throttled, `api.lockout`)."""

from __future__ import annotations

import hmac

from fastapi import Request
from fastapi.responses import JSONResponse

from api.responses import error
from api.state import AppState


def check_admin(
    request: Request, state: AppState, *, open_without_token: bool = False
) -> JSONResponse | None:
    """None when the caller may proceed, else the response to send. Without a configured
    token the endpoint is disabled (403), or open when `open_without_token`."""
    token = state.settings.admin_token
    if token is None:
        if open_without_token:
            return None
        return error(403, "Read endpoints are disabled: set TRACKHOUSE_ADMIN_TOKEN to enable them")
    client = state.resolver.context(request).ip_address or ""
    if (wait := state.admin_lockout.retry_after(client)) is not None:
        return error(429, "Too many failed attempts: retry later", headers={"Retry-After": str(wait)})
    presented = request.headers.get("authorization", "")
    scheme, _, given = presented.partition(" ")
    expected = token.get_secret_value().encode()
    if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode(), expected):
        if presented:  # a guess; no header at all guesses nothing
            state.admin_lockout.failed(client)
        return error(401, "Unauthorized", headers={"WWW-Authenticate": "Bearer"})
    return None
