"""Workers merge queued jobs into one insert when the queue is deep, and stay idempotent."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from unittest.mock import patch

import pytest
from clickhouse_connect.driver.client import Client
from redis import Redis
from rq.job import Job

from shared.queue.jobs import enqueue_rows, events_queue
from shared.settings import Settings
from tests.support.apps import api_client
from tests.support.audit import inserted, once_each
from tests.support.builders import basic_event, queue_row
from tests.support.processes import wait_for
from tests.support.workers import FailingWriter, drain, real_writer
from worker.merge import CLAIM_PREFIX, claim
from worker.writer import Columns, Writer

pytestmark = pytest.mark.integration


class CountingWriter:
    def __init__(self, inner: Writer) -> None:
        self.inner = inner
        self.inserts: list[int] = []

    def write(self, columns: Sequence[str], data: Columns, *, token: str) -> int:
        self.inserts.append(len(data[0]))
        return self.inner.write(columns, data, token=token)


def queue_jobs(redis: Redis, settings: Settings, jobs: int, per_job: int = 1) -> list[str]:
    queue = events_queue(redis, settings)
    ids = []
    for j in range(jobs):
        rows = [queue_row(f"m-{j}-{i}") for i in range(per_job)]
        enqueue_rows(queue, rows, settings)
        ids.extend(row["event_id"] for row in rows)
    return ids


def leftover_keys(redis: Redis) -> list[bytes]:
    return sorted(redis.keys(f"{CLAIM_PREFIX}*") + redis.keys("rq:job:*"))


def test_a_deep_queue_is_stored_in_one_insert(
    real_redis: Redis, migrated: Client, settings: Settings
) -> None:
    ids = queue_jobs(real_redis, settings, jobs=50, per_job=3)
    writer = CountingWriter(real_writer(migrated, settings))
    drain(real_redis, settings, writer)
    assert writer.inserts == [150]
    assert inserted(migrated, settings.clickhouse_database) == once_each(ids)
    assert leftover_keys(real_redis) == []  # merged jobs and claim records are cleaned up


def test_merging_respects_the_insert_budget(real_redis: Redis, migrated: Client, settings: Settings) -> None:
    ids = queue_jobs(real_redis, settings, jobs=20, per_job=3)
    small = settings.model_copy(update={"insert_max_rows": 10})
    writer = CountingWriter(real_writer(migrated, small))
    drain(real_redis, small, writer)
    assert writer.inserts == [9] * 6 + [6]  # whole jobs only: 3 + 3 + 3 fits 10, a fourth would not
    assert inserted(migrated, settings.clickhouse_database) == once_each(ids)


def test_merged_jobs_retried_after_a_lost_ack_are_stored_once(
    real_redis: Redis, migrated: Client, settings: Settings
) -> None:
    ids = queue_jobs(real_redis, settings, jobs=30, per_job=2)
    writer = FailingWriter(real_writer(migrated, settings), failures=2, after_insert=True)
    drain(real_redis, settings, writer)
    assert writer.calls == 3
    assert inserted(migrated, settings.clickhouse_database) == once_each(ids)
    assert leftover_keys(real_redis) == []


def test_a_claim_is_made_once_per_job(real_redis: Redis, settings: Settings) -> None:
    queue = events_queue(real_redis, settings)
    first = enqueue_rows(queue, [queue_row("a")], settings)
    behind = [enqueue_rows(queue, [queue_row(f"b{i}")], settings).id for i in range(3)]
    queue.pop_job_id()  # the worker took `first`
    assert claim(first, queue.key, 100, 60) == behind
    enqueue_rows(queue, [queue_row("late")], settings)
    assert claim(first, queue.key, 100, 60) == behind  # a retry rebuilds the same set, not a new one


def test_jobs_that_ran_before_are_never_merged(real_redis: Redis, settings: Settings) -> None:
    queue = events_queue(real_redis, settings)
    earlier = enqueue_rows(queue, [queue_row("x")], settings)
    queue.pop_job_id()
    claim(earlier, queue.key, 100, 60)  # `earlier` ran once (it may have stored its rows)...
    queue.push_job_id(earlier.id, at_front=True)  # ...and came back as a retry
    fresh = enqueue_rows(queue, [queue_row("y")], settings)
    runner = Job.create("worker.jobs.insert_events", connection=real_redis, id="runner-n1")
    assert claim(runner, queue.key, 100, 60) == []  # the retry at the head is left alone
    assert queue.get_job_ids() == [earlier.id, fresh.id]


def test_batch_endpoint_end_to_end(real_redis: Redis, migrated: Client, settings: Settings) -> None:
    client = api_client(settings, real_redis, migrated)
    response = client.post("/api/events/batch", json=[basic_event(event_id=f"e2e-{i}") for i in range(200)])
    assert response.status_code == 201
    drain(real_redis, settings, real_writer(migrated, settings))
    stored = migrated.query(f"SELECT event_id FROM {settings.clickhouse_database}.events").result_rows
    assert sorted(r[0] for r in stored) == sorted(f"e2e-{i}" for i in range(200))


def test_a_young_job_lingers_so_a_trickle_shares_one_insert(
    real_redis: Redis, migrated: Client, settings: Settings
) -> None:
    lingering = settings.model_copy(update={"insert_linger_ms": 1500})
    ids = queue_jobs(real_redis, lingering, jobs=1)
    writer = CountingWriter(real_writer(migrated, lingering))
    worker = threading.Thread(target=drain, args=(real_redis, lingering, writer))
    queue = events_queue(real_redis, lingering)
    worker.start()
    # The worker has started the first job (it lingers in it now)...
    wait_for(lambda: queue.started_job_registry.count == 1, timeout_seconds=10, what="the job to start")
    enqueue_rows(queue, [queue_row("late-1"), queue_row("late-2")], lingering)  # ...while more arrive
    worker.join(timeout=10)
    assert writer.inserts == [3]
    assert inserted(migrated, settings.clickhouse_database) == once_each([*ids, "late-1", "late-2"])


def test_claimed_jobs_expire_with_their_claim_record(real_redis: Redis, settings: Settings) -> None:
    queue = events_queue(real_redis, settings)
    first = enqueue_rows(queue, [queue_row("a")], settings)
    behind = enqueue_rows(queue, [queue_row("b")], settings)
    queue.pop_job_id()
    assert claim(first, queue.key, 100, 3600) == [behind.id]
    # If the claiming job dies a dead letter and expires, what it claimed goes too: no orphans.
    assert 0 < real_redis.ttl(behind.key) <= 3600
    assert 0 < real_redis.ttl(CLAIM_PREFIX + first.id) <= 3600


def push_again(redis: Redis, queue_key: str, job_id: str) -> None:
    """What a retried enqueue does when Redis ran the first one but its reply was lost."""
    redis.rpush(queue_key, job_id)


@pytest.mark.parametrize("ahead", [0, 1], ids=["alone", "behind-another"])
def test_a_job_queued_twice_is_stored_once(
    ahead: int, real_redis: Redis, migrated: Client, settings: Settings
) -> None:
    """Found by the chaos run's uncollapsed count: one /batch of 50 events stored twice."""
    queue = events_queue(real_redis, settings)
    ids = queue_jobs(real_redis, settings, jobs=ahead)
    rows = [queue_row(f"twice-{i}") for i in range(3)]
    twice = enqueue_rows(queue, rows, settings)
    push_again(real_redis, queue.key, twice.id)
    drain(real_redis, settings, real_writer(migrated, settings))
    assert inserted(migrated, settings.clickhouse_database) == once_each(
        [*ids, *(r["event_id"] for r in rows)]
    )
    assert leftover_keys(real_redis) == []


