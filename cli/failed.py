"""Dead letters: insert jobs that used up their retries and wait in RQ's FailedJobRegistry.

`trackhouse failed list|show|requeue|purge` is built on these functions. A dead letter may
hold more events than its own: the jobs it merged (worker.merge) left the queue and wait
with it, named in its meta (`merged`) and in its claim record. Requeueing it stores them
too; purging it deletes them too, or nothing would ever reference them again.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
from redis import Redis
from rq.exceptions import InvalidJobOperation, NoSuchJobError
from rq.job import Job, JobStatus
from rq.registry import FailedJobRegistry
from rq.results import Result

from shared.queue.columnar import unpack
from shared.queue.jobs import events_in, events_queue, job_rows
from shared.queue.serializer import OrjsonSerializer
from shared.settings import Settings
from worker.merge import CLAIM_PREFIX

_DURATION = re.compile(r"^(\d+)([smhdw])$")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86_400, "w": 604_800}
_FIRST_IDS = 3


def parse_duration(text: str) -> timedelta:
    """`30m`, `12h`, `7d` (also `s` and `w`) as a timedelta."""
    match = _DURATION.match(text.strip().lower())
    if not match:
        raise ValueError(f"not a duration: {text!r} (expected e.g. 30m, 12h, 7d)")
    return timedelta(seconds=int(match[1]) * _UNIT_SECONDS[match[2]])


class UnknownJob(LookupError):
    pass


@dataclass(frozen=True, slots=True)
class DeadLetter:
    id: str
    failed_at: datetime | None
    events: int
    merged_ids: tuple[str, ...]
    merged_events: int
    first_event_ids: tuple[str, ...]
    error: str
    """The exception's last line."""


@dataclass(frozen=True, slots=True)
class DeadLetterDetail:
    letter: DeadLetter
    status: str
    enqueued_at: datetime | None
    description: str
    meta: dict[str, Any]
    rows: list[dict[str, Any]]
    merged_rows: dict[str, list[dict[str, Any]] | None]
    """Each merged job's events; None when its hash is gone."""
    traceback: str


def failed_registry(redis: Redis, settings: Settings) -> FailedJobRegistry:
    return FailedJobRegistry(queue=events_queue(redis, settings))


def _traceback(job: Job) -> str:
    result = job.latest_result()
    if result is not None and result.type == Result.Type.FAILED:
        return result.exc_string or ""
    return ""


def _last_line(text: str) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[-1].strip() if lines else ""


def _merged_ids(job: Job) -> tuple[str, ...]:
    return tuple(str(job_id) for job_id in job.meta.get("merged", []))


def _first_event_ids(job: Job) -> tuple[str, ...]:
    # Only the event_id column is decoded: a list of big jobs should not unpack every field.
    columns, data = job.args
    if "event_id" not in columns:
        return ()
    ids = unpack(data[list(columns).index("event_id")])
    return tuple(str(event_id) for event_id in ids[:_FIRST_IDS])


def _letter(job: Job) -> DeadLetter:
    merged = _merged_ids(job)
    return DeadLetter(
        id=job.id,
        failed_at=job.ended_at,
        events=events_in(job.id),
        merged_ids=merged,
        merged_events=sum(events_in(job_id) for job_id in merged),
        first_event_ids=_first_event_ids(job),
        error=_last_line(_traceback(job)),
    )


def _fetch_failed(redis: Redis, job_ids: list[str]) -> list[Job]:
    jobs = Job.fetch_many(job_ids, connection=redis, serializer=OrjsonSerializer)
    return [job for job in jobs if job is not None]


def list_failed(redis: Redis, settings: Settings, limit: int | None = None) -> list[DeadLetter]:
    """Dead letters, oldest failure first (the registry scores by failure time + TTL)."""
    ids = failed_registry(redis, settings).get_job_ids(0, -1 if limit is None else limit - 1)
    return [_letter(job) for job in _fetch_failed(redis, ids)]


def show_failed(redis: Redis, job_id: str) -> DeadLetterDetail:
    try:
        job = Job.fetch(job_id, connection=redis, serializer=OrjsonSerializer)
    except NoSuchJobError:
        raise UnknownJob(job_id) from None
    merged = _merged_ids(job)
    fetched = Job.fetch_many(list(merged), connection=redis, serializer=OrjsonSerializer)
    return DeadLetterDetail(
        letter=_letter(job),
        status=JobStatus(job.get_status(refresh=False)).value,
        enqueued_at=job.enqueued_at,
        description=job.description or "",
        meta=dict(job.meta),
        rows=job_rows(job),
        merged_rows={
            job_id: (job_rows(each) if each is not None else None)
            for job_id, each in zip(merged, fetched, strict=True)
        },
        traceback=_traceback(job),
    )


