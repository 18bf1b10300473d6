"""POST /api/events/batch, gzip bodies on both endpoints, and sendBeacon's text/plain."""

from __future__ import annotations

import gzip
import json
from typing import Any

import pytest
from fastapi.testclient import TestClient
from redis import Redis

from shared.queue.jobs import events_queue, job_rows
from shared.settings import Settings
from tests.support.apps import api_client
from tests.support.builders import basic_event

BATCH = "/api/events/batch"
TRACK = "/api/events/track"


@pytest.fixture
def client(settings: Settings, fake_redis: Redis) -> TestClient:
    return api_client(settings, fake_redis)


def queued_ids(redis: Redis, settings: Settings) -> list[str]:
    return [row["event_id"] for job in events_queue(redis, settings).get_jobs() for row in job_rows(job)]


def events(n: int, **overrides: Any) -> list[dict[str, Any]]:
    return [basic_event(event_id=f"b-{i}", **overrides) for i in range(n)]


@pytest.mark.parametrize("shape", ["array", "object"])
def test_all_valid_is_201_with_results_in_order(
    client: TestClient, fake_redis: Redis, settings: Settings, shape: str
) -> None:
    body: Any = events(3) if shape == "array" else {"events": events(3)}
    response = client.post(BATCH, json=body)
    assert response.status_code == 201
    assert response.json() == {
        "success": True,
        "accepted": 3,
        "dropped": 0,
        "rejected": 0,
        "results": [{"index": i, "event_id": f"b-{i}", "status": "accepted"} for i in range(3)],
    }
    assert queued_ids(fake_redis, settings) == ["b-0", "b-1", "b-2"]
    assert events_queue(fake_redis, settings).count == 1  # one request, one job


def test_ndjson(client: TestClient, fake_redis: Redis, settings: Settings) -> None:
    lines = [json.dumps(e) for e in events(2)] + ["{broken", "", json.dumps(basic_event(event_id="b-9"))]
    response = client.post(BATCH, content="\n".join(lines), headers={"Content-Type": "application/x-ndjson"})
    assert response.status_code == 207
    results = response.json()["results"]
    assert [r.get("status") for r in results] == ["accepted", "accepted", None, "accepted"]
    assert results[2]["index"] == 2 and results[2]["error"].startswith("body: malformed JSON")
    assert queued_ids(fake_redis, settings) == ["b-0", "b-1", "b-9"]


def test_valid_events_are_queued_even_when_others_fail(
    client: TestClient, fake_redis: Redis, settings: Settings
) -> None:
    body = [
        basic_event(event_id="ok-1"),
        {"link_id": "no type"},
        basic_event(event_id="ok-2", is_bounce="yes"),
    ]
    response = client.post(BATCH, json=body)
    assert response.status_code == 207
    assert response.json()["accepted"] == 1 and response.json()["rejected"] == 2
    assert response.json()["results"][1:] == [
        {"index": 1, "error": "Missing required field: event_type"},
        {"index": 2, "error": "is_bounce: must be a boolean (true or false)"},
    ]
    assert queued_ids(fake_redis, settings) == ["ok-1"]


def test_none_valid_is_400(client: TestClient, fake_redis: Redis, settings: Settings) -> None:
    response = client.post(BATCH, json=[{"event_type": 1}, {}])
    assert response.status_code == 400
    assert response.json()["error"] == "no valid events" and len(response.json()["results"]) == 2
    assert events_queue(fake_redis, settings).count == 0


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b'{"event_type": "click"}', "body: expected a JSON array of events"),
        (b"[]", "body: no events"),
        (b"[1,", "body: malformed JSON"),
    ],
)
def test_unusable_bodies_are_400(client: TestClient, content: bytes, message: str) -> None:
    response = client.post(BATCH, content=content, headers={"Content-Type": "application/json"})
    assert response.status_code == 400 and response.json()["error"].startswith(message)


def test_limits_are_413(settings: Settings, fake_redis: Redis) -> None:
    client = api_client(
        settings.model_copy(update={"batch_max_events": 5, "batch_max_bytes": 4096}), fake_redis
    )
    response = client.post(BATCH, json=events(6))
    assert response.status_code == 413 and response.json() == {"error": "events: at most 5 per batch, got 6"}
    response = client.post(BATCH, json=events(5, link_title="x" * 1000))
    assert response.status_code == 413 and response.json()["error"] == "body: larger than 4096 bytes"


@pytest.mark.parametrize("path", [TRACK, BATCH])
def test_gzip_bodies(client: TestClient, path: str) -> None:
    body = basic_event() if path == TRACK else events(3)
    response = client.post(
        path,
        content=gzip.compress(json.dumps(body).encode()),
        headers={"Content-Type": "application/json", "Content-Encoding": "gzip"},
    )
    assert response.status_code == 201


def test_a_zip_bomb_is_413_not_memory(settings: Settings, fake_redis: Redis) -> None:
    bomb = gzip.compress(b'{"event_type": "click", "pad": "' + b"0" * 50_000_000 + b'"}')
    assert len(bomb) < 100_000  # small on the wire...
    client = api_client(settings, fake_redis)
    response = client.post(TRACK, content=bomb, headers={"Content-Encoding": "gzip"})
    assert response.status_code == 413  # ...refused once it inflates past max_body_bytes
    assert response.json() == {"error": f"body: larger than {settings.max_body_bytes} bytes once inflated"}


def test_bad_gzip_and_unknown_encodings(client: TestClient) -> None:
    response = client.post(TRACK, content=b"not gzip", headers={"Content-Encoding": "gzip"})
    assert response.status_code == 400 and "not gzip data" in response.json()["error"]
    truncated = gzip.compress(json.dumps(basic_event()).encode())[:-12]
    response = client.post(TRACK, content=truncated, headers={"Content-Encoding": "gzip"})
    assert response.status_code == 400 and list(response.json()) == ["error"]
    response = client.post(TRACK, content=b"{}", headers={"Content-Encoding": "br"})
    assert response.status_code == 415 and list(response.json()) == ["error"]


def test_send_beacon_text_plain_is_json(client: TestClient, fake_redis: Redis, settings: Settings) -> None:
    response = client.post(
        TRACK,
        content=json.dumps(basic_event(event_id="beacon-1")),
        headers={"Content-Type": "text/plain;charset=UTF-8"},
    )
    assert response.status_code == 201
    assert queued_ids(fake_redis, settings) == ["beacon-1"]
