"""Prometheus metrics: the queue collector against fakeredis, and the API's counters.

Metrics are process-global (one registry per process), so tests assert on deltas.
"""

from __future__ import annotations

import gzip
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from prometheus_client import REGISTRY
from redis import Redis
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.retry import Retry
from rq.job import Job
from rq.utils import utcformat

from api.body import BodyTooLarge, UnsupportedEncoding
from api.routes.metrics import rejection_reason
from shared.event.errors import EventError, MissingFieldError
from shared.event.parse import RequestContext, parse_event
from shared.metrics import REASONS, QueueCollector
from shared.queue.jobs import enqueue_rows, events_queue
from shared.queue.redis_server import free_port
from shared.settings import Settings
from tests.support.apps import api_client
from tests.support.builders import basic_event

TRACK = "/api/events/track"
BATCH = "/api/events/batch"


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def delta(name: str, **labels: str) -> Callable[[], float]:
    """How much `name` grew since this call."""
    before = sample(name, **labels)
    return lambda: sample(name, **labels) - before


def unreachable_redis() -> Redis:
    # No retries: redis-py's default back-off would spend seconds on a port nobody listens on.
    return Redis(port=free_port(), socket_connect_timeout=0.5, retry=Retry(NoBackoff(), 0))


def collected(collector: QueueCollector) -> dict[str, float]:
    return {s.name: s.value for metric in collector.collect() for s in metric.samples}


@pytest.fixture
def client(settings: Settings, fake_redis: Redis) -> Iterator[TestClient]:
    with api_client(settings, fake_redis) as client:  # runs the lifespan: the committer is closed
        yield client


def rows(count: int) -> list[dict[str, Any]]:
    context = RequestContext(received_at=datetime.now(UTC))
    return [parse_event(basic_event(), context) for _ in range(count)]


# --- the queue collector ---


def test_empty_queue_reads_zero(fake_redis: Redis, settings: Settings) -> None:
    assert collected(QueueCollector(fake_redis, settings.queue_name)) == {
        "trackhouse_redis_up": 1,
        "trackhouse_queue_jobs": 0,
        "trackhouse_queue_events": 0,
        "trackhouse_queue_oldest_job_age_seconds": 0,
        "trackhouse_retry_scheduled_jobs": 0,
        "trackhouse_dead_letter_jobs": 0,
    }


def test_depth_events_and_oldest_age(fake_redis: Redis, settings: Settings) -> None:
    queue = events_queue(fake_redis, settings)
    oldest = enqueue_rows(queue, rows(3), settings)
    enqueue_rows(queue, rows(5), settings)
    enqueue_rows(queue, rows(1), settings)
    # Backdate the head job: the age comes from its enqueued_at, not from the others.
    fake_redis.hset(
        Job.redis_job_namespace_prefix + oldest.id,
        "enqueued_at",
        utcformat(datetime.now(UTC) - timedelta(seconds=42)),
    )
    values = collected(QueueCollector(fake_redis, settings.queue_name))
    assert values["trackhouse_queue_jobs"] == 3
    assert values["trackhouse_queue_events"] == 9
    assert 41 <= values["trackhouse_queue_oldest_job_age_seconds"] < 60


