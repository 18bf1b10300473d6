"""A worker SIGKILLed in the middle of a job: its events are stored, once, within seconds.

RQ alone notices such a job after 400-800 s; the keep-alive and the scheduler threads'
recovery (worker.runner.Keepalive, worker.recovery) bring that down to ~10 s."""

from __future__ import annotations

import signal
import time
from datetime import timedelta
from pathlib import Path

import pytest
from clickhouse_connect.driver.client import Client
from redis import Redis
from rq.job import Job
from rq.registry import StartedJobRegistry
from rq.scheduler import RQScheduler

from shared.queue.jobs import enqueue_rows, events_queue
from shared.queue.redis_server import RedisServer
from shared.queue.serializer import OrjsonSerializer
from shared.settings import Settings
from tests.support.apps import api_client
from tests.support.audit import inserted, once_each
from tests.support.builders import basic_event, queue_row
from tests.support.processes import dump_event_ids, prepare_chdb, trackhouse, wait_for
from tests.support.workers import drain, real_writer
from worker.recovery import STRANDED_AFTER_SECONDS, recover_stranded
from worker.runner import SchedulerThread

pytestmark = pytest.mark.integration


def test_a_killed_workers_job_is_recovered_in_seconds(
    short_dir: Path, real_redis: Redis, redis_server: RedisServer, settings: Settings
) -> None:
    chdb_url = f"chdb://{short_dir / 'clickhouse'}"
    env = {
        "TRACKHOUSE_REDIS_URL": redis_server.url,
        "TRACKHOUSE_CLICKHOUSE_URL": chdb_url,
        "TRACKHOUSE_INSERT_LINGER_MS": "3000",  # holds the job long enough to be killed holding it
    }
    prepare_chdb(chdb_url)  # merges off: a duplicate insert would stay a second row
    first = trackhouse(["worker"], env, short_dir / "first.log")
    started = StartedJobRegistry(queue=events_queue(real_redis, settings))
    try:
        client = api_client(settings, real_redis)
        ids = [client.post("/api/events/track", json=basic_event()).json()["event_id"] for _ in range(20)]
        wait_for(lambda: started.count == 1, timeout_seconds=60, what="the first worker to take the job")
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=30)
    killed_at = time.monotonic()

    second = trackhouse(["worker"], env, short_dir / "second.log")
    try:
        # Finished jobs are deleted at once (result_ttl 0): none left means every one was stored.
        wait_for(lambda: not real_redis.keys("rq:job:*"), timeout_seconds=60, what="every job to be stored")
        recovered_after = time.monotonic() - killed_at
    finally:
        second.send_signal(signal.SIGTERM)
        assert second.wait(timeout=60) == 0
    stored = dump_event_ids(chdb_url, "trackhouse")
    assert sorted(stored) == sorted(ids)  # all of them, each once
    # How fast is a figure, not a pass/fail: the 60 s bounds above only keep a hang from
    # blocking the suite (RQ alone would take 400-800 s).
    print(f"recovered {len(ids)} events {recovered_after:.1f} s after the kill")  # shown with -s


def test_a_dead_schedulers_lock_delays_retries_by_seconds_not_minutes(
    real_redis: Redis, settings: Settings
) -> None:
    """A SIGKILLed worker leaves its scheduler lock behind; RQ's own would hold for 60 s and be
    retried after 10 minutes. Ours lapses within `lock_ttl_seconds` and is retried every pass."""
    lock_key = RQScheduler.get_locking_key(settings.queue_name)
    real_redis.set(lock_key, "a-killed-workers-scheduler", ex=2)
    queue = events_queue(real_redis, settings)
    job = queue.enqueue_in(timedelta(seconds=0), "worker.jobs.insert_events", ["event_id"], [["x"]])
    scheduler = SchedulerThread(real_redis, settings)
    scheduler.start()
    try:
        wait_for(lambda: job.id in queue.get_job_ids(), timeout_seconds=10, what="the due job to be queued")
        assert real_redis.get(lock_key) == scheduler._scheduler.name.encode()
        assert 0 < real_redis.ttl(lock_key) <= scheduler.lock_ttl_seconds
    finally:
        scheduler.stop()
        scheduler.join(timeout=10)
    assert real_redis.get(lock_key) is None  # released on a clean stop


def test_a_job_taken_by_a_worker_that_died_before_starting_it_is_requeued(
    real_redis: Redis, migrated: Client, settings: Settings
) -> None:
    """Killed between BLMOVE and registering the job as started, a worker leaves it in the
    queue's intermediate list, where RQ looks every 10 minutes and then spends a retry."""
    queue = events_queue(real_redis, settings)
    job = enqueue_rows(queue, [queue_row("stranded-1")], settings)
    intermediate = queue.intermediate_queue
    assert real_redis.lmove(queue.key, intermediate.key) == job.id.encode()  # what a worker does first

    assert recover_stranded(real_redis, settings) == []  # just seen: a live worker may be registering it
    real_redis.set(intermediate.get_first_seen_key(job.id), time.time() - STRANDED_AFTER_SECONDS - 1)
    assert recover_stranded(real_redis, settings) == [job.id]
    assert queue.get_job_ids() == [job.id] and intermediate.get_job_ids() == []
    retries = len(settings.retry_intervals_seconds)
    assert Job.fetch(job.id, connection=real_redis, serializer=OrjsonSerializer).retries_left == retries

    drain(real_redis, settings, real_writer(migrated, settings))
    assert inserted(migrated, settings.clickhouse_database) == once_each(["stranded-1"])


def test_a_started_job_is_not_taken_for_stranded(real_redis: Redis, settings: Settings) -> None:
    queue = events_queue(real_redis, settings)
    job = enqueue_rows(queue, [queue_row("running-1")], settings)
    intermediate = queue.intermediate_queue
    real_redis.lmove(queue.key, intermediate.key)
    # How a worker registers its execution of the job: "<job id>:<execution id>", scored by expiry.
    real_redis.zadd(queue.started_job_registry.key, {f"{job.id}:execution-1": time.time() + 60})
    assert job.id in queue.started_job_registry
    real_redis.set(intermediate.get_first_seen_key(job.id), time.time() - 3600)
    assert recover_stranded(real_redis, settings) == []
    assert intermediate.get_job_ids() == [job.id]


def test_the_scheduler_thread_requeues_a_stranded_job(real_redis: Redis, settings: Settings) -> None:
    """What every worker and `trackhouse up` run: their scheduler thread, not a direct call of
    recover_stranded, puts a job stranded in the intermediate list back on the queue."""
    queue = events_queue(real_redis, settings)
    job = enqueue_rows(queue, [queue_row("stranded-2")], settings)
    intermediate = queue.intermediate_queue
    real_redis.lmove(queue.key, intermediate.key)
    real_redis.set(intermediate.get_first_seen_key(job.id), time.time() - STRANDED_AFTER_SECONDS - 1)
    scheduler = SchedulerThread(real_redis, settings)
    scheduler.start()
    try:
        wait_for(
            lambda: queue.get_job_ids() == [job.id], timeout_seconds=30, what="the job back on the queue"
        )
    finally:
        scheduler.stop()
        scheduler.join(timeout=10)
    assert intermediate.get_job_ids() == []
