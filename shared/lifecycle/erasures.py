"""Erasure requests and suppressions, kept in Redis beside the queue they must reach.

    trackhouse:erasure:log          id -> the request's record (no personal data: keyed hashes)
    trackhouse:erasure:open         ids pending or running, which the worker's runner takes
    trackhouse:erasure:values:<id>  the subject's values, while the erasure is open (the store's
                                    DELETE needs them); removed when it is done
    trackhouse:erasure:tombstones   id -> what writers must not store (hashes, scope, time bound)
    trackhouse:erasure:version      bumped with every tombstone change: what writers poll
    trackhouse:registry:suppressions id -> a subject the API drops (the registry's version is
                                    bumped, so every API process has it within a second)

A request is one MULTI: its record, its values, its tombstone and its suppression are there
together or not at all, and the writers refuse the subject's events from that moment, before
any runner has looked at it. Redis is durable the way acknowledged events are (AOF, replicas),
so an erasure acknowledged with 202 survives what they survive and resumes after a crash.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Annotated, Any, Final, Literal, TypeVar

import orjson
from pydantic import BaseModel, ConfigDict, Field, StrictStr, StringConstraints, model_validator
from redis import Redis
from redis.client import Pipeline

from shared.lifecycle.subjects import (
    PROJECT_KIND,
    SUBJECT_KINDS,
    Matcher,
    Rule,
    SubjectKind,
    hash_key,
    subject_hash,
)
from shared.queue.connect import require_replicas
from shared.registry import store as registry
from shared.registry.model import Name, RegistryId
from shared.registry.store import NotFound, RegistryError
from shared.settings import Settings

PREFIX: Final = "trackhouse:erasure:"
LOG, OPEN, TOMBSTONES, VERSION = (PREFIX + name for name in ("log", "open", "tombstones", "version"))
VALUES_PREFIX: Final = PREFIX + "values:"
SUPPRESSIONS: Final = registry.SUPPRESSIONS
MAX_VALUES: Final = 1000

Status = Literal["pending", "running", "done", "failed"]
SubjectValue = Annotated[StrictStr, StringConstraints(min_length=1, max_length=2048)]
T = TypeVar("T")


class ErasureIn(BaseModel):
    """POST /api/admin/erasures."""

    model_config = ConfigDict(extra="forbid")
    subject: dict[SubjectKind, Annotated[list[SubjectValue], Field(min_length=1, max_length=MAX_VALUES)]]
    """Exactly one kind, with 1 to 1,000 values, matched exactly as stored."""
    team_id: RegistryId | None = None
    project_id: RegistryId | None = None
    """Only this team's / project's events (a registered one); absent: every project's."""
    suppress: bool = False
    """Also drop the subject's later events at the API (201, dropped `suppressed`) until lifted."""
    requested_by: Name | None = None
    """Who asks (kept in the log); absent: `admin-api`."""

    @model_validator(mode="after")
    def _one_kind(self) -> ErasureIn:
        if len(self.subject) != 1:
            raise ValueError(f"subject: exactly one of {', '.join(SUBJECT_KINDS)}")
        return self

    @property
    def kind(self) -> str:
        return next(iter(self.subject))

    @property
    def values(self) -> list[str]:
        return sorted(set(next(iter(self.subject.values()))))


class Erasure(BaseModel):
    """An erasure as the log keeps it and the admin API answers it."""

    id: str
    status: Status
    subject_kind: str
    subject_hashes: list[str]
    """The values as keyed hashes (shared.lifecycle.subjects): the log holds no personal data."""
    values: int
    team_id: str | None
    project_id: str | None
    suppress: bool
    suppression_id: str | None
    requested_by: str
    requested_at: str
    received_before_ms: int
    """The request's instant (ms since the epoch): events received up to here are erased, later
    ones are new events. With `suppress`, every event of the subject until it is lifted."""
    started_at: str | None = None
    finished_at: str | None = None
    rows_deleted: int = 0
    """Rows deleted from the store (every stored copy)."""
    queued_removed: int = 0
    """Events removed from queued jobs, retries and dead letters."""
    attempts: int = 0
    error: str | None = None


class Suppression(BaseModel):
    id: str
    subject_kind: str
    subject_hashes: list[str]
    team_id: str | None
    project_id: str | None
    erasure_id: str
    created_at: str


def now_iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _now_ms() -> int:
    return int(datetime.now(UTC).timestamp() * 1000)


