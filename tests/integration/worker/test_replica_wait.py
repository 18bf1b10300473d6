"""Workers and replica acknowledgements (`REDIS_MIN_REPLICAS_ACK`), against real redis-servers
and chDB: nothing is inserted until a replica holds the job's merge claim; refusals cost no
attempt for `REDIS_REPLICA_WAIT_SECONDS`, then spend them, so a job whose replica never comes
back becomes a dead letter and a drain returns (before, both waited forever)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from clickhouse_connect.driver.client import Client
from prometheus_client import REGISTRY
from redis import Redis
from rq.job import Job

from shared.queue.connect import ReplicasBehind, connect_redis
from shared.queue.jobs import enqueue_rows, events_queue
from shared.queue.serializer import OrjsonSerializer
from shared.settings import Settings
from tests.support.audit import inserted, once_each
from tests.support.builders import queue_row
from tests.support.markers import server_fixture
from tests.support.processes import wait_for
from tests.support.replication import ReplicatedRedis
from tests.support.workers import count_rows, drain, real_writer
from worker.replicas import SINCE_META, ReplicaWaitExhausted, require_for_job

pytestmark = pytest.mark.integration

DRAIN_BOUND_SECONDS = 30.0
"""Far more than any drain below needs; a drain still running then would never have returned."""


def refusals(attempt: str) -> float:
    return REGISTRY.get_sample_value("trackhouse_replica_refusals_total", {"attempt": attempt}) or 0.0


def _replica_settings(settings: Settings, *, wait_seconds: float) -> Settings:
    return settings.model_copy(
        update={
            "redis_min_replicas_ack": 1,
            "redis_replica_ack_timeout_ms": 20,
            "redis_replica_wait_seconds": wait_seconds,
            "retry_intervals_seconds": [0, 0],  # retries come straight back: the drain loops on them
        }
    )


def _drain_in_thread(redis: Redis, settings: Settings, store: Client) -> threading.Thread:
    thread = threading.Thread(target=drain, args=(redis, settings, real_writer(store, settings)), daemon=True)
    thread.start()
    return thread


def test_no_replica_holds_the_job_back_then_dead_letters_it(
    real_redis: Redis, migrated: Client, settings: Settings
) -> None:
    """The session's redis-server has no replica: WAIT never confirms one."""
    settings = _replica_settings(settings, wait_seconds=1.0)
    queue = events_queue(real_redis, settings)
    job = enqueue_rows(queue, [queue_row("unreplicated-1")], settings)
    given_back, spent = refusals("given_back"), refusals("spent")
    started = time.monotonic()
    worker = _drain_in_thread(real_redis, settings, migrated)
    worker.join(timeout=DRAIN_BOUND_SECONDS)
    assert not worker.is_alive(), "the drain never returned"
    elapsed = time.monotonic() - started
    assert elapsed >= settings.redis_replica_wait_seconds  # held back for the whole wait first
    assert count_rows(migrated, settings) == 0  # never inserted without a replica's ack
    assert refusals("given_back") - given_back >= 2  # refused, the attempts given back...
    attempts = len(settings.retry_intervals_seconds) + 1
    assert refusals("spent") - spent == attempts  # ...then each attempt spent, the last one failing
    failed = queue.failed_job_registry
    assert failed.get_job_ids() == [job.id]
    dead = Job.fetch(job.id, connection=real_redis, serializer=OrjsonSerializer)
    assert dead.retries_left == 0
    assert "REDIS_REPLICA_WAIT_SECONDS" in (
        dead.latest_result().exc_string or ""
    )  # the reason, for the dashboard
    assert queue.get_job_ids() == []


def test_a_passing_check_clears_the_wait_and_a_long_one_spends(real_redis: Redis, settings: Settings) -> None:
    queue = events_queue(real_redis, settings)
    job = enqueue_rows(queue, [queue_row("meta-1")], settings)
    with pytest.raises(ReplicasBehind):
        require_for_job(job, 1, 10, 60)
    first = job.meta[SINCE_META]
    with pytest.raises(ReplicasBehind):
        require_for_job(job, 1, 10, 60)
    stored = Job.fetch(job.id, connection=real_redis, serializer=OrjsonSerializer)
    assert stored.meta[SINCE_META] == first  # the wait runs from the first refusal, in Redis for every worker
    job.meta[SINCE_META] = time.time() - 61
    with pytest.raises(ReplicaWaitExhausted, match="REDIS_REPLICA_WAIT_SECONDS") as exhausted:
        require_for_job(job, 1, 10, 60)
    assert not isinstance(exhausted.value, ReplicasBehind)  # no Redis fault: the runner spends the attempt
    require_for_job(job, 0, 10, 60)  # confirmed (nothing asked): the wait is over
    assert SINCE_META not in Job.fetch(job.id, connection=real_redis, serializer=OrjsonSerializer).meta


@server_fixture("integration")
def replicated(short_dir: Path) -> Iterator[ReplicatedRedis]:
    with ReplicatedRedis(short_dir / "redis", replicas=1, sentinels=0) as group:
        yield group


def _info(port: int) -> dict[str, object]:
    with Redis(port=port, socket_timeout=2) as client:
        return dict(client.info("replication"))


def test_a_replica_back_within_the_wait_costs_no_attempt(
    replicated: ReplicatedRedis, migrated: Client, settings: Settings
) -> None:
    settings = _replica_settings(settings, wait_seconds=DRAIN_BOUND_SECONDS)
    primary = connect_redis(f"redis://127.0.0.1:{replicated.primary_port}", patient=True)
    replica_port = replicated.ports[1]
    link = _info(replica_port)
    master_host, master_port = str(link["master_host"]), int(str(link["master_port"]))
    queue = events_queue(primary, settings)

    enqueue_rows(queue, [queue_row("replicated-1")], settings)
    drain(primary, settings, real_writer(migrated, settings))  # a replica acknowledges: stored
    assert inserted(migrated, settings.clickhouse_database) == once_each(["replicated-1"])
    assert queue.failed_job_registry.get_job_ids() == []

    with Redis(port=replica_port, socket_timeout=2) as replica:
        replica.execute_command("REPLICAOF", "NO", "ONE")  # the replica goes away
        wait_for(lambda: _info(replicated.primary_port)["connected_slaves"] == 0, timeout_seconds=10,
                 what="the primary to lose its replica")  # fmt: skip
        job = enqueue_rows(queue, [queue_row("replicated-2")], settings)
        given_back, spent = refusals("given_back"), refusals("spent")
        worker = _drain_in_thread(primary, settings, migrated)
        wait_for(lambda: refusals("given_back") - given_back >= 3, timeout_seconds=30, what="refusals")
        assert count_rows(migrated, settings) == 1  # held back: only the first job's row
        waiting = Job.fetch(job.id, connection=primary, serializer=OrjsonSerializer)
        assert waiting.retries_left == len(settings.retry_intervals_seconds)  # no attempt spent
        replica.execute_command("REPLICAOF", master_host, str(master_port))  # and comes back
    worker.join(timeout=DRAIN_BOUND_SECONDS)
    assert not worker.is_alive(), "the drain never returned"
    assert inserted(migrated, settings.clickhouse_database) == once_each(["replicated-1", "replicated-2"])
    assert refusals("spent") == spent
    assert queue.failed_job_registry.get_job_ids() == []
    primary.close()
