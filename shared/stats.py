"""Counters the workers keep in Redis, so any process (`trackhouse status`) can read the
pipeline's drain rate without reaching the workers or the store."""

from __future__ import annotations

import time

from redis import Redis
from redis.client import Pipeline

_STORED = "trackhouse:stats:stored:"
_BUCKET_SECONDS = 60
_KEEP_SECONDS = 3600


def record_stored(pipe: Pipeline, rows: int, now: float | None = None) -> None:
    """Count `rows` stored, in a per-minute bucket (part of the caller's pipeline)."""
    key = _STORED + str(int((now or time.time()) // _BUCKET_SECONDS))
    pipe.incrby(key, rows)
    pipe.expire(key, _KEEP_SECONDS)


def stored_per_second(redis: Redis, now: float | None = None) -> float:
    """Rows stored per second over the last minute (this bucket and the share of the previous)."""
    now = now or time.time()
    bucket, offset = divmod(now, _BUCKET_SECONDS)
    current, previous = redis.mget(_STORED + str(int(bucket)), _STORED + str(int(bucket) - 1))
    weight = (_BUCKET_SECONDS - offset) / _BUCKET_SECONDS
    return (int(current or 0) + int(previous or 0) * weight) / _BUCKET_SECONDS
