"""An event ClickHouse rejects (here: a value the driver cannot write) is split out of its
batch and dead-lettered with its reason; the rest of the batch is stored, once."""

from __future__ import annotations

from collections.abc import Sequence

import pytest
from clickhouse_connect.driver.client import Client
from redis import Redis

from cli.failed import failed_registry, list_failed, show_failed
from shared.queue.jobs import enqueue_rows, events_queue
from shared.settings import Settings
from tests.support.audit import inserted, once_each
from tests.support.builders import queue_row
from tests.support.workers import drain, real_writer
from worker.writer import Columns

pytestmark = pytest.mark.integration


def queue_with_poison(redis: Redis, settings: Settings) -> list[str]:
    """Ten jobs of five events; one event of job 3 holds a time_spent_sec no Float64 takes
    (the API never queues one: this stands for a row from a faulty release or a hand edit)."""
    queue = events_queue(redis, settings)
    good = []
    for j in range(10):
        rows = [queue_row(f"p-{j}-{i}") for i in range(5)]
        if j == 3:
            rows[2]["time_spent_sec"] = "not a number"
        enqueue_rows(queue, rows, settings)
        good.extend(row["event_id"] for row in rows if row["event_id"] != "p-3-2")
    return good


def test_a_poison_event_is_dead_lettered_and_its_batch_stored(
    real_redis: Redis, migrated: Client, settings: Settings
) -> None:
    good = queue_with_poison(real_redis, settings)
    drain(real_redis, settings, real_writer(migrated, settings))

    assert inserted(migrated, settings.clickhouse_database) == once_each(good)  # the 49 others, once each
    [letter] = list_failed(real_redis, settings)
    assert letter.events == 1
    assert letter.first_event_ids == ("p-3-2",)
    assert "ClickHouse rejected 1 event(s): ValueError: could not convert string to float" in letter.error
    detail = show_failed(real_redis, letter.id)
    assert [row["time_spent_sec"] for row in detail.rows] == ["not a number"]
    assert len(events_queue(real_redis, settings)) == 0


def test_a_crash_while_splitting_stores_nothing_twice(
    real_redis: Redis, migrated: Client, settings: Settings
) -> None:
    good = queue_with_poison(real_redis, settings)
    # The first attempt stores a half without the poison row, then loses the store; the retry
    # splits the same way and ClickHouse drops the halves it already holds (same tokens).
    inner = real_writer(migrated, settings)

    class CrashMidway:
        attempts = 0
        crashed_on = ""

        def write(self, columns: Sequence[str], data: Columns, *, token: str) -> int:
            if "/" not in token:  # the whole batch: one per attempt of the job
                self.attempts += 1
            elif not self.crashed_on and "not a number" not in data[list(columns).index("time_spent_sec")]:
                self.crashed_on = token
                inner.write(columns, data, token=token)
                raise ConnectionError("store lost after this half was stored")
            return inner.write(columns, data, token=token)

    writer = CrashMidway()
    drain(real_redis, settings, writer)
    assert writer.crashed_on and writer.attempts == 2  # it crashed mid-split, and the job ran again
    assert inserted(migrated, settings.clickhouse_database) == once_each(good)  # 49 rows, once each
    assert failed_registry(real_redis, settings).count == 1  # one letter, not one per attempt
