"""POST /api/events/track through the HTTP layer, with fakeredis as the queue."""

from __future__ import annotations

import json
import zlib
from typing import Any

import fakeredis
import pytest
from fastapi.testclient import TestClient
from redis import Redis
from redis.backoff import NoBackoff
from redis.retry import Retry
from rq.job import Job
from rq.serializers import JSONSerializer  # stdlib json reads our jobs too

from shared.queue.jobs import INSERT_EVENTS, events_queue, job_rows
from shared.queue.redis_server import free_port
from shared.settings import Settings
from shared.store.schema import EVENT_COLUMNS
from tests.support.apps import api_client
from tests.support.builders import basic_event, detailed_event

TRACK = "/api/events/track"


@pytest.fixture
def client(settings: Settings, fake_redis: Redis) -> TestClient:
    return api_client(settings, fake_redis)


def queued_rows(redis: Redis, settings: Settings) -> list[dict[str, Any]]:
    queue = events_queue(redis, settings)
    rows: list[dict[str, Any]] = []
    for job in queue.get_jobs():
        assert job.func_name == INSERT_EVENTS
        rows.extend(job_rows(job))
    return rows


def test_201_body_is_the_contract_and_the_event_is_queued(
    client: TestClient, fake_redis: Redis, settings: Settings
) -> None:
    response = client.post(
        TRACK, json=detailed_event(), headers={"User-Agent": "pytest-ua", "Referer": "https://r/"}
    )
    assert response.status_code == 201
    body = response.json()
    assert set(body) == {"success", "message", "event_id"}
    assert body["success"] is True and body["message"] == "Event tracked successfully"
    [row] = queued_rows(fake_redis, settings)
    assert row["event_id"] == body["event_id"]
    assert row["event_type"] == "conversion"
    assert row["ip_address"] == "203.0.113.7"  # the client address, as no ip_address was sent
    assert row["user_agent"] == "pytest-ua" and row["referrer"] == "https://r/"


def test_client_event_id_is_echoed(client: TestClient) -> None:
    assert client.post(TRACK, json=basic_event(event_id="client-id-1")).json()["event_id"] == "client-id-1"


def test_job_payload_is_json_never_pickle(client: TestClient, fake_redis: Redis, settings: Settings) -> None:
    event_id = client.post(TRACK, json=basic_event()).json()["event_id"]
    [job_id] = events_queue(fake_redis, settings).get_job_ids()
    raw = fake_redis.hget(f"rq:job:{job_id}", "data")
    assert isinstance(raw, bytes)
    func, _instance, args, _kwargs = json.loads(zlib.decompress(raw))
    assert func == INSERT_EVENTS and args[0] == list(EVENT_COLUMNS)
    assert args[1][EVENT_COLUMNS.index("event_id")] == [event_id]  # column-oriented
    assert (
        job_rows(Job.fetch(job_id, connection=fake_redis, serializer=JSONSerializer))[0]["event_id"]
        == event_id
    )


def test_job_carries_retry_and_ttls(client: TestClient, fake_redis: Redis, settings: Settings) -> None:
    client.post(TRACK, json=basic_event())
    [job] = events_queue(fake_redis, settings).get_jobs()
    assert job.retries_left == len(settings.retry_intervals_seconds)
    assert job.result_ttl == settings.result_ttl_seconds
    assert job.failure_ttl == settings.failure_ttl_seconds


def test_missing_event_type(client: TestClient) -> None:
    response = client.post(TRACK, json={"link_id": "abc"})
    assert response.status_code == 400
    assert response.json() == {"error": "Missing required field: event_type"}


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"{not json", "body: malformed JSON"),
        (b"", "body: empty; expected a JSON object"),
        (b"[1, 2]", "body: must be a JSON object"),
        (b'{"event_type": "click", "time_spent_sec": NaN}', "body: malformed JSON"),
        (b'{"event_type": "\xff"}', "body: not valid UTF-8"),
        (b'{"event_type": "click", "is_bounce": "no"}', "is_bounce: must be a boolean (true or false)"),
        (
            b'{"event_type": "click", "event_time": "31/12/2024"}',
            "event_time: must be an ISO-8601 date string",
        ),
    ],
)
def test_bad_input_is_400_in_the_contract_shape(client: TestClient, content: bytes, message: str) -> None:
    response = client.post(TRACK, content=content, headers={"Content-Type": "application/json"})
    assert response.status_code == 400
    body = response.json()
    assert list(body) == ["error"] and body["error"].startswith(message)