def test_deep_queue_events_are_estimated_from_a_bounded_read(
    fake_redis: Redis, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("shared.metrics._SAMPLE_JOBS", 4)
    key = events_queue(fake_redis, settings).key
    fake_redis.rpush(key, *[f"{i:032x}-n10" for i in range(4)], *[f"{i:032x}-n1" for i in range(4, 8)])
    values = collected(QueueCollector(fake_redis, settings.queue_name))
    assert values["trackhouse_queue_jobs"] == 8
    assert values["trackhouse_queue_events"] == 80  # the head's 10 per job, extrapolated
    assert values["trackhouse_queue_oldest_job_age_seconds"] == 0  # no job hashes: no age known


def test_head_job_gone_takes_the_next_ones_age(fake_redis: Redis, settings: Settings) -> None:
    queue = events_queue(fake_redis, settings)
    gone = enqueue_rows(queue, rows(1), settings)
    enqueue_rows(queue, rows(1), settings)
    fake_redis.delete(Job.redis_job_namespace_prefix + gone.id)  # e.g. taken by a worker meanwhile
    values = collected(QueueCollector(fake_redis, settings.queue_name))
    assert values["trackhouse_queue_jobs"] == 2
    assert 0 <= values["trackhouse_queue_oldest_job_age_seconds"] < 10


def test_scheduled_retries_and_dead_letters(fake_redis: Redis, settings: Settings) -> None:
    queue = events_queue(fake_redis, settings)
    now = time.time()
    fake_redis.zadd(queue.scheduled_job_registry.key, {"a-n1": now + 30, "b-n1": now + 60})
    failed = queue.failed_job_registry.key
    fake_redis.zadd(failed, {"c-n1": now + 3600, "d-n1": now + 7200, "expired-n1": now - 1})
    values = collected(QueueCollector(fake_redis, settings.queue_name))
    assert values["trackhouse_retry_scheduled_jobs"] == 2
    assert values["trackhouse_dead_letter_jobs"] == 2  # the expired entry is not a dead letter any more


def test_redis_down_is_reported_not_raised() -> None:
    assert collected(QueueCollector(unreachable_redis(), "q")) == {"trackhouse_redis_up": 0}


# --- rejection reasons ---


@pytest.mark.parametrize(
    ("exc", "reason"),
    [
        (MissingFieldError("event_type"), "missing_field"),
        (EventError("is_bounce", "must be a boolean (true or false)"), "invalid_field"),
        (EventError("body", "malformed JSON (unexpected character)"), "malformed_json"),
        (BodyTooLarge("body: larger than 1024 bytes"), "too_large"),
        (UnsupportedEncoding("Content-Encoding 'br' is not supported"), "unsupported_encoding"),
        (RedisConnectionError("down"), "queue_unavailable"),
    ],
)
def test_rejection_reason(exc: Exception, reason: str) -> None:
    assert rejection_reason(exc) == reason
    assert reason in REASONS


# --- the API's counters ---


def test_track_accepted(client: TestClient) -> None:
    accepted = delta("trackhouse_events_accepted_total", endpoint="track")
    jobs = delta("trackhouse_enqueued_job_events_count")
    assert client.post(TRACK, json=basic_event()).status_code == 201
    assert client.post(TRACK, json=basic_event()).status_code == 201
    assert accepted() == 2
    assert jobs() == 2  # sequential requests: one job each


@pytest.mark.parametrize(
    ("send", "status", "reason"),
    [
        ({"json": {"link_id": "x"}}, 400, "missing_field"),
        ({"json": basic_event(is_bounce="yes")}, 400, "invalid_field"),
        ({"content": b"{not json", "headers": {"Content-Type": "application/json"}}, 400, "malformed_json"),
        ({"content": b"{" + b" " * 2_000_000 + b"}"}, 413, "too_large"),
        ({"content": b"{}", "headers": {"Content-Encoding": "br"}}, 415, "unsupported_encoding"),
    ],
)
def test_track_rejected_by_reason(
    client: TestClient, send: dict[str, object], status: int, reason: str
) -> None:
    rejected = delta("trackhouse_events_rejected_total", endpoint="track", reason=reason)
    accepted = delta("trackhouse_events_accepted_total", endpoint="track")
    assert client.post(TRACK, **send).status_code == status  # type: ignore[arg-type]
    assert rejected() == 1
    assert accepted() == 0


def test_track_queue_down(settings: Settings) -> None:
    rejected = delta("trackhouse_events_rejected_total", endpoint="track", reason="queue_unavailable")
    assert api_client(settings, unreachable_redis()).post(TRACK, json=basic_event()).status_code == 500
    assert rejected() == 1


def test_batch_counts_each_event(client: TestClient) -> None:
    accepted = delta("trackhouse_events_accepted_total", endpoint="batch")
    missing = delta("trackhouse_events_rejected_total", endpoint="batch", reason="missing_field")
    invalid = delta("trackhouse_events_rejected_total", endpoint="batch", reason="invalid_field")
    sizes = delta("trackhouse_batch_request_events_count")
    size_sum = delta("trackhouse_batch_request_events_sum")
    events = [basic_event(), basic_event(), {"link_id": "x"}, basic_event(is_qr_scan=1)]
    assert client.post(BATCH, json=events).status_code == 207
    assert (accepted(), missing(), invalid()) == (2, 1, 1)
    assert (sizes(), size_sum()) == (1, 4)


def test_batch_bad_ndjson_line_and_unreadable_body(client: TestClient) -> None:
    malformed = delta("trackhouse_events_rejected_total", endpoint="batch", reason="malformed_json")
    ndjson = b'{"event_type": "click"}\n{oops\n'
    response = client.post(BATCH, content=ndjson, headers={"Content-Type": "application/x-ndjson"})
    assert response.status_code == 207
    assert malformed() == 1
    gz = gzip.compress(b"[]")[:-4]  # truncated gzip: the body as a whole is unreadable
    headers = {"Content-Encoding": "gzip", "Content-Type": "application/json"}
    assert client.post(BATCH, content=gz, headers=headers).status_code == 400
    assert malformed() == 2


def test_metrics_endpoint_serves_text(client: TestClient, fake_redis: Redis, settings: Settings) -> None:
    enqueue_rows(events_queue(fake_redis, settings), rows(4), settings)
    client.post(TRACK, json=basic_event())
    assert client.get("/metrics").status_code == 401  # a token is configured: scrapers send it
    response = client.get("/metrics", headers={"Authorization": "Bearer test-admin-token"})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    text = response.text
    for name in (
        'trackhouse_events_accepted_total{endpoint="track"}',
        'trackhouse_events_rejected_total{endpoint="batch",reason="queue_unavailable"}',
        "trackhouse_enqueue_duration_seconds_bucket",
        "trackhouse_queue_jobs 2.0",
        "trackhouse_queue_events 5.0",
        "trackhouse_queue_oldest_job_age_seconds",
        "trackhouse_dead_letter_jobs 0.0",
        "trackhouse_rows_inserted_total",
        "process_cpu_seconds_total",
        "python_info",
    ):
        assert name in text, name
    assert "_created" not in text


def test_metrics_are_open_without_a_configured_token(settings: Settings, fake_redis: Redis) -> None:
    client = api_client(settings.model_copy(update={"admin_token": None}), fake_redis)
    assert client.get("/metrics").status_code == 200
