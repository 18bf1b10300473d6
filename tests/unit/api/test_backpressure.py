"""Backpressure verdicts: which reading refuses events, and how long clients are told to wait."""

from __future__ import annotations

from api.backpressure import Reading, judge
from shared.settings import Settings

SETTINGS = Settings(
    backpressure_max_queue_age_seconds=300,
    backpressure_max_queue_events=1_000_000,
    backpressure_max_memory_ratio=0.9,
)


def reading(events: int = 0, age: float = 0.0, memory: float = 0.0, drain: float = 10_000.0) -> Reading:
    return Reading(queued_events=events, oldest_age_seconds=age, memory_ratio=memory, drain_per_second=drain)


def test_a_healthy_pipeline_is_not_refused() -> None:
    assert judge(reading(events=500_000, age=20, memory=0.5), SETTINGS) is None


def test_an_old_queue_is_refused_until_it_catches_up() -> None:
    overload = judge(reading(age=360), SETTINGS)
    assert overload is not None and "oldest job waits 360 s" in overload.reason
    assert overload.retry_after_seconds == 60


def test_a_deep_queue_waits_for_the_drain_rate() -> None:
    overload = judge(reading(events=1_200_000, drain=20_000), SETTINGS)
    assert overload is not None and overload.retry_after_seconds == 10  # 200,000 excess / 20,000 per s


def test_retry_after_is_bounded() -> None:
    stalled = judge(reading(events=9_000_000, drain=0), SETTINGS)  # nothing draining
    assert stalled is not None and stalled.retry_after_seconds == 300
    barely = judge(reading(events=1_000_001), SETTINGS)
    assert barely is not None and barely.retry_after_seconds == 1


def test_redis_memory_near_its_limit() -> None:
    overload = judge(reading(memory=0.95), SETTINGS)
    assert overload is not None and "95% of maxmemory" in overload.reason


def test_limits_can_be_switched_off() -> None:
    off = Settings(
        backpressure_max_queue_age_seconds=0, backpressure_max_queue_events=0, backpressure_max_memory_ratio=0
    )
    assert judge(reading(events=10**9, age=10**6, memory=1.0), off) is None
