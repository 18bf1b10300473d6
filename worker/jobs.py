"""Job functions RQ calls by dotted path (`shared.queue.jobs.INSERT_EVENTS`).

RQ gives a job function nothing but its arguments, so each worker thread binds what its
jobs need here before it starts working (`bind`).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from rq import Queue, get_current_job
from rq.job import Job

from shared import metrics
from shared.event.visitors import assign_sessions
from shared.ids import new_uuid
from shared.queue.serializer import OrjsonSerializer
from shared.settings import Settings
from worker import merge, poison
from worker.replicas import require_for_job
from worker.tombstones import FilteringWriter, Tombstones
from worker.writer import Writer, epoch_ms

log = logging.getLogger(__name__)
_bound = threading.local()


@dataclass(frozen=True, slots=True)
class JobContext:
    writer: Writer
    insert_max_rows: int
    claim_ttl_seconds: int
    failure_ttl_seconds: int = 0
    """How long dead letters (poison events split out of a batch) are kept."""
    linger_seconds: float = 0.0
    max_retries: int = 0
    """The retry policy's; a job with fewer retries left has failed before."""
    session_idle_seconds: int = 0
    """Sessions for events that came without one: the visitor's idle window (0: random ids)."""
    min_replicas_ack: int = 0
    """Replicas that must hold a merge claim before its insert (0: the primary's word)."""
    replica_ack_timeout_ms: int = 500
    replica_wait_seconds: float = 300.0
    """How long refusals for want of those replicas give the attempt back (worker.replicas)."""
    tombstones: Tombstones | None = None
    """Erased subjects this worker must not store (None: no check, for tests of the rest)."""

    @classmethod
    def from_settings(cls, writer: Writer, settings: Settings, tombstones: Tombstones | None = None) -> JobContext:
        # A claim record must outlive every attempt of its job, dead-letter time included.
        attempts = len(settings.retry_intervals_seconds) + 1
        ttl = (
            settings.failure_ttl_seconds
            + sum(settings.retry_intervals_seconds)
            + attempts * settings.job_timeout_seconds
            + 86_400
        )
        return cls(
            writer,
            settings.insert_max_rows,
            ttl,
            settings.failure_ttl_seconds,
            settings.insert_linger_ms / 1000,
            attempts - 1,
            settings.session_idle_seconds if settings.sessions else 0,
            settings.redis_min_replicas_ack,
            settings.redis_replica_ack_timeout_ms,
            settings.redis_replica_wait_seconds,
            tombstones,
        )


def bind(context: JobContext) -> None:
    """Make `context` the one this thread's jobs run with."""
    _bound.context = context


def _linger(job: Job, linger_seconds: float) -> None:
    """Flush on size or on time: a young job waits out the linger so the jobs queued behind it
    join its insert (chDB pays ~8 ms per insert, a server prefers ~1 insert/s per table)."""
    if linger_seconds <= 0 or job.enqueued_at is None:
        return
    enqueued_at = job.enqueued_at if job.enqueued_at.tzinfo else job.enqueued_at.replace(tzinfo=UTC)
    age = (datetime.now(UTC) - enqueued_at).total_seconds()
    if age < linger_seconds:
        time.sleep(linger_seconds - age)


def _fill_sessions(job: Job, columns: Sequence[str], data: list[list[Any]], idle_seconds: int) -> None:
    """Events the API left without a session_id get their visitor's current one: one Redis
    round trip for the whole insert (shared.event.visitors.assign_sessions)."""
    if "session_id" not in columns:
        return
    sessions = data[columns.index("session_id")]
    missing = [i for i, session in enumerate(sessions) if not session]
    if not missing:
        return
    if not idle_seconds:
        for i in missing:
            sessions[i] = new_uuid()
        return
    visitors = data[columns.index("visitor_id")]
    times = data[columns.index("event_time")]
    visits = [(visitors[i], epoch_ms(times[i])) for i in missing]
    for i, session in zip(
        missing, assign_sessions(job.connection, visits, idle_seconds=idle_seconds), strict=True
    ):
        sessions[i] = session


@metrics.JOB_ATTEMPTS_FAILED.count_exceptions()
def insert_events(columns: list[str], data: list[list[Any]]) -> int:
    """Store one job's rows, plus those of fresh jobs queued behind it (see worker.merge).
    Every attempt of this job rebuilds the same rows and tokens, so ClickHouse stores them once."""
    context: JobContext | None = getattr(_bound, "context", None)
    if context is None:
        raise RuntimeError("no job context bound in this worker thread (see worker.jobs.bind)")
    job = get_current_job()
    if job is None:
        raise RuntimeError("insert_events must run inside an RQ job")
    if job.retries_left is not None and job.retries_left < context.max_retries:
        metrics.JOB_RETRIES.inc()
    _linger(job, context.linger_seconds)
    queue_key = Queue(job.origin, connection=job.connection).key
    budget = context.insert_max_rows - (len(data[0]) if data else 0)
    try:
        merged = merge.claim(job, queue_key, budget, context.claim_ttl_seconds)
    except merge.AlreadyStored:
        log.info("job %s skipped: queued again after it was stored", job.id, extra={"job_id": job.id})
        return 0
    except merge.ClaimedElsewhere as claimed:
        # A second queue entry of a job another insert holds: that insert stores these rows
        # and reads them from this job's hash, which RQ must keep until then (not delete now).
        job.result_ttl = context.claim_ttl_seconds
        log.info("job %s skipped: %s", job.id, claimed, extra={"job_id": job.id})
        return 0
    if context.min_replicas_ack:  # a claim lost in a failover would change the token: duplicates
        require_for_job(
            job, context.min_replicas_ack, context.replica_ack_timeout_ms, context.replica_wait_seconds
        )
    if merged:
        job.meta["merged"] = merged  # shown by rq-dashboard if this job fails
        job.save_meta()
    token = merge.insert_token(job, merged)
    writer: Writer = context.writer
    # Read now, with this job registered as started: see worker.tombstones.
    if context.tombstones is not None and (matcher := context.tombstones.current()) is not None:
        writer = FilteringWriter(writer, matcher)
    stored = 0
    batches, unreadable = merge.gather(job, merged)
    queue = Queue(job.origin, connection=job.connection, serializer=OrjsonSerializer)
    if unreadable:
        merge.dead_letter(queue, unreadable)
        merged = [job_id for job_id in merged if job_id not in {bad.id for bad in unreadable}]
    for part, (batch_columns, batch_data) in enumerate(batches.items()):
        _fill_sessions(job, batch_columns, batch_data, context.session_idle_seconds)
        part_token = f"{token}:{part}"
        written, rejected = poison.write_isolating(writer, batch_columns, batch_data, token=part_token)
        stored += written
        if rejected.count:
            poison.dead_letter(queue, rejected, token=part_token, failure_ttl=context.failure_ttl_seconds)
    merge.release(job, merged, stored)
    metrics.INSERT_MERGED_JOBS.observe(len(merged))
    return stored
