"""Who may read what. The admin token sees every project. A read key sees its projects only:
every read it makes is restricted to them, whatever its filters say. Read keys come from the
registry (a project's key, or a team's, over every project of that team at the time of each
read) or from TRACKHOUSE_READ_KEYS (JSON `{"key": "project_id"}`). A registry key decides even
when the environment names it too, so a revoked one stays refused. A `stats` key reads like a
read key but only through /api/query and the dashboard, without personal dimensions.

The admin token is compared with `hmac.compare_digest`; environment keys as write keys are
(api.write_keys): a keyed BLAKE2b digest (a random key per process) looked up in a dict;
registry keys by their SHA-256 (shared.registry.secrets). Timing depends only on a digest
nobody can choose.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from fastapi import HTTPException, Request
from pydantic import SecretStr

from shared.registry.model import READ_KINDS
from shared.registry.view import RegistryView

ReadKind = Literal["admin", "read", "stats"]


@dataclass(frozen=True, slots=True)
class ReadScope:
    projects: frozenset[str] | None = None
    """None: the admin token, every project."""
    kind: ReadKind = "admin"
    tenant: str | None = None
    """Whose share of the read slots it takes (a project, or `team:<id>`; None: the admin's)."""

    @classmethod
    def of_project(cls, project_id: str, kind: ReadKind = "read") -> ReadScope:
        return cls(frozenset({project_id}), kind, project_id)

    @property
    def public(self) -> bool:
        """A stats key: what a public dashboard link may show, nothing more."""
        return self.kind == "stats"


class ReadKeys:
    def __init__(
        self, keys: Mapping[str, str], admin_token: SecretStr | None, registry: RegistryView | None = None
    ) -> None:
        self._secret = secrets.token_bytes(32)
        self._projects = {self._digest(key.encode()): project for key, project in keys.items()}
        self._admin = admin_token.get_secret_value().encode() if admin_token is not None else None
        self._registry = registry

    def _digest(self, key: bytes) -> bytes:
        return hashlib.blake2b(key, key=self._secret, digest_size=32).digest()

    def scope(self, authorization: str) -> ReadScope | None:
        scheme, _, token = authorization.partition(" ")
        presented = token.strip().encode("latin-1", "replace") if scheme.lower() == "bearer" else b""
        if not presented:
            return None
        if self._admin is not None and hmac.compare_digest(presented, self._admin):
            return ReadScope()
        if self._registry is not None and (grant := self._registry.grant(presented)) is not None:
            if grant.revoked or grant.kind not in READ_KINDS:
                return None
            kind: ReadKind = "stats" if grant.kind == "stats" else "read"
            if grant.project_id is not None:
                return ReadScope.of_project(grant.project_id, kind)
            projects = self._registry.snapshot.team_projects.get(grant.team_id, frozenset())
            return ReadScope(projects, kind, f"team:{grant.team_id}")
        project = self._projects.get(self._digest(presented))
        return ReadScope.of_project(project) if project is not None else None

    def _enabled(self) -> bool:
        registry = self._registry
        return (
            self._admin is not None
            or bool(self._projects)
            or (registry is not None and registry.snapshot.reads)
        )

    def authorize(self, request: Request) -> ReadScope:
        """The caller's scope; raises the 403 (reads disabled), 503 (registry not loaded) or 401."""
        if self._registry is not None and not self._registry.ready():
            raise HTTPException(
                503, "project registry not loaded yet (Redis unreachable)", headers={"Retry-After": "1"}
            )
        if not self._enabled():
            raise HTTPException(
                403, "Read endpoints are disabled: set TRACKHOUSE_ADMIN_TOKEN, or create read keys"
            )
        scope = self.scope(request.headers.get("authorization", ""))
        if scope is None:
            raise HTTPException(
                401,
                "Unauthorized: Authorization: Bearer <admin token or read key>",
                headers={"WWW-Authenticate": "Bearer"},
            )
        return scope
