"""Backpressure: refuse new events (503 + Retry-After) while the pipeline is behind, instead of
growing the queue until Redis runs out of memory.

A background task reads the queue once a second (in a thread: never on the event loop) and
the handlers only look at the last reading, so the check costs nothing per request. Behind
means: the oldest queued job is older than a setting, the queue holds more events than a
setting, or Redis is near its `maxmemory`. Retry-After is the time the workers need, at the
drain rate of the last minute, to bring the queue back under the limits.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass

from redis import Redis
from redis.exceptions import RedisError

from shared import stats
from shared.queue.depth import read_depth
from shared.queue.jobs import events_queue
from shared.settings import Settings

log = logging.getLogger(__name__)

_SAMPLE_JOBS = 200
"""Job ids read per reading, the events of a deeper queue estimated from them."""
_MIN_RETRY_SECONDS, _MAX_RETRY_SECONDS = 1, 300


@dataclass(frozen=True, slots=True)
class Overload:
    reason: str
    retry_after_seconds: int


@dataclass(frozen=True, slots=True)
class Reading:
    queued_events: int
    oldest_age_seconds: float
    memory_ratio: float
    drain_per_second: float


def read(redis: Redis, settings: Settings) -> Reading:
    depth = read_depth(redis, events_queue(redis, settings).key, sample=_SAMPLE_JOBS)
    memory = redis.info("memory")
    maxmemory = int(memory.get("maxmemory", 0) or 0)
    ratio = int(memory.get("used_memory", 0)) / maxmemory if maxmemory else 0.0
    return Reading(depth.events, depth.oldest_age_seconds or 0.0, ratio, stats.stored_per_second(redis))


def judge(reading: Reading, settings: Settings) -> Overload | None:
    """The overload a reading shows, if any, with how long a client should wait."""
    drain = max(reading.drain_per_second, 1.0)
    if settings.backpressure_max_queue_age_seconds and (
        reading.oldest_age_seconds > settings.backpressure_max_queue_age_seconds
    ):
        wait = reading.oldest_age_seconds - settings.backpressure_max_queue_age_seconds
        return Overload(
            f"the queue is behind: its oldest job waits {reading.oldest_age_seconds:.0f} s "
            f"(limit {settings.backpressure_max_queue_age_seconds} s)",
            _clamp(wait),
        )
    if (
        settings.backpressure_max_queue_events
        and reading.queued_events > settings.backpressure_max_queue_events
    ):
        excess = reading.queued_events - settings.backpressure_max_queue_events
        return Overload(
            f"the queue is full: ~{reading.queued_events} events waiting "
            f"(limit {settings.backpressure_max_queue_events})",
            _clamp(excess / drain),
        )
    if (
        settings.backpressure_max_memory_ratio
        and reading.memory_ratio > settings.backpressure_max_memory_ratio
    ):
        return Overload(
            f"Redis is near its memory limit ({reading.memory_ratio:.0%} of maxmemory)",
            _clamp(reading.queued_events * 0.1 / drain),  # a tenth of the queue drained frees room
        )
    return None


def _clamp(seconds: float) -> int:
    return int(min(max(seconds, _MIN_RETRY_SECONDS), _MAX_RETRY_SECONDS))


class Backpressure:
    def __init__(self, redis: Redis, settings: Settings) -> None:
        self._redis = redis
        self._settings = settings
        self._overload: Overload | None = None
        self._task: asyncio.Task[None] | None = None

    @property
    def overload(self) -> Overload | None:
        """The last reading's verdict; None while unknown (Redis down is the enqueue's 500)."""
        return self._overload

    def start(self) -> None:
        if self._settings.backpressure_check_interval_ms and self._task is None:
            self._task = asyncio.create_task(self._watch())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _watch(self) -> None:
        interval = self._settings.backpressure_check_interval_ms / 1000
        while True:
            started = time.monotonic()
            try:
                reading = await asyncio.to_thread(read, self._redis, self._settings)
                overload = judge(reading, self._settings)
                if overload and not self._overload:
                    log.warning("backpressure on: %s", overload.reason)
                elif self._overload and not overload:
                    log.info("backpressure off")
                self._overload = overload
            except RedisError:
                self._overload = None
            await asyncio.sleep(max(0.0, interval - (time.monotonic() - started)))
