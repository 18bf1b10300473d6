"""A pipeline that is behind answers 503 with Retry-After instead of queueing more (real Redis)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from redis import Redis

from api.app import create_app
from api.backpressure import judge, read
from shared.queue.jobs import enqueue_rows, events_queue
from shared.settings import Settings
from tests.support.builders import basic_event, queue_row
from tests.support.processes import wait_for

pytestmark = pytest.mark.integration


def age_head_job(redis: Redis, settings: Settings, minutes: int) -> None:
    queue = events_queue(redis, settings)
    job = enqueue_rows(queue, [queue_row("old")], settings)
    past = (datetime.now(UTC) - timedelta(minutes=minutes)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    redis.hset(job.key, "enqueued_at", past)


def test_reading_the_real_queue(real_redis: Redis, settings: Settings) -> None:
    age_head_job(real_redis, settings, minutes=10)
    reading = read(real_redis, settings)
    assert 590 < reading.oldest_age_seconds < 610 and reading.queued_events == 1


def test_the_queue_is_measured_in_events_not_jobs(real_redis: Redis, settings: Settings) -> None:
    queue = events_queue(real_redis, settings)
    for j in range(3):
        enqueue_rows(queue, [queue_row(f"bp-{j}-{i}") for i in range(40)], settings)
    reading = read(real_redis, settings)
    assert reading.queued_events == 3 * 40
    limited = settings.model_copy(update={"backpressure_max_queue_events": 100})
    overload = judge(reading, limited)  # 3 jobs are far under 100, their 120 events are not
    assert overload is not None and "120" in overload.reason


def test_the_api_refuses_while_the_queue_is_behind(real_redis: Redis, settings: Settings) -> None:
    strict = settings.model_copy(
        update={"backpressure_check_interval_ms": 50, "backpressure_max_queue_age_seconds": 60}
    )
    app = create_app(strict, redis=real_redis, open_store=lambda: None)  # type: ignore[arg-type,return-value]
    with TestClient(app) as client:  # runs the lifespan: the watcher reads every 50 ms
        assert client.post("/api/events/track", json=basic_event()).status_code == 201
        real_redis.delete(events_queue(real_redis, strict).key)  # a worker took it...
        age_head_job(real_redis, strict, minutes=10)  # ...and the next one has waited 10 minutes
        response = wait_for(
            lambda: r if (r := client.post("/api/events/track", json=basic_event())).status_code == 503 else None,
            timeout_seconds=5,
            what="the API to refuse",
            interval=0.05,
        )
        assert "the queue is behind" in response.json()["error"]
        assert 1 <= int(response.headers["Retry-After"]) <= 300
        assert client.post("/api/events/batch", json=[basic_event()]).status_code == 503
        real_redis.delete(events_queue(real_redis, strict).key)  # the workers caught up
        wait_for(
            lambda: client.post("/api/events/track", json=basic_event()).status_code == 201,
            timeout_seconds=5,
            what="the API to accept again",
            interval=0.05,
        )
        assert client.post("/api/events/track", json=basic_event()).status_code == 201
