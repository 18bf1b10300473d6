"""Where is an event that is not stored yet? Its delivery status, read from RQ's structures.

An admin lookup, not a hot path: it reads the jobs themselves (there is no per-event index,
which would cost Redis memory and a write for every event). Failed jobs are looked at first
(there are few), then the jobs waiting their turn (queued, retrying, running, or claimed by
a running job's merge), up to `max_jobs` of them.

Every job is read defensively: whoever can write to Redis (or an older version of the code)
may have left a job of another shape, undecodable data or a dangling id. Such a job holds no
event; it never turns a lookup into an error.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

from redis import Redis
from rq.job import Job
from rq.registry import FailedJobRegistry, ScheduledJobRegistry, StartedJobRegistry

from shared.queue.columnar import unpack
from shared.queue.jobs import events_queue
from shared.queue.serializer import OrjsonSerializer
from shared.settings import Settings

Status = Literal["queued", "failed"]
_CLAIMS = "trackhouse:merge:"


@dataclass(frozen=True, slots=True)
class Location:
    status: Status
    job_id: str
    error: str | None = None
    retries_left: int | None = None


def _holds(job: Job, event_id: str, projects: frozenset[str] | None = None) -> bool:
    """Whether `job` holds `event_id` (in one of `projects`, when given: a read key's)."""
    try:
        columns, entries = job.args
        names = list(columns)
        ids = unpack(entries[names.index("event_id")])
        if projects is None:
            return event_id in ids
        owners = unpack(entries[names.index("project_id")])
        return any(i == event_id and p in projects for i, p in zip(ids, owners, strict=True))
    except Exception:  # any other shape (see above): it holds nothing
        return False


def _fetch(redis: Redis, job_ids: list[str]) -> Iterable[Job]:
    try:
        jobs = Job.fetch_many(job_ids, connection=redis, serializer=OrjsonSerializer)
    except Exception:  # one undecodable job spoils the batch: read them one by one
        jobs = [_fetch_one(redis, job_id) for job_id in job_ids]
    for job in jobs:
        if job is not None:
            yield job


def _fetch_one(redis: Redis, job_id: str) -> Job | None:
    try:
        job = Job.fetch(job_id, connection=redis, serializer=OrjsonSerializer)
        job.args  # noqa: B018 - decoded lazily: decode it here, where a failure is caught
        return job
    except Exception:
        return None


def _merged(job: Job) -> list[str]:
    merged = job.meta.get("merged", []) if isinstance(job.meta, dict) else []
    return [str(i) for i in merged] if isinstance(merged, list) else []


def _failure(job: Job) -> str | None:
    try:
        result = job.latest_result()
    except Exception:
        return None
    return _last_line(result.exc_string if result else None)


def _retries_left(job: Job) -> int | None:
    return job.retries_left if isinstance(job.retries_left, int) else None


def _last_line(text: str | None) -> str | None:
    lines = [line for line in (text or "").strip().splitlines() if line.strip()]
    return lines[-1] if lines else None


def locate(
    redis: Redis,
    settings: Settings,
    event_id: str,
    *,
    max_jobs: int = 10_000,
    projects: frozenset[str] | None = None,
) -> Location | None:
    """Where `event_id` waits (in one of `projects`, a read key's; None: anywhere), or None."""
    queue = events_queue(redis, settings)
    failed = FailedJobRegistry(queue=queue)
    for job in _fetch(redis, failed.get_job_ids()[:max_jobs]):
        merged = _merged(job)  # these wait with the failed job
        if _holds(job, event_id, projects) or any(
            _holds(other, event_id, projects) for other in _fetch(redis, merged)
        ):
            return Location("failed", job.id, error=_failure(job))

    waiting = [
        *queue.get_job_ids(0, max_jobs),
        *ScheduledJobRegistry(queue=queue).get_job_ids(),  # type: ignore[no-untyped-call]
        *StartedJobRegistry(queue=queue).get_job_ids(),
    ][:max_jobs]
    for job in _fetch(redis, waiting):
        if _holds(job, event_id, projects):
            return Location("queued", job.id, retries_left=_retries_left(job))
        claim = redis.get(_CLAIMS + job.id)  # jobs a running job has merged into its insert
        claimed = (claim.decode() if isinstance(claim, bytes) else str(claim or "")).split(",")
        for other in _fetch(redis, [i for i in claimed if i]):
            if _holds(other, event_id, projects):
                return Location("queued", job.id, retries_left=_retries_left(job))
    return None
