"""Each process's in-memory copy of the registry, kept within POLL_SECONDS of Redis.

Lookups (a key's grant, a project's rules) are dict reads of an immutable snapshot, never a
Redis round trip: the ingestion path stays as fast with a key as without. A thread polls the
registry's version (one GET) every POLL_SECONDS and reloads the whole registry when it moved,
so a new or revoked key holds in every process within a second. With Redis away the last
snapshot stays in force; before the first load nothing is decided (`loaded` is False and the
callers answer 503), so a starting process never lets through what the registry forbids."""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from redis.exceptions import RedisError

from shared.registry.model import READ_KINDS, Project, Team
from shared.registry.secrets import digest
from shared.registry.store import USE_INTERVAL_MS, Contents, RegistryStore

log = logging.getLogger(__name__)

POLL_SECONDS = 0.25
RETRY_LOAD_SECONDS = 1.0
"""While the first load fails, a caller triggers at most one attempt a second."""


@dataclass(frozen=True, slots=True)
class Grant:
    """What a registry key may do."""

    id: str
    kind: str
    team_id: str
    project_id: str | None
    rate_limit_per_second: float | None
    revoked: bool


@dataclass(frozen=True, slots=True)
class Snapshot:
    version: int = -1
    teams: dict[str, Team] = field(default_factory=dict)
    projects: dict[str, Project] = field(default_factory=dict)
    grants: dict[str, Grant] = field(default_factory=dict)
    """SHA-256 of a key -> its grant (revoked keys included: they stay refused)."""
    team_projects: dict[str, frozenset[str]] = field(default_factory=dict)
    reads: bool = False
    """Some read or stats key exists (the read endpoints are then enabled without an admin token)."""
    suppressions: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Subjects the API drops (shared.lifecycle.erasures.Suppression records, as stored)."""

    @classmethod
    def of(cls, contents: Contents) -> Snapshot:
        grants = {
            s.digest: Grant(
                s.key.id,
                s.key.kind,
                s.key.team_id,
                s.key.project_id,
                s.key.rate_limit_per_second,
                s.revoked_at is not None,
            )
            for s in contents.keys.values()
        }
        team_projects: dict[str, set[str]] = {team: set() for team in contents.teams}
        for project in contents.projects.values():
            team_projects.setdefault(project.team_id, set()).add(project.project_id)
        frozen = {team: frozenset(ids) for team, ids in team_projects.items()}
        reads = any(g.kind in READ_KINDS and not g.revoked for g in grants.values())
        return cls(
            contents.version, contents.teams, contents.projects, grants, frozen, reads, contents.suppressions
        )


class RegistryView:
    def __init__(self, store: RegistryStore, *, poll_seconds: float = POLL_SECONDS) -> None:
        self._store = store
        self._poll = poll_seconds
        self.snapshot = Snapshot()
        self.loaded = False
        self._last_attempt = -RETRY_LOAD_SECONDS
        self._used: dict[str, float] = {}
        """key id -> when this process last reported its use (monotonic)."""
        self._pending: set[str] = set()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._failing = False
        self.last_error = "not loaded yet"
        """The last load failure's type (for the 500 an unloaded registry answers)."""

    @property
    def store(self) -> RegistryStore:
        return self._store

    def refresh(self) -> bool:
        """Reload if the registry changed; False when Redis could not be read."""
        try:
            if not self.loaded or self._store.version() != self.snapshot.version:
                self.snapshot = Snapshot.of(self._store.load())
                self.loaded = True
        except (RedisError, OSError) as exc:
            if not self._failing:
                log.warning("registry not refreshed (the last copy stays in force): %s", exc)
            self._failing = True
            self.last_error = type(exc).__name__
            return False
        self._failing = False
        return True

    def ready(self) -> bool:
        """Loaded at least once. Before that, one load attempt a second (from a caller, for
        a process whose thread has not run yet or whose Redis was down at start)."""
        if self.loaded:
            return True
        now = time.monotonic()
        if now - self._last_attempt >= RETRY_LOAD_SECONDS:
            self._last_attempt = now
            self.refresh()
        return self.loaded

    def grant(self, key: bytes) -> Grant | None:
        found = self.snapshot.grants.get(digest(key))
        if found is not None and not found.revoked:
            self._note_use(found.id)
        return found

    def _note_use(self, key_id: str) -> None:
        now = time.monotonic()
        if now - self._used.get(key_id, -1e9) >= USE_INTERVAL_MS / 1000:
            self._used[key_id] = now
            with self._lock:
                self._pending.add(key_id)

    def flush_uses(self) -> None:
        with self._lock:
            pending, self._pending = self._pending, set()
        if pending:
            try:
                self._store.touch(sorted(pending), int(time.time() * 1000))
            except (RedisError, OSError):
                with self._lock:
                    self._pending |= pending

    # --- the polling thread ---
    def start(self) -> None:
        if self._thread is None:
            self._stop.clear()
            self._thread = threading.Thread(target=self._run, name="registry", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
        self.flush_uses()

    def _run(self) -> None:
        while not self._stop.wait(self._poll):
            self.refresh()
            self.flush_uses()
