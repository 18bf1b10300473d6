"""Queueing a job against a real redis-server: one transaction holds the job and its queue entry."""

from __future__ import annotations

import pytest
from redis import Redis

from shared.queue.jobs import enqueue_rows, events_queue, job_rows
from shared.settings import Settings
from tests.support.builders import queue_row

pytestmark = pytest.mark.integration


def _command_calls(redis: Redis) -> dict[str, int]:
    return {name: stats["calls"] for name, stats in redis.info("commandstats").items()}


def test_a_job_is_stored_and_queued_in_one_transaction(real_redis: Redis, settings: Settings) -> None:
    queue = events_queue(real_redis, settings)
    enqueue_rows(queue, [queue_row("warm-up")], settings)  # RQ asks the server's version once
    before = _command_calls(real_redis)
    job = enqueue_rows(queue, [queue_row("a"), queue_row("b")], settings)
    after = _command_calls(real_redis)
    sent = {name: after[name] - before.get(name, 0) for name in after if after[name] != before.get(name, 0)}

    # One MULTI/EXEC: the job's hash and its queue entry appear together or not at all, in
    # one round trip (RQ on its own makes two: SADD, then HSET and RPUSH).
    sent.pop("cmdstat_info")  # our own INFO, counted in `after`
    assert sent.pop("cmdstat_multi") == 1 and sent.pop("cmdstat_exec") == 1
    assert set(sent) == {"cmdstat_sadd", "cmdstat_hset", "cmdstat_rpush"}
    assert queue.job_ids[-1] == job.id
    assert [row["event_id"] for row in job_rows(queue.fetch_job(job.id))] == ["a", "b"]
