"""Write keys: optional per-project credentials for the ingestion endpoints.

With TRACKHOUSE_WRITE_KEYS empty (the default) tracking is open. With keys configured, every
POST to /track or /batch must carry one (`Authorization: Bearer <key>` or `X-Write-Key: <key>`)
or gets 401 before its body is read, and each event belongs to the key's project: one that
names another project is refused, one that names none gets the key's.

Comparison: the presented key is hashed (keyed BLAKE2b, a random key per process) and the
digest looked up in a dict. The lookup's timing depends only on the digest, which an attacker
can neither choose nor compute without the process's secret, so it reveals nothing about the
configured keys; and it costs one hash whatever the number of keys, where `hmac.compare_digest`
against each key costs O(keys) per request. The raw keys are not kept.

`IngestGuard` (api.ingest_guard) calls `authorize` ahead of the handlers, which records the key's
project in the ASGI scope; the handlers call `apply_project` on each parsed event.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from api.responses import error
from shared.event.errors import EventError

PROJECT_SCOPE_KEY = "trackhouse.write_key_project"
"""Where `authorize`'s caller leaves the key's project for `apply_project`: the ASGI scope is
per request (scope["state"] may be a copy of shared lifespan state, so it is not used)."""


@dataclass(frozen=True, slots=True)
class Grant:
    project: str
    label: str
    """A stable, non-secret name of the key (the rate limiter's bucket): a truncated unkeyed
    hash, the same in every process, never the key itself."""


def key_label(key: str) -> str:
    return hashlib.blake2b(key.encode(), digest_size=8, person=b"th-write-key").hexdigest()


class WriteKeys:
    def __init__(self, keys: Mapping[str, str]) -> None:
        self._secret = secrets.token_bytes(32)
        self._grants = {
            self._digest(key.encode()): Grant(project, key_label(key)) for key, project in keys.items()
        }

    @property
    def enabled(self) -> bool:
        return bool(self._grants)

    def _digest(self, key: bytes) -> bytes:
        return hashlib.blake2b(key, key=self._secret, digest_size=32).digest()

    def lookup(self, key: str) -> Grant | None:
        # Starlette decodes header bytes as latin-1: re-encoding gives the bytes the client sent,
        # which match the UTF-8 of a configured key.
        return self._grants.get(self._digest(key.encode("latin-1", "replace")))

    def authorize(self, request: Request) -> Grant | Response:
        """The key's grant, or the 401 to answer."""
        headers = request.headers
        key = headers.get("x-write-key", "").strip()
        if not key:
            scheme, _, token = headers.get("authorization", "").partition(" ")
            key = token.strip() if scheme.lower() == "bearer" else ""
        grant = self.lookup(key) if key else None
        if grant is None:
            message = (
                "Invalid write key" if key else "Missing write key (Authorization: Bearer or X-Write-Key)"
            )
            return error(401, message, headers={"WWW-Authenticate": "Bearer"})
        request.scope[PROJECT_SCOPE_KEY] = grant.project
        return grant


def apply_project(row: dict[str, Any], request: Request) -> None:
    """Bind one parsed event to the request's write-key project (no-op without write keys).
    Raises EventError, which /track answers with 400 and /batch reports for that event."""
    project = request.scope.get(PROJECT_SCOPE_KEY)
    if project is None:
        return
    given = row.get("project_id")
    if not given:
        row["project_id"] = project
    elif given != project:
        raise EventError("project_id", "does not match the write key's project")