def test_a_second_entry_of_a_claimed_job_waits_for_its_claimer(
    real_redis: Redis, migrated: Client, settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    """The claiming job fails (store down) and retries later; the claimed job's second entry
    comes up meanwhile: it must neither store the rows itself nor let RQ delete them."""
    queue = events_queue(real_redis, settings)
    ids = queue_jobs(real_redis, settings, jobs=2)  # A, then B: A claims B (room for one event)
    claimed = queue.get_job_ids()[1]
    ids += [f"c-{i}" for i in range(2)]
    enqueue_rows(queue, [queue_row(event_id) for event_id in ids[-2:]], settings)  # C: too big to merge
    push_again(real_redis, queue.key, claimed)  # B's second entry, behind C
    tight = settings.model_copy(update={"insert_max_rows": 2})
    writer = FailingWriter(real_writer(migrated, settings), failures=1)  # A's first attempt fails
    with caplog.at_level("INFO", logger="worker.jobs"):
        drain(real_redis, tight, writer)
    assert f"job {claimed} skipped: claimed by job" in caplog.text  # B's entry came up on its own
    assert inserted(migrated, settings.clickhouse_database) == once_each(ids)


@pytest.mark.parametrize("merged", [False, True], ids=["ran-alone", "was-merged"])
def test_a_job_queued_again_after_it_was_stored_is_not_stored_again(
    merged: bool, real_redis: Redis, migrated: Client, settings: Settings
) -> None:
    """A retried enqueue (Redis ran the first, a restart lost its reply) can land after the first
    copy was stored: merged into another job's insert (another token), or alone."""
    queue = events_queue(real_redis, settings)
    ids = queue_jobs(real_redis, settings, jobs=1) if merged else []  # the job that claims it
    rows = [queue_row(f"late-{i}") for i in range(3)]
    late = enqueue_rows(queue, rows, settings)
    writer = real_writer(migrated, settings)
    drain(real_redis, settings, writer)  # the first copy stored
    with patch("shared.queue.jobs.job_id_for", return_value=late.id):  # the retry: same id and data
        enqueue_rows(queue, rows, settings)
    drain(real_redis, settings, writer)
    assert inserted(migrated, settings.clickhouse_database) == once_each([*ids, *(r["event_id"] for r in rows)])
    assert leftover_keys(real_redis) == []
