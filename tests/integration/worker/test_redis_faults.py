"""A job that loses Redis mid-way (a failover outlasting the client's retries) is retried
without spending one of its attempts: more such faults than it has retries still store it."""

from __future__ import annotations

from collections.abc import Sequence

import pytest
from clickhouse_connect.driver.client import Client
from redis import Redis
from redis.exceptions import ConnectionError as RedisConnectionError

from cli.failed import list_failed
from shared.queue.jobs import enqueue_rows, events_queue
from shared.settings import Settings
from tests.support.builders import queue_row
from tests.support.workers import count_rows, drain, real_writer
from worker.writer import Columns, Writer

pytestmark = pytest.mark.integration


class RedisLostFirst:
    """Raises what a failover raises inside a job (here at the writer seam) `times` times."""

    def __init__(self, inner: Writer, times: int) -> None:
        self.inner, self.times = inner, times

    def write(self, columns: Sequence[str], data: Columns, *, token: str) -> int:
        if self.times:
            self.times -= 1
            raise RedisConnectionError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")
        return self.inner.write(columns, data, token=token)


def test_redis_faults_do_not_spend_attempts(real_redis: Redis, migrated: Client, settings: Settings) -> None:
    attempts = len(settings.retry_intervals_seconds) + 1
    enqueue_rows(events_queue(real_redis, settings), [queue_row(f"rf-{i}") for i in range(3)], settings)
    drain(real_redis, settings, RedisLostFirst(real_writer(migrated, settings), times=attempts + 1))

    # More faults than attempts, yet stored once and no dead letter: no attempt was spent.
    assert count_rows(migrated, settings) == 3
    assert list_failed(real_redis, settings) == []


def test_other_faults_still_spend_attempts(real_redis: Redis, migrated: Client, settings: Settings) -> None:
    class StoreDown:
        def write(self, columns: Sequence[str], data: Columns, *, token: str) -> int:
            raise TimeoutError("store timed out")  # the store's fault: counted as usual

    enqueue_rows(events_queue(real_redis, settings), [queue_row("sd-0")], settings)
    drain(real_redis, settings, StoreDown())
    assert [letter.first_event_ids for letter in list_failed(real_redis, settings)] == [("sd-0",)]
