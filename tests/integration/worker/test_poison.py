"""An event ClickHouse rejects (here: a value the driver cannot write) is split out of its
batch and dead-lettered with its reason; the rest of the batch is stored, once."""

from __future__ import annotations

import pytest
from clickhouse_connect.driver.client import Client
from redis import Redis

from cli.failed import failed_registry, list_failed, show_failed
from shared.queue.jobs import enqueue_rows, events_queue
from shared.settings import Settings
from tests.support.builders import queue_row
from tests.support.workers import FailingWriter, count_rows, drain, real_writer

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


def stored_ids(store: Client, settings: Settings) -> list[str]:
    rows = store.query(f"SELECT event_id FROM {settings.clickhouse_database}.events").result_rows
    return sorted(row[0] for row in rows)


def test_a_poison_event_is_dead_lettered_and_its_batch_stored(
    real_redis: Redis, migrated: Client, settings: Settings
) -> None:
    good = queue_with_poison(real_redis, settings)
    drain(real_redis, settings, real_writer(migrated, settings))

    assert stored_ids(migrated, settings) == sorted(good)  # the 49 others, once each
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
    # The first attempt stores some halves, then loses the store; the retry splits the same
    # way and ClickHouse drops the halves it already holds (same tokens).
    writer = FailingWriter(real_writer(migrated, settings), failures=0)
    splits = {"left": 4}

    class CrashMidway:
        def write(self, columns, data, *, token):  # type: ignore[no-untyped-def]
            if "/" in token and splits["left"] > 0:
                splits["left"] -= 1
                if splits["left"] == 0:
                    writer.inner.write(columns, data, token=token)
                    raise ConnectionError("store lost after this half was stored")
            return writer.write(columns, data, token=token)

    drain(real_redis, settings, CrashMidway())
    assert stored_ids(migrated, settings) == sorted(good)
    assert count_rows(migrated, settings) == len(good) == 49
    assert failed_registry(real_redis, settings).count == 1  # one letter, not one per attempt
