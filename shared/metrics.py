"""Prometheus metrics of the API and the workers, and of the queue between them.

Exposed by `GET /metrics` on the API (`api/routes/metrics.py`) and, for `trackhouse worker`,
by its own HTTP server on `127.0.0.1:TRACKHOUSE_WORKER_METRICS_PORT` (0: none). In embedded
mode (`trackhouse up`) the worker threads share the API process, so `/metrics` shows the
worker metrics too.

API (counted by the request handlers and the group committer):
- `trackhouse_events_accepted_total{endpoint}`: events acknowledged to a client (`track`, `batch`).
- `trackhouse_events_rejected_total{endpoint,reason}`: events refused, `reason` one of `REASONS`.
  A body that cannot be read at all, or a request refused before its body is read (a missing or
  wrong write key: `unauthorized`; a write key from a page outside its project's domains:
  `forbidden`; a rate limit: `rate_limited`), counts as one event; each
  invalid event of a `/batch` counts on its own; a queue outage counts every valid event it failed.
- `trackhouse_batch_request_events`: histogram of events per `/batch` request.
- `trackhouse_enqueued_job_events`: histogram of events per job the group committer enqueued.
- `trackhouse_enqueue_duration_seconds`: histogram of the time Redis took to acknowledge a job.

Queue (read from Redis at scrape time by `QueueCollector`; served by the API only):
- `trackhouse_queue_jobs`, `trackhouse_queue_events`: jobs waiting, and the events they hold
  (from the job ids, `shared.queue.depth`; estimated from the first `_SAMPLE_JOBS` ids
  when the queue is longer, so a deep backlog costs one bounded read per scrape).
- `trackhouse_queue_oldest_job_age_seconds`: how long the job at the head has waited (0: empty).
- `trackhouse_retry_scheduled_jobs`: failed jobs waiting for their next attempt.
- `trackhouse_dead_letter_jobs`: jobs that exhausted their retries (FailedJobRegistry).
- `trackhouse_redis_up`: 1 if those reads succeeded; 0 and no queue metrics otherwise.

Workers (counted where the work happens: `worker/jobs.py`, `worker/writer.py`):
- `trackhouse_rows_inserted_total`, `trackhouse_inserts_total`.
- `trackhouse_insert_duration_seconds`, `trackhouse_insert_rows`: histograms per insert.
- `trackhouse_insert_merged_jobs`: histogram of queued jobs merged into a job's insert.
- `trackhouse_job_attempts_failed_total`: job attempts that raised (each retry counts again).
- `trackhouse_job_retries_total`: attempts of a job that had failed before.
- `trackhouse_events_rejected_by_store_total`: events the store refused for their data, split
  out of their batch and dead-lettered (`worker/poison.py`).

Plus prometheus-client's default process, platform and GC collectors.

Several processes: set `PROMETHEUS_MULTIPROC_DIR` (an empty directory, the same for every
process, wiped before they start) and `/metrics` sums the processes' counters and histograms
through `prometheus_client.multiprocess.MultiProcessCollector`; the per-process collectors
are then left out (they would describe the scraped process only).

Hot path: handlers increment label children bound here once (`TRACK_ACCEPTED`, ...), never
`.labels(...)` per request (~0.3 µs against ~1.4 µs); no label takes a client-supplied value.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Iterable, Iterator
from typing import Literal, get_args

import prometheus_client
from prometheus_client import REGISTRY, CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector
from redis import Redis
from redis.exceptions import RedisError
from rq import Queue
from rq.registry import FailedJobRegistry, ScheduledJobRegistry

from shared.queue.depth import read_depth

log = logging.getLogger(__name__)

# `_created` series double the series count and tell Prometheus nothing its own scrape
# timestamps do not (process restarts show as counter resets).
prometheus_client.disable_created_metrics()  # type: ignore[no-untyped-call]

Endpoint = Literal["track", "batch"]
Reason = Literal[
    "missing_field",
    "invalid_field",
    "malformed_json",
    "too_large",
    "unsupported_encoding",
    "queue_unavailable",
    "overloaded",
    "unauthorized",
    "forbidden",
    "rate_limited",
]
REASONS: tuple[Reason, ...] = get_args(Reason)

# --- API ---
_accepted = Counter(
    "trackhouse_events_accepted", "Events queued and acknowledged to the client.", ["endpoint"]
)
_rejected = Counter(
    "trackhouse_events_rejected", "Events refused, by endpoint and reason.", ["endpoint", "reason"]
)
_dropped = Counter(
    "trackhouse_events_dropped",
    "Events answered but not stored: bots (TRACKHOUSE_DROP_BOTS), suppressed subjects (erasures).",
    ["endpoint", "reason"],
)
TRACK_ACCEPTED = _accepted.labels("track")
BATCH_ACCEPTED = _accepted.labels("batch")
TRACK_DROPPED_BOT = _dropped.labels("track", "bot")
BATCH_DROPPED_BOT = _dropped.labels("batch", "bot")
TRACK_DROPPED_SUPPRESSED = _dropped.labels("track", "suppressed")
BATCH_DROPPED_SUPPRESSED = _dropped.labels("batch", "suppressed")
# Every (endpoint, reason) child exists from the start: a rate() over a series that appears
# only at its first increment misses that increment.
TRACK_REJECTED: dict[Reason, Counter] = {reason: _rejected.labels("track", reason) for reason in REASONS}
BATCH_REJECTED: dict[Reason, Counter] = {reason: _rejected.labels("batch", reason) for reason in REASONS}

BATCH_EVENTS = Histogram(
    "trackhouse_batch_request_events",
    "Events per /batch request (valid or not).",
    buckets=(1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000),
)
_job_events = Histogram(
    "trackhouse_enqueued_job_events",
    "Events per job the group committer enqueued.",
    buckets=(1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 2000, 5000),
)
_enqueue_seconds = Histogram(
    "trackhouse_enqueue_duration_seconds",
    "Time from handing a job to Redis to its acknowledgement (successful enqueues).",
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
)


def observe_enqueue(events: int, seconds: float) -> None:
    """One job acknowledged by Redis (called once per job, not per request)."""
    _job_events.observe(events)
    _enqueue_seconds.observe(seconds)


# --- workers ---
_rows_inserted = Counter("trackhouse_rows_inserted", "Rows inserted into ClickHouse.")
_inserts = Counter("trackhouse_inserts", "Inserts into ClickHouse that succeeded.")
_insert_seconds = Histogram(
    "trackhouse_insert_duration_seconds",
    "Time one successful ClickHouse insert took.",
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0),
)
_insert_rows = Histogram(
    "trackhouse_insert_rows",
    "Rows per successful ClickHouse insert.",
    buckets=(1, 10, 100, 500, 1000, 2500, 5000, 10_000, 25_000, 50_000, 100_000),
)
INSERT_MERGED_JOBS = Histogram(
    "trackhouse_insert_merged_jobs",
    "Queued jobs merged into a stored job's insert (0: it went alone).",
    buckets=(0, 1, 2, 5, 10, 25, 50, 100, 250, 500, 1000),
)
JOB_ATTEMPTS_FAILED = Counter("trackhouse_job_attempts_failed", "Job attempts that raised.")
JOB_RETRIES = Counter("trackhouse_job_retries", "Attempts of a job that had failed before.")
EVENTS_ERASED_AT_WRITE = Counter(
    "trackhouse_events_erased_at_write",
    "Events a writer left out of its insert: an erasure's tombstone names their subject.",
)
_erasures_finished = Counter(
    "trackhouse_erasures_finished", "Erasures run to their end, by outcome.", ["status"]
)
ERASURES_DONE = _erasures_finished.labels("done")
ERASURES_FAILED = _erasures_finished.labels("failed")
EVENTS_REJECTED_BY_STORE = Counter(
    "trackhouse_events_rejected_by_store", "Events the store refused for their data (dead-lettered)."
)


def observe_insert(rows: int, seconds: float) -> None:
    _rows_inserted.inc(rows)
    _inserts.inc()
    _insert_seconds.observe(seconds)
    _insert_rows.observe(rows)


def start_worker_server(port: int, host: str = "127.0.0.1") -> None:
    """Serve this process's metrics (a worker has no other HTTP server); loopback by default."""
    prometheus_client.start_http_server(port, addr=host)
    log.info("worker metrics on http://%s:%d/metrics", host, port)


