"""The Redis queue between the API and the workers.

Jobs are RQ jobs serialized as JSON (`shared.queue.serializer`; never pickle). A job calls `worker.jobs.insert_events` by
dotted path with two arguments, column-oriented as ClickHouse takes them: the column
names, then one entry per column (`shared.queue.columnar`: the rows of
`shared.event.parse_event`, transposed). Workers then merge jobs by extending lists, with nothing to transpose, and
naming the columns in every job lets a newer worker store jobs an older API queued.
"""

from __future__ import annotations

import re
import uuid
from typing import Any

from redis import Redis
from rq import Queue, Retry
from rq.job import Job

from shared.queue.columnar import pack, unpack
from shared.queue.connect import connect_redis as connect_redis  # moved there; tests/chaos imports it here
from shared.queue.serializer import OrjsonSerializer
from shared.settings import Settings
from shared.store.schema import EVENT_COLUMNS

INSERT_EVENTS = "worker.jobs.insert_events"
_EVENT_COUNT = re.compile(r"-n(\d+)$")


def job_id_for(rows: list[dict[str, Any]]) -> str:
    """Job ids end in their event count (`<uuid>-n<count>`): a worker merging queued jobs
    sizes its insert from the ids alone, without fetching the jobs first."""
    return f"{uuid.uuid4().hex}-n{len(rows)}"


def events_in(job_id: str) -> int:
    match = _EVENT_COUNT.search(job_id)
    return int(match[1]) if match else 1


def events_queue(redis: Redis, settings: Settings) -> Queue:
    return Queue(settings.queue_name, connection=redis, serializer=OrjsonSerializer)


def retry_policy(settings: Settings) -> Retry | None:
    intervals = settings.retry_intervals_seconds
    return Retry(max=len(intervals), interval=intervals) if intervals else None


def job_rows(job: Job) -> list[dict[str, Any]]:
    """A queued job's events as mappings (for tools and tests; workers use the lists)."""
    columns, data = job.args
    values = [unpack(entry) for entry in data]
    return [dict(zip(columns, row, strict=True)) for row in zip(*values, strict=True)]


def describe(rows: list[dict[str, Any]]) -> str:
    """What rq-dashboard lists for the job: a count, never client text. rq-dashboard renders
    descriptions into its pages unescaped, so an event_id such as `<img src=x onerror=…>` would
    run script in the operator's session (the ids are in the job itself: `trackhouse failed`)."""
    return f"insert {len(rows)} event(s)"


def enqueue_rows(queue: Queue, rows: list[dict[str, Any]], settings: Settings) -> Job:
    """Queue one insert job holding `rows`; returns once Redis has acknowledged it.

    On our own transaction: given none, RQ makes two round trips (the queue's SADD, then the
    job's HSET and RPUSH); given one, it queues all three on it, and one MULTI/EXEC stores the
    job and queues it atomically, for half the round trips and Redis calls."""
    with queue.connection.pipeline() as pipe:
        job = queue.enqueue_call(
            INSERT_EVENTS,
            args=(EVENT_COLUMNS, pack(rows, EVENT_COLUMNS)),
            retry=retry_policy(settings),
            timeout=settings.job_timeout_seconds,
            result_ttl=settings.result_ttl_seconds,
            failure_ttl=settings.failure_ttl_seconds,
            description=describe(rows),
            job_id=job_id_for(rows),
            pipeline=pipe,
        )
        pipe.execute()
    return job
