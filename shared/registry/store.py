"""The registry in Redis: teams, projects and keys, changed at run time.

Redis, not a ClickHouse table, because it is what every API process already reads on the
ingestion path and what is durable the way acknowledged events are: the AOF (on a SIGKILL
every acknowledged write is in the file), the same Sentinel failover and, with
REDIS_MIN_REPLICAS_ACK, the same replica acknowledgement before a change is answered. A
ClickHouse table would put the store on the ingestion path and make a change visible only
after a merge-free read of it. Layout (a few hashes; a registry of thousands of keys is a few MB):

    trackhouse:registry:teams     team_id    -> Team JSON
    trackhouse:registry:projects  project_id -> Project JSON
    trackhouse:registry:keys      key id     -> Key JSON + its SHA-256 + revoked_at
    trackhouse:registry:used      key id     -> last use (epoch ms), written at most once a minute
    trackhouse:registry:version   bumped by every change: what each process polls
    trackhouse:registry:suppressions  id -> a subject the API drops (shared.lifecycle.erasures)

Each change is one WATCH/MULTI transaction that also bumps the version, so a reader that loads
the hashes in one MULTI sees a registry as it was between two changes."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeVar

import orjson
from redis import Redis
from redis.client import Pipeline

from shared.queue.connect import require_replicas
from shared.registry.model import (
    PROJECT_KINDS,
    TEAM_KINDS,
    WRITE_KINDS,
    CreatedKey,
    Key,
    KeyIn,
    Project,
    ProjectIn,
    ProjectPatch,
    Team,
    TeamIn,
)
from shared.registry.secrets import digest, new_key, new_key_id

PREFIX = "trackhouse:registry:"
TEAMS, PROJECTS, KEYS, USED, VERSION, SUPPRESSIONS = (
    PREFIX + name for name in ("teams", "projects", "keys", "used", "version", "suppressions")
)
USE_INTERVAL_MS = 60_000

# KEYS[1] the used hash; ARGV[1] key id, ARGV[2] now (ms). At most one write a minute per key,
# whatever the number of processes using it.
_TOUCH = f"""
local old = tonumber(redis.call('HGET', KEYS[1], ARGV[1]) or '0')
if tonumber(ARGV[2]) - old < {USE_INTERVAL_MS} then return 0 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
return 1
"""

T = TypeVar("T")


class RegistryError(Exception):
    status = 400

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class NotFound(RegistryError):
    status = 404


class Conflict(RegistryError):
    status = 409


@dataclass(frozen=True, slots=True)
class StoredKey:
    """A key's record as stored: what is listed, its hash, and whether it was revoked."""

    key: Key
    digest: str
    revoked_at: str | None


