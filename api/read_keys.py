"""Who may read: the admin token sees every project; a read key (TRACKHOUSE_READ_KEYS, JSON
`{"key": "project_id"}`) sees only its project: every read it makes is restricted to that
project, whatever its filters say.

Both are compared in constant time: the admin token with `hmac.compare_digest`, read keys as
write keys are (api.write_keys): the presented key's keyed BLAKE2b digest (a random key per
process) looked up in a dict, so timing depends only on a digest nobody can choose.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Mapping
from dataclasses import dataclass

from fastapi import HTTPException, Request
from pydantic import SecretStr


@dataclass(frozen=True, slots=True)
class ReadScope:
    project: str | None
    """None: the admin token, every project."""


class ReadKeys:
    def __init__(self, keys: Mapping[str, str], admin_token: SecretStr | None) -> None:
        self._secret = secrets.token_bytes(32)
        self._projects = {self._digest(key.encode()): project for key, project in keys.items()}
        self._admin = admin_token.get_secret_value().encode() if admin_token is not None else None

    def _digest(self, key: bytes) -> bytes:
        return hashlib.blake2b(key, key=self._secret, digest_size=32).digest()

    def scope(self, authorization: str) -> ReadScope | None:
        scheme, _, token = authorization.partition(" ")
        presented = token.strip().encode("latin-1", "replace") if scheme.lower() == "bearer" else b""
        if not presented:
            return None
        if self._admin is not None and hmac.compare_digest(presented, self._admin):
            return ReadScope(None)
        project = self._projects.get(self._digest(presented))
        return ReadScope(project) if project is not None else None

    def authorize(self, request: Request) -> ReadScope:
        """The caller's scope; raises the 403 (reads disabled) or 401 to answer."""
        if self._admin is None and not self._projects:
            raise HTTPException(
                403, "Read endpoints are disabled: set TRACKHOUSE_ADMIN_TOKEN or TRACKHOUSE_READ_KEYS"
            )
        scope = self.scope(request.headers.get("authorization", ""))
        if scope is None:
            raise HTTPException(
                401,
                "Unauthorized: Authorization: Bearer <admin token or read key>",
                headers={"WWW-Authenticate": "Bearer"},
            )
        return scope
