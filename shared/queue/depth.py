"""How far behind the queue is: the jobs waiting in it, the events they hold, and how long the
job at its head has waited. One reading for the three that ask: backpressure
(api/backpressure.py, once a second), the `/metrics` scrape (shared/metrics.py) and
`trackhouse status` (cli/status.py).

A job's id carries its event count (`shared.queue.jobs.events_in`), so the events are counted
from the ids alone; a caller that must stay cheap on a deep backlog reads a bounded sample of
ids from the head and the events of the rest are estimated from it. The age is the first head
job's `enqueued_at` still there (a worker may have taken and deleted the head's meanwhile).
Read-only: nothing here moves or cleans up a job.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from redis import Redis
from rq.job import Job
from rq.utils import utcparse

from shared.queue.jobs import events_in

HEAD_CANDIDATES = 10
"""Head ids whose enqueue time is read: the first may be taken by a worker meanwhile."""
_ID_CHUNK = 10_000
"""Queue ids read per LRANGE when every id is counted: a deep queue is not pulled in one reply."""


@dataclass(frozen=True, slots=True)
class Depth:
    jobs: int
    events: int
    """Exact when every id was read; else estimated from the sample (see `read_depth`)."""
    oldest_age_seconds: float | None
    """How long the head job has waited; None: the queue is empty, or no head job's enqueue
    time could be read."""


def _text(raw: bytes | str) -> str:
    return raw.decode() if isinstance(raw, bytes) else raw


def _estimated_events(jobs: int, ids: list[str]) -> int:
    """The events of a queue of `jobs` jobs whose first ids are `ids`: their events, scaled up
    to the whole queue when it is longer than the sample."""
    events = sum(events_in(job_id) for job_id in ids)
    if ids and jobs > len(ids):  # (ids empty: the queue drained between the two reads)
        events = round(events * jobs / len(ids))
    return events


def _every_id(redis: Redis, key: str) -> tuple[int, int, list[str]]:
    """Jobs and events of every queued id (read in chunks), and the head's ids."""
    jobs = events = start = 0
    head: list[str] = []
    while True:
        ids = [_text(raw) for raw in redis.lrange(key, start, start + _ID_CHUNK - 1)]
        head = head or ids[:HEAD_CANDIDATES]
        jobs += len(ids)
        events += sum(map(events_in, ids))
        if len(ids) < _ID_CHUNK:
            return jobs, events, head
        start += _ID_CHUNK


def _oldest_age(redis: Redis, head_ids: list[str], now: float) -> float | None:
    """Seconds since the first of `head_ids` whose job still has an enqueue time was queued."""
    if not head_ids:
        return None
    with redis.pipeline(transaction=False) as pipe:
        for job_id in head_ids:
            pipe.hget(Job.redis_job_namespace_prefix + job_id, "enqueued_at")
        stamps: list[bytes | str | None] = pipe.execute()
    for stamp in stamps:  # the first job still there: the head's may be gone already
        if stamp:
            return max(0.0, now - utcparse(_text(stamp)).timestamp())
    return None


def read_depth(redis: Redis, queue_key: str, *, sample: int | None, now: float | None = None) -> Depth:
    """The queue at `queue_key` (`Queue.key`). `sample`: read at most this many ids from the
    head (with LLEN, in one round trip) and estimate the events of a longer queue from them;
    None: read every id, in chunks, and count exactly (`jobs` is then the ids read). `now`: a
    Unix time, default the clock's."""
    now = time.time() if now is None else now
    if sample is None:
        jobs, events, head = _every_id(redis, queue_key)
    else:
        with redis.pipeline(transaction=False) as pipe:
            pipe.llen(queue_key)
            pipe.lrange(queue_key, 0, sample - 1)
            jobs, raw_ids = pipe.execute()
        ids = [_text(raw) for raw in raw_ids]
        events = _estimated_events(jobs, ids)
        head = ids[:HEAD_CANDIDATES]
    return Depth(jobs, events, _oldest_age(redis, head, now))
