"""The lifecycle thread of every worker process: runs erasures and enforces retention.

Erasures (shared.lifecycle.erasures) are taken from the open set by one runner at a time
across all worker processes (a short Redis lock, renewed while it works), oldest first. Each
is run as idempotent steps, so a runner killed at any point leaves it `running` and the next
one (or the same process after a restart) runs it again from the top and finishes it:

1. wait for the jobs that were started when the erasure was requested to leave their
   workers: only their inserts may have read the tombstones before it (worker.tombstones);
2. delete the subject's stored rows (shared.lifecycle.erase_store);
3. rewrite every job hash in Redis without the subject's events, scanning again after the
   jobs a worker held have left it (shared.lifecycle.erase_queue);
4. count again, on every replica: `done` only at zero.

Retention runs every RETENTION_INTERVAL_SECONDS under its own lock, its last run kept in
Redis so restarts do not repeat it (shared.lifecycle.retention).
"""

from __future__ import annotations

import logging
import socket
import threading
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import cast

from clickhouse_connect.driver.client import Client
from redis import Redis
from redis.exceptions import RedisError

from shared import metrics
from shared.lifecycle import erase_queue, erase_store, retention
from shared.lifecycle.erasures import OPEN, Erasure, ErasureStore, now_iso
from shared.lifecycle.subjects import Matcher, Rule, hash_key
from shared.queue.jobs import events_queue
from shared.registry.store import RegistryStore
from shared.settings import Settings
from shared.store.client import open_client

log = logging.getLogger(__name__)

POLL_SECONDS = 1.0
"""How soon a new erasure is taken up (one SMEMBERS a second per worker process)."""
LOCK_SECONDS = 10
"""A runner's lock outlives a killed runner by at most this long."""
RUNNER_LOCK = "trackhouse:erasure:runner"
RETENTION_LOCK = "trackhouse:retention:lock"
RETENTION_LAST = "trackhouse:retention:last"
MAX_ATTEMPTS = 10
"""Runs of one erasure that may end in an error before it is `failed` (an operator's to look at)."""
_WAIT_STEP = 0.2
_MAX_PASSES = 50


class Lock:
    """A Redis lock (SET NX PX) renewed by its holder; lost, it is simply taken again."""

    def __init__(self, redis: Redis, key: str, seconds: int) -> None:
        self._redis = redis
        self._key = key
        self._ms = seconds * 1000
        self._token = f"{socket.gethostname()}:{uuid.uuid4().hex}"

    def acquire(self) -> bool:
        if self._redis.set(self._key, self._token, nx=True, px=self._ms):
            return True
        return self.renew()

    def renew(self) -> bool:
        # Only our own lock is extended: a compare-and-expire.
        renewed = self._redis.eval(
            "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end return 0",
            1, self._key, self._token, self._ms,
        )
        return bool(renewed)

    def release(self) -> None:
        self._redis.eval(
            "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0",
            1, self._key, self._token,
        )


class ErasureFailed(Exception):
    pass