def test_bad_input_queues_nothing(client: TestClient, fake_redis: Redis, settings: Settings) -> None:
    client.post(TRACK, json={"event_type": 5})
    assert events_queue(fake_redis, settings).count == 0


def test_body_over_the_limit_is_413(settings: Settings, fake_redis: Redis) -> None:
    client = api_client(settings.model_copy(update={"max_body_bytes": 2048}), fake_redis)
    response = client.post(TRACK, json=basic_event(link_title="x" * 4096))
    assert response.status_code == 413
    assert response.json() == {"error": "body: larger than 2048 bytes"}


def test_redis_down_gives_the_500_body(settings: Settings) -> None:
    # No retries: redis-py's default back-off would spend seconds on a port nobody listens on.
    unreachable = Redis(port=free_port(), socket_connect_timeout=0.5, retry=Retry(NoBackoff(), 0))
    response = api_client(settings, unreachable).post(TRACK, json=basic_event())
    assert response.status_code == 500
    body = response.json()
    assert body["error"] == "Failed to track event"
    assert "ConnectionError" in body["details"]


def test_a_failed_enqueue_gives_the_500_body_and_queues_nothing(settings: Settings) -> None:
    """Redis answers the day's visitor salt (kept in memory afterwards), then goes away: the
    failure is the enqueue itself, and the client must not get a 201 for it."""
    server = fakeredis.FakeServer()
    redis = fakeredis.FakeRedis(server=server)
    client = api_client(settings, redis)
    assert client.post(TRACK, json=basic_event()).status_code == 201  # salt fetched and cached
    server.connected = False
    response = client.post(TRACK, json=basic_event(event_id="never-queued"))
    assert response.status_code == 500
    assert response.json()["error"] == "Failed to track event" and response.json()["details"]
    batch = client.post("/api/events/batch", json=[basic_event(event_id="never-queued-2")])
    assert batch.status_code == 500
    assert batch.json()["error"] == "Failed to track event" and batch.json()["details"]
    server.connected = True
    assert events_queue(redis, settings).count == 1  # only the first event


def test_framework_errors_keep_the_error_shape(client: TestClient) -> None:
    response = client.put(TRACK, json={})
    assert response.status_code == 405 and list(response.json()) == ["error"]
    response = client.get("/nowhere")
    assert response.status_code == 404 and list(response.json()) == ["error"]


def test_read_endpoint_is_disabled_without_a_token(settings: Settings, fake_redis: Redis) -> None:
    client = api_client(settings.model_copy(update={"admin_token": None}), fake_redis)
    response = client.get("/api/events/x", headers={"Authorization": "Bearer anything"})
    assert response.status_code == 403 and "TRACKHOUSE_ADMIN_TOKEN" in response.json()["error"]


@pytest.mark.parametrize(
    "header", [None, "Bearer wrong", "Basic dGVzdC1hZG1pbi10b2tlbg==", "test-admin-token"]
)
def test_read_endpoint_needs_the_admin_token(client: TestClient, header: str | None) -> None:
    headers = {"Authorization": header} if header else {}
    response = client.get("/api/events/x", headers=headers)
    assert response.status_code == 401 and response.json()["error"].startswith("Unauthorized")


def test_healthz(client: TestClient) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}


def test_readyz_reports_a_missing_store(client: TestClient) -> None:
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["redis"] == "ok" and response.json()["store"].startswith("down")


def test_openapi_documents_the_real_shapes(client: TestClient) -> None:
    operation = client.get("/openapi.json").json()["paths"][TRACK]["post"]
    schema = operation["requestBody"]["content"]["application/json"]["schema"]
    assert schema["required"] == ["event_type"]
    assert {"event_id", "event_attributes", "link_tags", "conversion_value"} <= set(schema["properties"])
    assert set(operation["responses"]) >= {"201", "400", "413", "500"}
    assert "422" not in operation["responses"]


def test_a_blank_admin_token_is_no_token() -> None:
    # compose passes TRACKHOUSE_ADMIN_TOKEN= when unset: an empty bearer must not open anything
    assert Settings(admin_token="").admin_token is None
    assert Settings(admin_token="  ").admin_token is None