class ErasureStore:
    def __init__(
        self,
        redis: Redis,
        key: bytes,
        *,
        tombstone_seconds: int,
        min_replicas: int = 0,
        replica_timeout_ms: int = 1000,
        clock_ms: Callable[[], int] = _now_ms,
    ) -> None:
        """`tombstone_seconds`: how long writers refuse an erased subject's older events: as long
        as such an event can still be in Redis (dead letters' TTL, the retry schedule)."""
        self._redis = redis
        self._key = key
        self._tombstone_ms = tombstone_seconds * 1000
        self._min_replicas = min_replicas
        self._replica_timeout_ms = replica_timeout_ms
        self._clock_ms = clock_ms

    @classmethod
    def for_settings(cls, redis: Redis, settings: Settings) -> ErasureStore:
        s = settings
        return cls(
            redis,
            hash_key(redis, s),
            tombstone_seconds=tombstone_seconds(s.failure_ttl_seconds, s.retry_intervals_seconds, s.job_timeout_seconds),
            min_replicas=s.redis_min_replicas_ack,
            replica_timeout_ms=s.redis_replica_ack_timeout_ms,
        )

    # --- requests ---
    def request(self, body: ErasureIn, *, requested_by: str = "admin-api") -> Erasure:
        return self._request(body.kind, body.values, body.team_id, body.project_id, body.suppress, body.requested_by or requested_by)

    def request_project(self, project_id: str, *, requested_by: str = "admin-api") -> Erasure:
        """Every event of a project (its deletion with `erase=true`)."""
        return self._request(PROJECT_KIND, [project_id], None, project_id, False, requested_by)

    def _request(
        self, kind: str, values: list[str], team_id: str | None, project_id: str | None, suppress: bool, requested_by: str
    ) -> Erasure:
        now = self._clock_ms()
        erasure = Erasure(
            id=f"er_{now:013d}_{secrets.token_hex(4)}",  # sorts by request time
            status="pending",
            subject_kind=kind,
            subject_hashes=sorted(subject_hash(self._key, kind, v) for v in values),
            values=len(values),
            team_id=team_id,
            project_id=project_id,
            suppress=suppress,
            suppression_id=f"sup_{secrets.token_hex(8)}" if suppress else None,
            requested_by=requested_by,
            requested_at=now_iso(now),
            received_before_ms=now,
        )
        # With `suppress`, writers refuse the subject's events received later too, for as long as
        # the suppression lasts: an API process learns of it up to a poll later (within a second)
        # and may queue an event meanwhile. Lifting it bounds the tombstone at that moment.
        tombstone = {
            "kind": kind,
            "hashes": erasure.subject_hashes,
            "team_id": team_id,
            "project_id": project_id,
            "received_before_ms": None if suppress else now,
            "until_ms": now + self._tombstone_ms,
        }

        def change(pipe: Pipeline) -> Erasure:
            self._check_scope(pipe, team_id, project_id)
            pipe.multi()
            pipe.hset(LOG, erasure.id, erasure.model_dump_json())
            pipe.sadd(OPEN, erasure.id)
            pipe.set(VALUES_PREFIX + erasure.id, orjson.dumps(values))
            pipe.hset(TOMBSTONES, erasure.id, orjson.dumps(tombstone))
            pipe.incr(VERSION)
            if erasure.suppression_id is not None:
                suppression = Suppression(
                    id=erasure.suppression_id,
                    subject_kind=kind,
                    subject_hashes=erasure.subject_hashes,
                    team_id=team_id,
                    project_id=project_id,
                    erasure_id=erasure.id,
                    created_at=erasure.requested_at,
                )
                pipe.hset(SUPPRESSIONS, suppression.id, suppression.model_dump_json())
                pipe.incr(registry.VERSION)
            return erasure

        return self._change(change, registry.TEAMS, registry.PROJECTS)

    @staticmethod
    def _check_scope(pipe: Pipeline, team_id: str | None, project_id: str | None) -> None:
        """A scope names registered ids (a typo must not erase nothing and say done)."""
        if team_id is not None and not pipe.hexists(registry.TEAMS, team_id):
            raise RegistryError(f"team_id: team {team_id!r} is not registered")
        if project_id is not None:
            raw = pipe.hget(registry.PROJECTS, project_id)
            if raw is None:
                raise RegistryError(f"project_id: project {project_id!r} is not registered")
            owner = orjson.loads(raw)["team_id"]
            if team_id is not None and owner != team_id:
                raise RegistryError(f"project_id: project {project_id!r} belongs to team {owner!r}, not {team_id!r}")

    # --- the log ---
    def get(self, erasure_id: str) -> Erasure:
        raw = self._redis.hget(LOG, erasure_id)
        if raw is None:
            raise NotFound(f"erasure {erasure_id!r} not found")
        return Erasure.model_validate_json(raw)

    def all(self) -> list[Erasure]:
        return sorted((Erasure.model_validate_json(v) for v in self._redis.hvals(LOG)), key=lambda e: e.id)

    def open_ids(self) -> list[str]:
        return sorted(i.decode() if isinstance(i, bytes) else str(i) for i in self._redis.smembers(OPEN))

    def values(self, erasure_id: str) -> list[str]:
        raw = self._redis.get(VALUES_PREFIX + erasure_id)
        return [] if raw is None else [str(v) for v in orjson.loads(raw)]

    def update(self, erasure: Erasure) -> None:
        """Record progress; a finished erasure leaves the open set and its values are dropped."""
        with self._redis.pipeline(transaction=True) as pipe:
            pipe.hset(LOG, erasure.id, erasure.model_dump_json())
            if erasure.status in ("done", "failed"):
                pipe.srem(OPEN, erasure.id)
                pipe.delete(VALUES_PREFIX + erasure.id)
            pipe.execute()
        if self._min_replicas:
            require_replicas(self._redis, self._min_replicas, self._replica_timeout_ms)

    # --- what writers refuse ---
    def tombstone_version(self) -> int:
        return int(self._redis.get(VERSION) or 0)

    def tombstones(self) -> tuple[int, Matcher]:
        with self._redis.pipeline(transaction=True) as pipe:
            pipe.get(VERSION)
            pipe.hgetall(TOMBSTONES)
            version, raw = pipe.execute()
        now = self._clock_ms()
        matcher = Matcher(self._key)
        for erasure_id, value in raw.items():
            stone = orjson.loads(value)
            if stone["until_ms"] < now:
                continue
            rule = Rule(erasure_id.decode(), stone["team_id"], stone["project_id"], stone["received_before_ms"])
            matcher.add(stone["kind"], stone["hashes"], rule)
        return int(version or 0), matcher

    def prune_tombstones(self) -> int:
        """Drop tombstones past their time (no event they refuse can still be in Redis)."""
        now = self._clock_ms()
        expired = [k for k, v in self._redis.hgetall(TOMBSTONES).items() if orjson.loads(v)["until_ms"] < now]
        if expired:
            with self._redis.pipeline(transaction=True) as pipe:
                pipe.hdel(TOMBSTONES, *expired)
                pipe.incr(VERSION)
                pipe.execute()
        return len(expired)

    # --- suppressions ---
    def suppressions(self) -> list[Suppression]:
        return sorted(
            (Suppression.model_validate_json(v) for v in self._redis.hvals(SUPPRESSIONS)), key=lambda s: s.created_at
        )

    def lift(self, suppression_id: str) -> None:
        """The subject's events are stored again from now; the erasure's tombstone is bounded
        here (what was received up to now stays refused)."""

        def change(pipe: Pipeline) -> None:
            raw = pipe.hget(SUPPRESSIONS, suppression_id)
            if raw is None:
                raise NotFound(f"suppression {suppression_id!r} not found")
            erasure_id = orjson.loads(raw)["erasure_id"]
            stone = pipe.hget(TOMBSTONES, erasure_id)
            pipe.multi()
            pipe.hdel(SUPPRESSIONS, suppression_id)
            pipe.incr(registry.VERSION)
            if stone is not None:
                bounded = {**orjson.loads(stone), "received_before_ms": self._clock_ms()}
                pipe.hset(TOMBSTONES, erasure_id, orjson.dumps(bounded))
                pipe.incr(VERSION)

        self._change(change, SUPPRESSIONS, TOMBSTONES)

    def received_bound(self, erasure: Erasure) -> int | None:
        """Up to when the erasure reaches: its tombstone's bound (None: every event of the
        subject, while it is suppressed), else the request's instant."""
        stone = self._redis.hget(TOMBSTONES, erasure.id)
        if stone is None:
            return erasure.received_before_ms
        bound = orjson.loads(stone)["received_before_ms"]
        return None if bound is None else int(bound)

    def _change(self, change: Callable[[Pipeline], T], *watched: str) -> T:
        result: T = self._redis.transaction(change, *watched, value_from_callable=True)  # type: ignore[arg-type,assignment]
        if self._min_replicas:
            require_replicas(self._redis, self._min_replicas, self._replica_timeout_ms)
        return result


def suppression_matcher(key: bytes, suppressions: list[Suppression] | dict[str, Any]) -> Matcher:
    matcher = Matcher(key)
    items = suppressions.values() if isinstance(suppressions, dict) else suppressions
    for s in items:
        matcher.add(s.subject_kind, s.subject_hashes, Rule(s.id, s.team_id, s.project_id, None))
    return matcher


def tombstone_seconds(failure_ttl_seconds: int, retry_intervals: list[int], job_timeout_seconds: int) -> int:
    """The longest an acknowledged event can wait in Redis: a dead letter's TTL after every retry."""
    return failure_ttl_seconds + sum(retry_intervals) + (len(retry_intervals) + 1) * job_timeout_seconds + 86_400
