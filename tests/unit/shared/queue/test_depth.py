"""The queue's depth, read one way for backpressure, /metrics and `trackhouse status`: exact when
every id is read (also across chunks), estimated from a bounded sample, the age from the first
head job still there."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from redis import Redis
from rq.job import Job
from rq.utils import utcformat

from shared.queue import depth
from shared.queue.depth import read_depth
from shared.queue.jobs import events_queue
from shared.settings import Settings


def _ids(key: str, redis: Redis, counts: list[int], start: int = 0) -> list[str]:
    ids = [f"{start + i:032x}-n{n}" for i, n in enumerate(counts)]
    redis.rpush(key, *ids)
    return ids


def test_an_empty_queue_has_no_age(fake_redis: Redis, settings: Settings) -> None:
    key = events_queue(fake_redis, settings).key
    for sample in (None, 10):
        assert read_depth(fake_redis, key, sample=sample) == depth.Depth(0, 0, None)


def test_every_id_is_counted_across_chunks(
    fake_redis: Redis, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(depth, "_ID_CHUNK", 3)
    key = events_queue(fake_redis, settings).key
    _ids(key, fake_redis, [1, 2, 3, 4, 5, 6, 7])
    reading = read_depth(fake_redis, key, sample=None)
    assert (reading.jobs, reading.events) == (7, 28)


def test_a_sample_is_scaled_to_the_whole_queue(fake_redis: Redis, settings: Settings) -> None:
    key = events_queue(fake_redis, settings).key
    _ids(key, fake_redis, [10, 10, 1, 1, 1, 1])
    reading = read_depth(fake_redis, key, sample=2)
    assert (reading.jobs, reading.events) == (6, 60)
    assert read_depth(fake_redis, key, sample=6).events == 24  # the whole queue: exact


def test_the_age_is_the_first_head_job_still_there(fake_redis: Redis, settings: Settings) -> None:
    key = events_queue(fake_redis, settings).key
    _, kept, _ = _ids(key, fake_redis, [1, 1, 1])  # the head's hash is gone (never written)
    now = datetime.now(UTC)
    fake_redis.hset(Job.redis_job_namespace_prefix + kept, "enqueued_at", utcformat(now - timedelta(seconds=42)))
    for sample in (None, 10):
        reading = read_depth(fake_redis, key, sample=sample, now=now.timestamp())
        assert reading.oldest_age_seconds is not None and 41.9 < reading.oldest_age_seconds < 42.1
