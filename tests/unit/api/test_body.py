"""Reading bodies: the NDJSON bomb (count before work) and multi-member gzip."""

from __future__ import annotations

import gzip
import json
import tracemalloc

import pytest
from fastapi.testclient import TestClient
from redis import Redis

from api.body import BodyTooLarge, split_batch
from shared.event.errors import EventError
from shared.queue.jobs import events_queue, job_rows
from shared.settings import Settings
from tests.support.apps import api_client
from tests.support.builders import basic_event

BATCH = "/api/events/batch"
TRACK = "/api/events/track"
NDJSON = {"Content-Type": "application/x-ndjson", "Content-Encoding": "gzip"}


@pytest.fixture
def client(settings: Settings, fake_redis: Redis) -> TestClient:
    return api_client(settings, fake_redis)


def queued_ids(redis: Redis, settings: Settings) -> list[str]:
    return [row["event_id"] for job in events_queue(redis, settings).get_jobs() for row in job_rows(job)]


def test_the_ndjson_bomb_is_413_without_decoding_its_lines(client: TestClient, settings: Settings) -> None:
    # The reported attack: ~1 KB on the wire, 524,288 bad lines once inflated. Before the fix
    # every line was decoded (an exception with its traceback kept per line: ~1 GB here).
    lines = 524_288
    bomb = gzip.compress(b"x\n" * lines)
    assert len(bomb) < 2048
    tracemalloc.start()
    try:
        response = client.post(BATCH, content=bomb, headers=NDJSON)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert response.status_code == 413
    assert response.json() == {"error": f"events: at most {settings.batch_max_events} per batch"}
    inflated = 2 * lines
    assert peak < 8 * inflated  # a few copies of the body, nothing per line


def test_ndjson_count_boundary() -> None:
    # max_events bad lines are each reported, as small values; one more refuses the body.
    results = split_batch(b"x\n\n  \r\n" * 3, "application/x-ndjson", 3)
    assert [type(item) for item in results] == [EventError] * 3
    assert all(item.__traceback__ is None and item.__context__ is None for item in results)
    with pytest.raises(BodyTooLarge):
        split_batch(b"x\n" * 4, "application/x-ndjson", 3)


def test_every_gzip_member_is_inflated(client: TestClient, fake_redis: Redis, settings: Settings) -> None:
    # `cat a.gz b.gz`: before the fix the second member was dropped (2 of 4 events accepted).
    first = "\n".join(json.dumps(basic_event(event_id=f"m-{i}")) for i in (0, 1)) + "\n"
    second = "\n".join(json.dumps(basic_event(event_id=f"m-{i}")) for i in (2, 3))
    body = gzip.compress(first.encode()) + gzip.compress(second.encode())
    response = client.post(BATCH, content=body, headers=NDJSON)
    assert response.status_code == 201 and response.json()["accepted"] == 4
    assert queued_ids(fake_redis, settings) == ["m-0", "m-1", "m-2", "m-3"]


def test_one_event_split_across_members(client: TestClient) -> None:
    body = gzip.compress(b'{"event_type": "click", ') + gzip.compress(b'"event_id": "split-1"}')
    response = client.post(TRACK, content=body, headers={"Content-Encoding": "gzip"})
    assert response.status_code == 201 and response.json()["event_id"] == "split-1"


def test_zero_padding_is_ignored_but_trailing_garbage_is_400(client: TestClient) -> None:
    member = gzip.compress(json.dumps(basic_event()).encode())
    padded = client.post(TRACK, content=member + b"\x00" * 512, headers={"Content-Encoding": "gzip"})
    assert padded.status_code == 201
    garbage = client.post(TRACK, content=member + b"junk", headers={"Content-Encoding": "gzip"})
    assert garbage.status_code == 400 and "not gzip data" in garbage.json()["error"]


def test_members_add_up_to_the_inflated_cap(settings: Settings, fake_redis: Redis) -> None:
    # The cap holds across members: many small members cannot add up past it.
    client = api_client(settings.model_copy(update={"max_body_bytes": 4096}), fake_redis)
    body = gzip.compress(b" " * 3000) * 2 + gzip.compress(json.dumps(basic_event()).encode())
    response = client.post(TRACK, content=body, headers={"Content-Encoding": "gzip"})
    assert response.status_code == 413
    assert response.json() == {"error": "body: larger than 4096 bytes once inflated"}
