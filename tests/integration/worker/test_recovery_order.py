"""A job taken back from a dead worker goes to the head of the queue, where it was, not behind
the jobs queued since: it is the oldest, and a deep queue would otherwise delay it for as long
as the backlog takes. Against a real redis-server, with several jobs queued (with one job,
head and tail are the same place)."""

from __future__ import annotations

import time

import pytest
from redis import Redis
from rq.job import Job, JobStatus

from shared.queue.jobs import enqueue_rows, events_queue
from shared.queue.serializer import OrjsonSerializer
from shared.settings import Settings
from tests.support.builders import queue_row
from worker.recovery import STRANDED_AFTER_SECONDS, reclaim_at_startup, recover_stranded

pytestmark = pytest.mark.integration


def _queued(redis: Redis, settings: Settings, count: int) -> list[str]:
    queue = events_queue(redis, settings)
    return [enqueue_rows(queue, [queue_row(f"order-{i}")], settings).id for i in range(count)]


def test_a_stranded_job_goes_back_to_the_head(real_redis: Redis, settings: Settings) -> None:
    queue = events_queue(real_redis, settings)
    oldest, *behind = _queued(real_redis, settings, 4)
    intermediate = queue.intermediate_queue
    assert real_redis.lmove(queue.key, intermediate.key) == oldest.encode()  # a worker's first step
    newer = _queued(real_redis, settings, 1)  # queued while the job sat there
    real_redis.set(intermediate.get_first_seen_key(oldest), time.time() - STRANDED_AFTER_SECONDS - 1)
    assert recover_stranded(real_redis, settings) == [oldest]
    assert queue.get_job_ids() == [oldest, *behind, *newer]
    assert intermediate.get_job_ids() == []


def test_jobs_reclaimed_at_start_up_go_back_to_the_head(real_redis: Redis, settings: Settings) -> None:
    queue = events_queue(real_redis, settings)
    started, stranded, *behind = _queued(real_redis, settings, 5)
    intermediate = queue.intermediate_queue
    for _ in range(2):
        real_redis.lmove(queue.key, intermediate.key)
    # `started` got as far as running: registered and marked started, by a worker now dead.
    real_redis.lrem(intermediate.key, 0, started)
    real_redis.zadd(queue.started_job_registry.key, {f"{started}:execution-1": time.time() + 60})
    job = Job.fetch(started, connection=real_redis, serializer=OrjsonSerializer)
    job.set_status(JobStatus.STARTED)

    reclaimed = reclaim_at_startup(real_redis, settings, sole_worker=True)
    assert sorted(reclaimed) == sorted([started, stranded])
    ids = queue.get_job_ids()
    assert sorted(ids[:2]) == sorted([started, stranded]) and ids[2:] == behind  # both ahead of the rest
    assert intermediate.get_job_ids() == []
    assert started not in queue.started_job_registry