# --- the queue, read at scrape time ---
_SAMPLE_JOBS = 10_000
"""Most job ids read per scrape (~40 bytes each); beyond, the queue's events are estimated."""


class QueueCollector:
    """Queue depth, age of the oldest job, retries and dead letters, read from Redis per scrape."""

    def __init__(self, redis: Redis, queue_name: str) -> None:
        self._redis = redis
        self._queue_key = Queue.redis_queue_namespace_prefix + queue_name
        self._scheduled_key = ScheduledJobRegistry.key_template.format(queue_name)
        self._failed_key = FailedJobRegistry.key_template.format(queue_name)

    def collect(self) -> Iterator[Metric]:
        up = GaugeMetricFamily("trackhouse_redis_up", "1 if the queue metrics could be read from Redis.")
        try:
            metrics = self._read()
        except RedisError as exc:  # the scrape still serves the process metrics
            log.warning("queue metrics unavailable: %s", exc)
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        yield from metrics

    def _read(self) -> list[Metric]:
        now = time.time()
        depth = read_depth(self._redis, self._queue_key, sample=_SAMPLE_JOBS, now=now)
        with self._redis.pipeline(transaction=False) as pipe:
            pipe.zcard(self._scheduled_key)
            pipe.zcard(self._failed_key)
            pipe.zcount(self._failed_key, 0, now)  # expired, not yet cleaned up by RQ
            scheduled, failed, failed_expired = pipe.execute()
        return [
            _gauge("trackhouse_queue_jobs", "Jobs waiting in the queue.", depth.jobs),
            _gauge("trackhouse_queue_events", "Events held by the jobs waiting in the queue.", depth.events),
            _gauge(
                "trackhouse_queue_oldest_job_age_seconds",
                "How long the job at the head of the queue has waited (0: empty).",
                depth.oldest_age_seconds or 0.0,
            ),
            _gauge(
                "trackhouse_retry_scheduled_jobs", "Failed jobs waiting for their next attempt.", scheduled
            ),
            _gauge(
                "trackhouse_dead_letter_jobs",
                "Jobs that exhausted their retries (RQ FailedJobRegistry).",
                failed - failed_expired,
            ),
        ]


def _gauge(name: str, documentation: str, value: float) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, documentation, value=value)


class _Chain:
    def __init__(self, *collectors: Collector) -> None:
        self._collectors = collectors

    def collect(self) -> Iterable[Metric]:
        for collector in self._collectors:
            yield from collector.collect()


def exposition(*extra: Collector) -> bytes:
    """The text exposition of this process, or with PROMETHEUS_MULTIPROC_DIR of every process
    sharing that directory, followed by `extra` (collected now, never registered: each app
    or test brings its own Redis)."""
    base: Collector = REGISTRY
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        base = CollectorRegistry()
        MultiProcessCollector(base)  # type: ignore[no-untyped-call]
    return generate_latest(_Chain(base, *extra))
