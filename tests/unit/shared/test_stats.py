"""The drain-rate counters behind `trackhouse status`."""

from __future__ import annotations

from redis import Redis

from shared import stats


def test_rate_over_the_last_minute(fake_redis: Redis) -> None:
    start = 1_800_000_000.0  # a minute boundary
    with fake_redis.pipeline() as pipe:
        stats.record_stored(pipe, 600, now=start + 10)  # previous minute
        stats.record_stored(pipe, 300, now=start + 70)  # this minute
        pipe.execute()
    # 30 s into this minute: all of it (300) plus half of the previous one (300 of 600).
    assert stats.stored_per_second(fake_redis, now=start + 90) == 600 / 60


def test_no_counts_is_zero(fake_redis: Redis) -> None:
    assert stats.stored_per_second(fake_redis) == 0.0