def requeue(redis: Redis, settings: Settings, job_ids: list[str]) -> tuple[list[str], list[str]]:
    """Put dead letters back on the queue: (requeued ids, ids not in the registry).
    Each gets one more attempt (RQ leaves `retries_left` spent); its merged jobs come along."""
    registry = failed_registry(redis, settings)
    done: list[str] = []
    missing: list[str] = []
    for job_id in job_ids:
        try:
            job = registry.requeue(job_id)
        except (InvalidJobOperation, NoSuchJobError):
            missing.append(job_id)
            continue
        # RQ keeps the failure TTL on the hash: a job requeued late in its dead-letter
        # window could expire while queued, and its events with it.
        redis.persist(job.key)
        done.append(job_id)
    return done, missing


def requeue_all(redis: Redis, settings: Settings) -> tuple[list[str], list[str]]:
    return requeue(redis, settings, failed_registry(redis, settings).get_job_ids())


def _claimed(redis: Redis, job_id: str) -> set[str]:
    record = redis.get(CLAIM_PREFIX + job_id)
    text = record.decode() if isinstance(record, bytes) else ""
    return {each for each in text.split(",") if each}


def _utc(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def purge_older_than(
    redis: Redis, settings: Settings, age: timedelta, now: datetime | None = None
) -> list[str]:
    """Delete dead letters that failed more than `age` ago, with the jobs they merged and
    their claim records; returns the purged ids."""
    cutoff = (now or datetime.now(UTC)) - age
    registry = failed_registry(redis, settings)
    ids = registry.get_job_ids()
    purged: list[str] = []
    for job_id, job in zip(
        ids, Job.fetch_many(ids, connection=redis, serializer=OrjsonSerializer), strict=True
    ):
        if job is not None:
            failed_at = _utc(job.ended_at) if job.ended_at else None
        else:  # hash deleted by hand: the registry scores by failure time + failure TTL
            score = redis.zscore(registry.key, job_id)
            failed_at = (
                None if score is None else datetime.fromtimestamp(score - settings.failure_ttl_seconds, UTC)
            )
        if failed_at is None or failed_at >= cutoff:
            continue
        # The claim record names the merged jobs too, even when the hash (and its meta) is gone.
        merged = set(_merged_ids(job) if job is not None else ()) | _claimed(redis, job_id)
        with redis.pipeline() as pipe:
            if job is not None:
                job.delete(pipeline=pipe)
            registry.remove(job_id, pipeline=pipe)
            for merged_id in sorted(merged):
                pipe.delete(Job.redis_job_namespace_prefix + merged_id)
            pipe.delete(CLAIM_PREFIX + job_id)
            pipe.execute()
        purged.append(job_id)
    return purged


def _when(moment: datetime | None) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S") if moment is not None else "-"


def render_list(letters: list[DeadLetter]) -> str:
    if not letters:
        return "no failed jobs"
    lines = [f"{'ID':<40} {'FAILED AT (UTC)':<19}  {'EVENTS':<14} {'FIRST EVENT IDS':<30}  ERROR"]
    for letter in letters:
        events = str(letter.events) + (f" +{letter.merged_events}m" if letter.merged_ids else "")
        first = ", ".join(letter.first_event_ids)
        if letter.events > len(letter.first_event_ids):
            first += ", …"
        lines.append(
            f"{letter.id:<40} {_when(letter.failed_at):<19}  {events:<14} {first:<30}  {letter.error}"
        )
    lines.append(f"{len(letters)} failed job(s); `+Nm`: events of the jobs it merged")
    return "\n".join(lines)


def _json_line(value: Any) -> str:
    return orjson.dumps(value, default=str).decode()


def render_detail(detail: DeadLetterDetail) -> str:
    letter = detail.letter
    lines = [
        f"job          {letter.id}",
        f"status       {detail.status}",
        f"description  {detail.description}",
        f"enqueued at  {_when(detail.enqueued_at)} UTC",
        f"failed at    {_when(letter.failed_at)} UTC",
        f"meta         {_json_line(detail.meta)}",
        f"merged       {', '.join(letter.merged_ids) or '-'}",
        f"events       {len(detail.rows)} own + {letter.merged_events} merged",
        "",
        f"events of {letter.id}:",
        *(f"  {_json_line(row)}" for row in detail.rows),
    ]
    for job_id, rows in detail.merged_rows.items():
        if rows is None:
            lines += ["", f"events of merged {job_id}: (job hash missing)"]
        else:
            lines += ["", f"events of merged {job_id}:", *(f"  {_json_line(row)}" for row in rows)]
    lines += ["", "traceback:", detail.traceback.rstrip() or "(none recorded)"]
    return "\n".join(lines)