class ErasureRunner:
    def __init__(
        self,
        redis: Redis,
        settings: Settings,
        client: Client,
        *,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        lock: Lock | None = None,
    ) -> None:
        self._redis = redis
        self._settings = settings
        self._client = client
        self._clock = clock
        self._key = hash_key(redis, settings)
        self.store = ErasureStore.for_settings(redis, settings)
        self._queue = events_queue(redis, settings)
        self._target = retention.Target(settings.clickhouse_database, settings.clickhouse_cluster)
        self._lock = lock

    def _now(self) -> str:
        return now_iso(int(self._clock().timestamp() * 1000))

    def _keep_lock(self) -> None:
        if self._lock is not None:
            self._lock.renew()

    def run_open(self) -> int:
        """Run every open erasure; returns how many finished."""
        finished = 0
        for erasure_id in self.store.open_ids():
            if self.run(erasure_id):
                finished += 1
        return finished

    def run(self, erasure_id: str) -> bool:
        erasure = self.store.get(erasure_id)
        if erasure.status in ("done", "failed"):
            self.store.update(erasure)  # out of the open set
            return False
        erasure.status = "running"
        erasure.started_at = erasure.started_at or self._now()
        erasure.attempts += 1
        self.store.update(erasure)
        try:
            self._run(erasure)
        except Exception as exc:  # recorded; retried on the next pass until MAX_ATTEMPTS
            log.warning("erasure %s: attempt %d failed: %s", erasure.id, erasure.attempts, exc, exc_info=True)
            erasure.error = f"{type(exc).__name__}: {exc}"[:500]
            if erasure.attempts >= MAX_ATTEMPTS:
                erasure.status = "failed"
                erasure.finished_at = self._now()
                metrics.ERASURES_FAILED.inc()
            self.store.update(erasure)
            return erasure.status == "failed"
        erasure.status = "done"
        erasure.error = None
        erasure.finished_at = self._now()
        self.store.update(erasure)
        metrics.ERASURES_DONE.inc()
        log.info(
            "erasure %s done: %d stored rows deleted, %d queued events removed",
            erasure.id, erasure.rows_deleted, erasure.queued_removed,
        )
        return True

    def _run(self, erasure: Erasure) -> None:
        values = self.store.values(erasure.id)
        if not values:
            raise ErasureFailed("the subject's values are gone from Redis")
        # 1. Inserts that may have read the tombstones before this one belong to these jobs.
        self._wait_started(self._started_now())
        bound = self.store.received_bound(erasure)
        where, params = erase_store.condition(erasure.subject_kind, values, erasure.team_id, erasure.project_id, bound)
        matcher = Matcher(self._key)
        matcher.add(erasure.subject_kind, erasure.subject_hashes, Rule(erasure.id, erasure.team_id, erasure.project_id, bound))
        for _ in range(3):
            # 2. The store.
            erasure.rows_deleted += erase_store.delete(self._client, self._target, where, params)
            self.store.update(erasure)
            # 3. Redis: until a pass finds nothing, the jobs workers held having left them.
            for _ in range(_MAX_PASSES):
                self._keep_lock()
                found = erase_queue.scan(self._redis, self._queue, matcher)
                erasure.queued_removed += found.removed
                if found.removed:
                    self.store.update(erasure)
                if not found.removed and not found.held:
                    break
                self._wait_jobs(found.held)
            else:
                raise ErasureFailed(f"matching events still queued after {_MAX_PASSES} passes")
            # 4. Nothing left on any replica (else a late insert: delete again).
            if not erase_store.count(self._client, self._target, where, params, every_replica=True):
                return
        raise ErasureFailed("matching rows still stored after three deletes")

    def _started_now(self) -> set[bytes]:
        entries = cast(list[bytes], self._redis.zrange(self._queue.started_job_registry.key, 0, -1))
        return set(entries)

    def _deadline(self) -> float:
        # A job runs at most its timeout; a dead worker's entry lapses within seconds (Keepalive).
        return time.monotonic() + self._settings.job_timeout_seconds + 60

    def _wait_started(self, entries: set[bytes]) -> None:
        deadline = self._deadline()
        key = self._queue.started_job_registry.key
        while entries:
            with self._redis.pipeline(transaction=False) as pipe:
                for entry in entries:
                    pipe.zscore(key, entry)
                scores = pipe.execute()
            entries = {e for e, score in zip(entries, scores, strict=True) if score is not None}
            if not entries:
                return
            if time.monotonic() > deadline:
                raise ErasureFailed(f"{len(entries)} job(s) started before the erasure are still running")
            self._keep_lock()
            time.sleep(_WAIT_STEP)

    def _wait_jobs(self, job_ids: list[str]) -> None:
        deadline = self._deadline()
        while erase_queue.still_started(self._redis, job_ids):
            if time.monotonic() > deadline:
                raise ErasureFailed("jobs holding the subject's events are still running")
            self._keep_lock()
            time.sleep(_WAIT_STEP)


def enforce_retention(redis: Redis, settings: Settings, client: Client, now: datetime) -> retention.Report:
    projects = RegistryStore(redis).load().projects
    rules = retention.Retention.at(now, settings.retention_days, projects)
    target = retention.Target(settings.clickhouse_database, settings.clickhouse_cluster)
    return retention.enforce(client, target, rules)


class LifecycleThread(threading.Thread):
    def __init__(
        self,
        redis: Redis,
        settings: Settings,
        *,
        open_store: Callable[[], Client] | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        super().__init__(name="lifecycle", daemon=True)
        self._redis = redis
        self._settings = settings
        self._open_store = open_store or (lambda: open_client(settings.store_url))
        self._clock = clock
        self._stopping = threading.Event()
        self._runner_lock = Lock(redis, RUNNER_LOCK, LOCK_SECONDS)
        self._retention_lock = Lock(redis, RETENTION_LOCK, max(LOCK_SECONDS, settings.retention_interval_seconds // 2))
        self._client: Client | None = None
        self._runner: ErasureRunner | None = None

    def stop(self) -> None:
        self._stopping.set()

    def _store(self) -> Client:
        if self._client is None:
            self._client = self._open_store()
        return self._client

    def run(self) -> None:
        while not self._stopping.wait(POLL_SECONDS):
            try:
                self.pass_once()
            except (RedisError, OSError) as exc:
                log.warning("lifecycle pass failed (retried): %s", exc)
            except Exception:
                log.exception("lifecycle pass failed (retried)")

    def pass_once(self) -> None:
        if self._redis.scard(OPEN) and self._runner_lock.acquire():
            try:
                self._erasures().run_open()
            finally:
                self._runner_lock.release()
        self._maybe_retention()

    def _erasures(self) -> ErasureRunner:
        if self._runner is None:
            self._runner = ErasureRunner(
                self._redis, self._settings, self._store(), clock=self._clock, lock=self._runner_lock
            )
        return self._runner

    def _maybe_retention(self) -> None:
        now = self._clock()
        last = float(self._redis.get(RETENTION_LAST) or 0)
        if now.timestamp() - last < self._settings.retention_interval_seconds:
            return
        if not self._retention_lock.acquire():
            return
        try:
            enforce_retention(self._redis, self._settings, self._store(), now)
            self._erasures().store.prune_tombstones()
            self._redis.set(RETENTION_LAST, now.timestamp())
        finally:
            self._retention_lock.release()
