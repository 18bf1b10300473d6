"""Erasure in Redis: every job hash that holds a matching event is rewritten without it, or
dropped when it held nothing else.

Every job is found by its hash (`rq:job:<id>`, SCAN), whatever list or registry it sits in:
queued, merged into another job's insert (`worker.merge`), scheduled for a retry, a dead
letter, or held by a worker. A rewrite is one WATCH/MULTI on the hash, redone if RQ touched
the hash meanwhile. A job a worker holds is rewritten too, but RQ saves its in-memory copy
again if it fails, so the caller waits for such jobs to leave the worker and scans again
(`held`); the writers' tombstone refuses the event in any case (worker.tombstones).
"""

from __future__ import annotations

import logging
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from redis import Redis
from redis.exceptions import WatchError
from rq.job import Job, JobStatus
from rq.queue import Queue
from rq.registry import FailedJobRegistry, ScheduledJobRegistry

from shared.event.times import epoch_ms
from shared.lifecycle.subjects import Matcher
from shared.queue.columnar import Entry, unpack
from shared.queue.jobs import INSERT_EVENTS
from shared.queue.serializer import OrjsonSerializer

log = logging.getLogger(__name__)

_SCAN_COUNT = 500
_REWRITE_ATTEMPTS = 20


@dataclass(slots=True)
class Pass:
    removed: int = 0
    """Matching events taken out of jobs."""
    jobs_rewritten: int = 0
    jobs_dropped: int = 0
    held: list[str] = field(default_factory=list)
    """Jobs a worker held that had matching events (wait for them to leave it, then scan again)."""


def job_ids(redis: Redis) -> Iterator[str]:
    prefix = Job.redis_job_namespace_prefix
    for key in redis.scan_iter(match=prefix + "*", count=_SCAN_COUNT):
        text = key.decode() if isinstance(key, bytes) else str(key)
        job_id = text[len(prefix) :]
        if job_id and ":" not in job_id:  # not rq:job:<id>:dependents and the like
            yield job_id


def _filtered(entries: list[Entry], covered: list[bool]) -> list[Entry]:
    kept = covered.count(False)
    out: list[Entry] = []
    for entry in entries:
        if isinstance(entry, dict):
            out.append({"repeat": kept, "value": entry["value"]})
        else:
            out.append([v for v, gone in zip(entry, covered, strict=True) if not gone])
    return out


def _received_ms(memo: dict[str, int]) -> Callable[[str], int]:
    def convert(iso: str) -> int:
        if iso not in memo:
            memo[iso] = epoch_ms(iso)
        return memo[iso]

    return convert


def _decode(raw: bytes) -> list[Any] | None:
    try:
        data = zlib.decompress(raw)
    except zlib.error:
        data = raw
    try:
        decoded = OrjsonSerializer.loads(data)
    except ValueError:
        return None  # not our JSON: nothing of ours in it (worker.allowlist dead-letters such jobs)
    if not isinstance(decoded, list) or len(decoded) != 4 or decoded[0] != INSERT_EVENTS:
        return None
    return decoded


def rewrite_job(redis: Redis, queue: Queue, job_id: str, matcher: Matcher, result: Pass) -> None:
    key = Job.redis_job_namespace_prefix + job_id
    memo: dict[str, int] = {}
    for _ in range(_REWRITE_ATTEMPTS):
        with redis.pipeline(transaction=True) as pipe:
            try:
                pipe.watch(key)  # type: ignore[no-untyped-call]
                raw, status = pipe.hmget(key, "data", "status")
                if raw is None:
                    return
                decoded = _decode(raw if isinstance(raw, bytes) else str(raw).encode())
                if decoded is None:
                    return
                func, instance, args, kwargs = decoded
                columns, entries = args
                count = len(unpack(entries[0])) if entries else 0
                needed = {"team_id", "project_id", "received_at", *matcher.rules}
                data = [unpack(e) if name in needed else [] for name, e in zip(columns, entries, strict=True)]
                covered = matcher.mask(columns, data, _received_ms(memo), count=count)
                removed = sum(covered)
                if not removed:
                    return
                started = (status.decode() if isinstance(status, bytes) else status) == JobStatus.STARTED.value
                pipe.multi()
                if removed == count and not started:
                    pipe.lrem(queue.key, 0, job_id)
                    pipe.zrem(ScheduledJobRegistry(queue=queue).key, job_id)  # type: ignore[no-untyped-call]
                    pipe.zrem(FailedJobRegistry(queue=queue).key, job_id)
                    pipe.delete(key, f"rq:results:{job_id}")
                else:
                    rewritten = [func, instance, [columns, _filtered(entries, covered)], kwargs]
                    pipe.hset(key, "data", zlib.compress(OrjsonSerializer.dumps(rewritten)))
                pipe.execute()
            except WatchError:
                continue
        result.removed += removed
        if started:
            result.held.append(job_id)
        if removed == count and not started:
            result.jobs_dropped += 1
        else:
            result.jobs_rewritten += 1
        return
    raise RuntimeError(f"job {job_id} changed {_REWRITE_ATTEMPTS} times while being rewritten")


def scan(redis: Redis, queue: Queue, matcher: Matcher) -> Pass:
    result = Pass()
    for job_id in job_ids(redis):
        rewrite_job(redis, queue, job_id, matcher, result)
    return result


def still_started(redis: Redis, job_ids: list[str]) -> list[str]:
    if not job_ids:
        return []
    with redis.pipeline(transaction=False) as pipe:
        for job_id in job_ids:
            pipe.hget(Job.redis_job_namespace_prefix + job_id, "status")
        statuses = pipe.execute()
    started = JobStatus.STARTED.value.encode()
    return [job_id for job_id, status in zip(job_ids, statuses, strict=True) if status == started]