@dataclass(frozen=True, slots=True)
class Contents:
    """The whole registry at one version."""

    version: int
    teams: dict[str, Team]
    projects: dict[str, Project]
    keys: dict[str, StoredKey]
    suppressions: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Suppression records (shared.lifecycle.erasures.Suppression), as stored."""


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _stored_key(raw: bytes | str) -> StoredKey:
    data = orjson.loads(raw)
    return StoredKey(Key.model_validate(data["key"]), data["digest"], data.get("revoked_at"))


def _dump_key(stored: StoredKey) -> bytes:
    return orjson.dumps(
        {"key": stored.key.model_dump(), "digest": stored.digest, "revoked_at": stored.revoked_at}
    )


class RegistryStore:
    def __init__(self, redis: Redis, *, min_replicas: int = 0, replica_timeout_ms: int = 1000) -> None:
        self._redis = redis
        self._min_replicas = min_replicas
        self._replica_timeout_ms = replica_timeout_ms
        self._touch = redis.register_script(_TOUCH)

    # --- reads ---
    def version(self) -> int:
        return int(self._redis.get(VERSION) or 0)

    def load(self) -> Contents:
        with self._redis.pipeline(transaction=True) as pipe:
            pipe.get(VERSION)
            pipe.hgetall(TEAMS)
            pipe.hgetall(PROJECTS)
            pipe.hgetall(KEYS)
            pipe.hgetall(SUPPRESSIONS)
            version, teams, projects, keys, suppressions = pipe.execute()
        return Contents(
            int(version or 0),
            {k.decode(): Team.model_validate_json(v) for k, v in teams.items()},
            {k.decode(): Project.model_validate_json(v) for k, v in projects.items()},
            {k.decode(): _stored_key(v) for k, v in keys.items()},
            {k.decode(): orjson.loads(v) for k, v in suppressions.items()},
        )

    def teams(self) -> list[Team]:
        return sorted(self.load().teams.values(), key=lambda t: t.team_id)

    def projects(self, team_id: str | None = None) -> list[Project]:
        found = self.load().projects.values()
        return sorted(
            (p for p in found if team_id is None or p.team_id == team_id), key=lambda p: p.project_id
        )

    def project(self, project_id: str) -> Project:
        raw = self._redis.hget(PROJECTS, project_id)
        if raw is None:
            raise NotFound(f"project {project_id!r} not found")
        return Project.model_validate_json(raw)

    def keys(self, team_id: str | None = None, project_id: str | None = None) -> list[Key]:
        """Keys not revoked, without their secrets, with their last use."""
        with self._redis.pipeline(transaction=True) as pipe:
            pipe.hgetall(KEYS)
            pipe.hgetall(USED)
            keys, used = pipe.execute()
        listed = []
        for raw in keys.values():
            stored = _stored_key(raw)
            key = stored.key
            if (
                stored.revoked_at
                or (team_id and key.team_id != team_id)
                or (project_id and key.project_id != project_id)
            ):
                continue
            if (ms := used.get(key.id.encode())) is not None:
                key = key.model_copy(update={"last_used_at": _iso_ms(int(ms))})
            listed.append(key)
        return sorted(listed, key=lambda k: (k.created_at, k.id))

    # --- changes ---
    def create_team(self, body: TeamIn) -> Team:
        team = Team(team_id=body.team_id, name=body.name, created_at=now_iso())

        def change(pipe: Pipeline) -> Team:
            if pipe.hexists(TEAMS, team.team_id):
                raise Conflict(f"team {team.team_id!r} exists")
            _write(pipe, lambda p: p.hset(TEAMS, team.team_id, team.model_dump_json()))
            return team

        return self._change(change, TEAMS)

    def create_project(self, body: ProjectIn) -> Project:
        project = Project(**body.model_dump(), created_at=now_iso())

        def change(pipe: Pipeline) -> Project:
            if not pipe.hexists(TEAMS, project.team_id):
                raise NotFound(f"team {project.team_id!r} not found")
            if pipe.hexists(PROJECTS, project.project_id):
                raise Conflict(f"project {project.project_id!r} exists")
            _write(pipe, lambda p: p.hset(PROJECTS, project.project_id, project.model_dump_json()))
            return project

        return self._change(change, TEAMS, PROJECTS)

    def update_project(self, project_id: str, patch: ProjectPatch) -> Project:
        def change(pipe: Pipeline) -> Project:
            raw = pipe.hget(PROJECTS, project_id)
            if raw is None:
                raise NotFound(f"project {project_id!r} not found")
            project = Project.model_validate_json(raw).model_copy(update=patch.changes())
            _write(pipe, lambda p: p.hset(PROJECTS, project_id, project.model_dump_json()))
            return project

        return self._change(change, PROJECTS)

    def delete_project(self, project_id: str) -> Project:
        """Out of the registry, and its keys revoked; its events stay."""

        def change(pipe: Pipeline) -> Project:
            raw = pipe.hget(PROJECTS, project_id)
            if raw is None:
                raise NotFound(f"project {project_id!r} not found")
            revoked = {
                s.key.id: _dump_key(StoredKey(s.key, s.digest, now_iso()))
                for s in map(_stored_key, pipe.hvals(KEYS))
                if s.key.project_id == project_id and s.revoked_at is None
            }

            def writes(p: Pipeline) -> None:
                p.hdel(PROJECTS, project_id)
                for key_id, record in revoked.items():
                    p.hset(KEYS, key_id, record)

            _write(pipe, writes)
            return Project.model_validate_json(raw)

        return self._change(change, PROJECTS, KEYS)

    def create_key(
        self, body: KeyIn, *, project_id: str | None = None, team_id: str | None = None
    ) -> CreatedKey:
        """A project's key (`project_id`) or a team's (`team_id`: read and stats only)."""
        if body.rate_limit_per_second is not None and body.kind not in WRITE_KINDS:
            raise RegistryError("rate_limit_per_second: only write and server keys take one")
        allowed = PROJECT_KINDS if project_id is not None else TEAM_KINDS
        if body.kind not in allowed:
            raise RegistryError(
                f"kind: a {'project' if project_id else 'team'} key is one of {', '.join(allowed)}"
            )
        secret = new_key(body.kind)

        def change(pipe: Pipeline) -> CreatedKey:
            if project_id is not None:
                raw = pipe.hget(PROJECTS, project_id)
                if raw is None:
                    raise NotFound(f"project {project_id!r} not found")
                team = Project.model_validate_json(raw).team_id
            else:
                assert team_id is not None
                if not pipe.hexists(TEAMS, team_id):
                    raise NotFound(f"team {team_id!r} not found")
                team = team_id
            key = Key(
                id=new_key_id(),
                kind=body.kind,
                team_id=team,
                project_id=project_id,
                name=body.name,
                created_at=now_iso(),
                rate_limit_per_second=body.rate_limit_per_second,
            )
            record = _dump_key(StoredKey(key, digest(secret), None))
            _write(pipe, lambda p: p.hset(KEYS, key.id, record))
            return CreatedKey(**key.model_dump(), key=secret)

        return self._change(change, TEAMS, PROJECTS, KEYS)

    def revoke_key(self, key_id: str) -> None:
        """Kept as revoked (not deleted), so a revoked key stays refused even where the
        environment's TRACKHOUSE_*_KEYS still name it."""

        def change(pipe: Pipeline) -> None:
            raw = pipe.hget(KEYS, key_id)
            if raw is None or (stored := _stored_key(raw)).revoked_at is not None:
                raise NotFound(f"key {key_id!r} not found")
            record = _dump_key(StoredKey(stored.key, stored.digest, now_iso()))
            _write(pipe, lambda p: p.hset(KEYS, key_id, record))

        self._change(change, KEYS)

    def touch(self, key_ids: Iterable[str], now_ms: int) -> None:
        """Record that these keys were used (each at most once a minute)."""
        for key_id in key_ids:
            self._touch([USED], [key_id, now_ms])

    def _change(self, change: Callable[[Pipeline], T], *watched: str) -> T:
        # redis-py types the callable as returning None; value_from_callable returns its value.
        result: T = self._redis.transaction(change, *watched, value_from_callable=True)  # type: ignore[arg-type,assignment]
        if self._min_replicas:
            require_replicas(self._redis, self._min_replicas, self._replica_timeout_ms)
        return result


def _write(pipe: Pipeline, writes: Callable[[Pipeline], Any]) -> None:
    """The transaction's writes, with the version bump every reader polls."""
    pipe.multi()
    writes(pipe)
    pipe.incr(VERSION)


def _iso_ms(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
