"""A crash of the whole embedded stack (`trackhouse up` and its redis-server, both SIGKILLed
while a worker holds a job), then a restart on the same data directory: what the dead process
held is taken back at start-up, so every acknowledged event is stored, once, within seconds
rather than after its lease lapses (worker.recovery.reclaim_at_startup). The project registry
(teams, projects, keys: Redis with AOF) survives the same crash."""

from __future__ import annotations

import os
import signal
import time
from collections import Counter
from pathlib import Path

import pytest
from redis import Redis
from rq.job import Job
from rq.registry import StartedJobRegistry
from rq.worker import Worker

from shared.queue.connect import connect_redis
from shared.queue.jobs import enqueue_rows, events_queue
from shared.queue.redis_server import URL_FILE
from shared.queue.serializer import OrjsonSerializer
from shared.settings import Settings
from tests.support.builders import basic_event, queue_row
from tests.support.processes import dump_event_ids, http, prepare_chdb, wait_for
from tests.support.up import running_up
from worker.recovery import reclaim_at_startup
from worker.runner import make_worker

pytestmark = pytest.mark.integration


@pytest.mark.timeout(400)  # two cold starts of chDB on a loaded machine
def test_a_crashed_stack_stores_what_it_held_within_seconds_of_restart(
    short_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    prepare_chdb(f"chdb://{short_dir / 'clickhouse'}")  # merges frozen: every insert stays a row
    # A long linger keeps the worker holding its job (started, not stored) when the kill comes.
    env = {"TRACKHOUSE_INSERT_LINGER_MS": "10000", "TRACKHOUSE_ADMIN_TOKEN": ADMIN_TOKEN}
    with running_up(short_dir, env, log_name="first.log") as first:
        write_key = _registry(first.base)
        redis = connect_redis((short_dir / "redis" / URL_FILE).read_text())
        acknowledged = []
        for request in range(4):
            events = [basic_event(event_id=f"crash-{request}-{i}") for i in range(50)]
            status, body = http("POST", f"{first.base}/api/events/batch", events)
            assert status == 201, body
            acknowledged += [result["event_id"] for result in body["results"]]
        started = StartedJobRegistry(queue=events_queue(redis, Settings()))
        wait_for(lambda: started.count >= 1, timeout_seconds=30, what="the worker to hold a job")
        held = set(redis.zrange(started.key, 0, -1))  # "<job id>:<execution id>" of the dying worker
        redis_pid = int((short_dir / "redis" / "redis.pid").read_text())
        os.kill(redis_pid, signal.SIGKILL)  # the whole stack, nothing graceful
        first.process.send_signal(signal.SIGKILL)
        first.process.wait(timeout=30)
        redis.close()

    restarted_at = time.monotonic()
    with running_up(short_dir, {"TRACKHOUSE_ADMIN_TOKEN": ADMIN_TOKEN}, log_name="second.log") as second:
        ready_at = time.monotonic()
        assert http("GET", f"{second.base}/api/admin/projects/crash-shop", headers=ADMIN)[0] == 200
        status, answer = http("POST", f"{second.base}/api/events/track", basic_event(event_id="after-crash"), {"X-Write-Key": write_key})
        assert status == 201, answer
        redis = connect_redis((short_dir / "redis" / URL_FILE).read_text())
        try:
            # Taken back before serving, not when the dead worker's lease lapses.
            assert held.isdisjoint(redis.zrange(started.key, 0, -1))
            # Finished jobs are deleted at once (result_ttl 0): none left means all were stored.
            try:
                wait_for(lambda: not redis.keys("rq:job:*"), timeout_seconds=120, what="every job to be stored")
            except AssertionError as exc:
                raise AssertionError(f"{exc}; jobs left: {redis.keys('rq:job:*')}\n{second.log_tail()}") from None
            stored_at = time.monotonic()
        finally:
            redis.close()
            assert second.stop(60) == 0, second.log_tail()
    with capsys.disabled():
        print(
            f"\n  crash restart: ready {ready_at - restarted_at:.1f} s after the restart, every "
            f"acknowledged event stored {stored_at - ready_at:.1f} s after ready"
        )
    rows = Counter(dump_event_ids(f"chdb://{short_dir / 'clickhouse'}", "trackhouse"))
    assert sorted(rows) == sorted([*acknowledged, "after-crash"]) and set(rows.values()) == {1}


ADMIN_TOKEN = "crash-admin-token"
ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


def _registry(base: str) -> str:
    """A team, a project and a write key made through the admin API: the key's secret."""
    assert http("POST", f"{base}/api/admin/teams", {"team_id": "crash-team", "name": "T"}, ADMIN)[0] == 201
    project = {"project_id": "crash-shop", "team_id": "crash-team", "name": "Shop"}
    assert http("POST", f"{base}/api/admin/projects", project, ADMIN)[0] == 201
    status, key = http("POST", f"{base}/api/admin/projects/crash-shop/keys", {"kind": "write", "name": "k"}, ADMIN)
    assert status == 201, key
    return str(key["key"])


def _started_by(redis: Redis, settings: Settings, name: str, *, marked: bool = True) -> Job:
    """A job taken and started by worker `name`, as a worker does before running it; with
    `marked=False`, killed between registering the execution and marking the job started."""
    queue = events_queue(redis, settings)
    enqueue_rows(queue, [queue_row(f"held-by-{name}")], settings)
    worker = make_worker(redis, settings, in_thread=True, name=name)
    worker.register_birth()
    job, _ = worker.dequeue_job_and_maintain_ttl(None)  # moves it off the queue, as BLMOVE does
    worker.prepare_execution(job)
    if marked:
        worker.prepare_job_execution(job, remove_from_intermediate_queue=True)  # "started" by `name`
    return Job.fetch(job.id, connection=redis, serializer=OrjsonSerializer)


def test_a_starting_worker_takes_back_only_dead_workers_jobs(real_redis: Redis, settings: Settings) -> None:
    live = _started_by(real_redis, settings, "live-worker")
    dead = _started_by(real_redis, settings, "dead-worker")
    assert {worker.name for worker in Worker.all(connection=real_redis)} >= {"live-worker", "dead-worker"}
    real_redis.delete("rq:worker:dead-worker")  # its registration expired: nobody renews it
    retries_before = dead.retries_left

    assert reclaim_at_startup(real_redis, settings, sole_worker=False) == [dead.id]
    queue = events_queue(real_redis, settings)
    assert queue.get_job_ids() == [dead.id]  # at the head, at once, one retry spent
    assert Job.fetch(dead.id, connection=real_redis, serializer=OrjsonSerializer).retries_left == (
        (retries_before or 0) - 1
    )
    assert queue.started_job_registry.get_job_ids(cleanup=False) == [live.id]
    # The embedded process is its Redis's only worker: everything held is dead.
    assert reclaim_at_startup(real_redis, settings, sole_worker=True) == [live.id]
    assert queue.get_job_ids() == [live.id, dead.id]


def test_a_job_killed_before_it_was_marked_started_is_requeued_once(
    real_redis: Redis, settings: Settings
) -> None:
    # Found by the crash test under load: the execution is registered, the job still "queued"
    # and in the intermediate list. Dropping the execution must not drop the job.
    job = _started_by(real_redis, settings, "dying-worker", marked=False)
    queue = events_queue(real_redis, settings)
    assert queue.started_job_registry.get_job_ids(cleanup=False) == [job.id]
    assert reclaim_at_startup(real_redis, settings, sole_worker=True) == [job.id]
    assert queue.get_job_ids() == [job.id] and queue.intermediate_queue.get_job_ids() == []
    assert queue.started_job_registry.get_job_ids(cleanup=False) == []
