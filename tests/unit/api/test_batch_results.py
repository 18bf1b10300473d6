"""/batch results where one-pass validation and its event-by-event fallback could part ways:
invalid events among valid ones, values pydantic would coerce in lax mode, nulls, unknown
fields, duplicates; the same events as a JSON array, `{"events": [...]}` and NDJSON."""

from __future__ import annotations

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


def accepted(event_id: str) -> dict[str, Any]:
    return {"event_id": event_id, "status": "accepted"}


def rejected(error: str) -> dict[str, Any]:
    return {"error": error}


# (event, its result without "index"): the messages are the contract's, written out here.
MIXED: list[tuple[Any, dict[str, Any]]] = [
    (basic_event(event_id="m-0"), accepted("m-0")),
    (basic_event(event_id="m-1", unknown_field={"x": 1}, another=[1]), accepted("m-1")),
    (basic_event(event_id="m-2", time_spent_sec="1"), rejected("time_spent_sec: must be a number")),
    (basic_event(event_id="m-3", is_bounce=1), rejected("is_bounce: must be a boolean (true or false)")),
    (basic_event(event_id="m-4", is_qr_scan="true"), rejected("is_qr_scan: must be a boolean (true or false)")),
    (basic_event(event_id=4), rejected("event_id: must be a string")),
    (basic_event(event_id="m-6", link_id=1.0), rejected("link_id: must be a string")),
    (basic_event(event_id="m-7", conversion_value=7, time_spent_sec=2.5), accepted("m-7")),
    (basic_event(event_id="m-8", time_spent_sec=2**70), rejected("time_spent_sec: must be <= 315360000")),
    (basic_event(event_id="m-9", user_id=None, event_time=None), accepted("m-9")),
    (basic_event(event_id="m-10", event_type=None), rejected("Missing required field: event_type")),
    (basic_event(event_id="m-11", event_type="   "), rejected("event_type: must not be empty")),
    # Two problems: the first field in the contract's order is named, as for /track.
    (basic_event(event_id="m-12", utm_term=5, link_slug=5), rejected("link_slug: must be a string")),
    ("click", rejected("body: must be a JSON object")),
    ([basic_event()], rejected("body: must be a JSON object")),
    (basic_event(event_id="m-0"), accepted("m-0")),  # a duplicate is accepted; the store collapses it
]
EXPECTED = [{"index": i, **result} for i, (_, result) in enumerate(MIXED)]
ACCEPTED_IDS = [r["event_id"] for r in EXPECTED if "event_id" in r]


@pytest.fixture
def client(settings: Settings, fake_redis: Redis) -> TestClient:
    return api_client(settings, fake_redis)


def queued(redis: Redis, settings: Settings) -> list[dict[str, Any]]:
    return [row for job in events_queue(redis, settings).get_jobs() for row in job_rows(job)]


def post(client: TestClient, shape: str, items: list[Any]) -> Any:
    if shape == "ndjson":
        body = "\n".join(json.dumps(item) for item in items)
        return client.post(BATCH, content=body, headers={"Content-Type": "application/x-ndjson"})
    return client.post(BATCH, json=items if shape == "array" else {"events": items})


@pytest.mark.parametrize("shape", ["array", "object", "ndjson"])
def test_mixed_batch_gives_each_event_its_own_result(
    client: TestClient, fake_redis: Redis, settings: Settings, shape: str
) -> None:
    response = post(client, shape, [event for event, _ in MIXED])
    assert response.status_code == 207
    assert response.json() == {
        "success": False,
        "accepted": len(ACCEPTED_IDS),
        "dropped": 0,
        "rejected": len(MIXED) - len(ACCEPTED_IDS),
        "results": EXPECTED,
    }
    rows = {row["event_id"]: row for row in queued(fake_redis, settings)}
    assert [row["event_id"] for row in queued(fake_redis, settings)] == ACCEPTED_IDS
    assert rows["m-7"]["conversion_value"] == 7.0 and rows["m-7"]["time_spent_sec"] == 2.5
    assert rows["m-9"]["user_id"] == "" and rows["m-9"]["event_time"] == rows["m-9"]["received_at"]


def test_one_invalid_event_in_the_middle_leaves_the_others_as_they_were(
    client: TestClient, fake_redis: Redis, settings: Settings
) -> None:
    events = [basic_event(event_id=f"v-{i}", user_id=f"u{i}") for i in range(5)]
    alone = post(client, "array", events).json()["results"]
    rows_alone = queued(fake_redis, settings)
    fake_redis.flushall()

    events[2] = basic_event(event_id="v-2", link_tags="[not json")
    response = post(client, "array", events)
    assert response.status_code == 207
    results = response.json()["results"]
    assert results[2] == {"index": 2, "error": "link_tags: must be an array of strings or a string holding one"}
    assert results[:2] + results[3:] == alone[:2] + alone[3:]
    strip = ("received_at", "event_time")  # the receive time differs between the two requests
    assert [{k: v for k, v in row.items() if k not in strip} for row in queued(fake_redis, settings)] == [
        {k: v for k, v in row.items() if k not in strip} for i, row in enumerate(rows_alone) if i != 2
    ]


def test_duplicate_keys_take_the_last_value_as_json_decoders_do(client: TestClient) -> None:
    lines = ['{"event_type":"click","event_id":"d-0","event_type":5}', '{"event_type":5,"event_type":"click","event_id":"d-1"}']
    response = client.post(BATCH, content="\n".join(lines), headers={"Content-Type": "application/x-ndjson"})
    assert response.json()["results"] == [
        {"index": 0, "error": "event_type: must be a string"},
        {"index": 1, "event_id": "d-1", "status": "accepted"},
    ]


def test_all_valid_and_all_invalid_batches(client: TestClient) -> None:
    valid = post(client, "array", [basic_event(event_id=f"a-{i}") for i in range(3)])
    assert valid.status_code == 201
    assert valid.json()["results"] == [{"index": i, **accepted(f"a-{i}")} for i in range(3)]
    invalid = post(client, "array", [basic_event(is_bounce="no"), basic_event(event_type="")])
    assert invalid.status_code == 400
    assert invalid.json()["results"] == [
        {"index": 0, "error": "is_bounce: must be a boolean (true or false)"},
        {"index": 1, "error": "event_type: must not be empty"},
    ]
