"""Who may send events for which project: registry keys, the environment's write keys, and
the projects' own rules. Checked by the ingestion guard (`api.ingest_guard`) before the body is
read; `bind` then applies the verdict to each parsed event.

- A registry `write` or `server` key binds every event it sends to its project and that
  project's team, whatever the event says. A `write` key is public (it is in pages): when its
  project lists `domains`, a request carrying an `Origin` (or, without one, a `Referer`) whose
  hostname is not among them gets 403; one carrying neither (a server) is accepted.
- A `server` key is secret: its events are `trusted`, and a trusted copy of an event id
  replaces a public or keyless copy in the store (never the reverse; see migration 0005).
- An environment key (TRACKHOUSE_WRITE_KEYS) keeps its old rule: an event naming another
  project is refused (400), one naming none gets the key's. With any configured, a request
  without a key gets 401.
- Without a key, an event naming a registered project with `require_write_key` gets 401;
  one naming a registered project gets that project's team.
- A key the registry knows decides, even when the environment names it too: a revoked
  registry key stays refused.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from api.responses import FailureBody, error
from api.write_keys import WriteKeys
from shared.event.errors import EventError
from shared.registry.model import WRITE_KINDS, host_allowed
from shared.registry.view import RegistryView

GRANT_SCOPE_KEY = "trackhouse.write_grant"
"""Where `authorize` leaves the request's grant for `bind` (the ASGI scope is per request)."""

ORIGIN_REFUSED = "origin not allowed for this project"


@dataclass(frozen=True, slots=True)
class WriteGrant:
    project_id: str
    label: str
    """The rate limiter's bucket: the key's id, or a hash of an environment key; never the key."""
    trusted: bool
    rate_limit_per_second: float | None
    overrides: bool
    """Registry keys overwrite the event's project; environment keys refuse another one."""


class KeyRequired(EventError):
    status = 401


def presented_key(headers: Headers) -> str:
    key = headers.get("x-write-key", "").strip()
    if not key:
        scheme, _, token = headers.get("authorization", "").partition(" ")
        key = token.strip() if scheme.lower() == "bearer" else ""
    return key


def _sender_host(headers: Headers) -> str | None:
    """The hostname of the page that sent the request, '' when it is not one (`Origin: null`,
    a malformed value), None when the request names no page (a server's)."""
    value = headers.get("origin") or headers.get("referer")
    if not value:
        return None
    try:
        return (urlsplit(value).hostname or "").lower()
    except ValueError:
        return ""


def _unauthorized(message: str) -> Response:
    return error(401, message, headers={"WWW-Authenticate": "Bearer"})


class WriteAccess:
    def __init__(self, env_keys: WriteKeys, registry: RegistryView) -> None:
        self._env = env_keys
        self.registry = registry

    def authorize(self, request: Request) -> WriteGrant | Response | None:
        """The request's grant, None for a keyless request that may go on, or the refusal."""
        registry = self.registry
        if not registry.ready():  # Redis unreachable: the event could not be queued either
            failure = FailureBody(details=f"event queue unavailable ({registry.last_error})")
            return JSONResponse(failure.model_dump(), status_code=500)
        headers = request.headers
        key = presented_key(headers)
        if not key:
            if self._env.enabled:
                return _unauthorized("Missing write key (Authorization: Bearer or X-Write-Key)")
            return None
        # Starlette decodes header bytes as latin-1: re-encoding gives the bytes the client sent.
        raw = key.encode("latin-1", "replace")
        found = registry.grant(raw)
        if found is not None:
            project = registry.snapshot.projects.get(found.project_id or "")
            if found.revoked or found.kind not in WRITE_KINDS or project is None:
                return _unauthorized("Invalid write key")
            if found.kind == "write" and project.domains:
                host = _sender_host(headers)
                if host is not None and not host_allowed(host, project.domains):
                    return error(403, ORIGIN_REFUSED)
            grant = WriteGrant(
                project.project_id, found.id, found.kind == "server", found.rate_limit_per_second, True
            )
        else:
            env = self._env.lookup(key)
            if env is None:
                return _unauthorized("Invalid write key")
            grant = WriteGrant(env.project, env.label, False, None, False)
        request.scope[GRANT_SCOPE_KEY] = grant
        return grant

    def bind(self, row: dict[str, Any], request: Request) -> None:
        """Apply the request's grant and the registry's rules to one parsed event. Raises
        EventError (400, or KeyRequired: 401), which /track answers and /batch reports."""
        grant: WriteGrant | None = request.scope.get(GRANT_SCOPE_KEY)
        if grant is not None:
            if grant.overrides or not row["project_id"]:
                row["project_id"] = grant.project_id
            elif row["project_id"] != grant.project_id:
                raise EventError("project_id", "does not match the write key's project")
            row["trusted"] = grant.trusted
        project = self.registry.snapshot.projects.get(row["project_id"]) if row["project_id"] else None
        if project is not None:
            if grant is None and project.require_write_key:
                raise KeyRequired("project_id", "this project takes events only with its write key")
            row["team_id"] = project.team_id
