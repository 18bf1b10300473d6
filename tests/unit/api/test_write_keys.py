"""Write keys: off by default (open tracking); when configured, ingestion needs a key, and each
event belongs to the key's project."""

from __future__ import annotations

import json
from typing import Any

import pytest
from fastapi.testclient import TestClient
from prometheus_client import REGISTRY
from redis import Redis
from starlette.requests import Request

from api.write_access import GRANT_SCOPE_KEY, WriteAccess, WriteGrant
from api.write_keys import WriteKeys
from shared.event.errors import EventError
from shared.queue.jobs import events_queue, job_rows
from shared.registry.store import RegistryStore
from shared.registry.view import RegistryView
from shared.settings import Settings
from tests.support.apps import api_client
from tests.support.builders import basic_event

TRACK = "/api/events/track"
BATCH = "/api/events/batch"
KEYS = {"wk_abc": "proj789", "wk_other": "proj000"}


@pytest.fixture
def client(settings: Settings, fake_redis: Redis) -> TestClient:
    return api_client(settings.model_copy(update={"write_keys": KEYS}), fake_redis)


def queued(redis: Redis, settings: Settings) -> list[dict[str, Any]]:
    return [row for job in events_queue(redis, settings).get_jobs() for row in job_rows(job)]


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def test_without_keys_tracking_stays_open(settings: Settings, fake_redis: Redis) -> None:
    client = api_client(settings, fake_redis)
    assert client.post(TRACK, json=basic_event()).status_code == 201
    assert client.post(BATCH, json=[basic_event()]).status_code == 201


@pytest.mark.parametrize("path", [TRACK, BATCH])
@pytest.mark.parametrize(
    "headers",
    [
        {},
        bearer("wk_wrong"),
        bearer(""),
        {"X-Write-Key": "wk_abcd"},
        {"X-Write-Key": "wk_ab"},
        {"Authorization": "Basic wk_abc"},
        bearer("test-admin-token"),  # the admin token is not a write key
    ],
)
def test_missing_or_wrong_key_is_401(client: TestClient, path: str, headers: dict[str, str]) -> None:
    body: Any = basic_event() if path == TRACK else [basic_event()]
    response = client.post(path, json=body, headers=headers)
    assert response.status_code == 401
    assert set(response.json()) == {"error"} and response.headers["www-authenticate"] == "Bearer"


def rejected(endpoint: str, reason: str) -> float:
    labels = {"endpoint": endpoint, "reason": reason}
    return REGISTRY.get_sample_value("trackhouse_events_rejected_total", labels) or 0.0


def test_401s_are_counted_as_unauthorized_rejections(client: TestClient) -> None:
    before = rejected("track", "unauthorized"), rejected("batch", "unauthorized")
    client.post(TRACK, json=basic_event(), headers=bearer("wk_wrong"))
    client.post(BATCH, json=[basic_event()] * 3)
    assert rejected("track", "unauthorized") == before[0] + 1
    assert rejected("batch", "unauthorized") == before[1] + 1  # the body is never read: one per request


def test_401_comes_before_the_body_is_read(client: TestClient) -> None:
    # No parsing, no 413 or 400 for a stranger: the key is checked first.
    assert client.post(TRACK, content=b"{not json").status_code == 401
    assert client.post(TRACK, content=b"x" * 2_000_000).status_code == 401


@pytest.mark.parametrize(
    "headers", [bearer("wk_abc"), {"Authorization": "bearer  wk_abc "}, {"X-Write-Key": "wk_abc"}]
)
def test_a_valid_key_is_accepted_either_way(client: TestClient, headers: dict[str, str]) -> None:
    assert client.post(TRACK, json=basic_event(project_id="proj789"), headers=headers).status_code == 201
    assert client.post(BATCH, json=[basic_event(project_id="proj789")], headers=headers).status_code == 201


def test_keys_from_the_environment_as_json(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRACKHOUSE_WRITE_KEYS", '{"wk_abc": "proj789"}')
    settings = Settings()
    assert settings.write_keys == {"wk_abc": "proj789"}
    assert "wk_abc" not in repr(settings) and "wk_abc" not in str(settings)  # never logged
    monkeypatch.setenv("TRACKHOUSE_WRITE_KEYS", '{"wk_abc": ""}')
    with pytest.raises(ValueError, match="non-empty"):
        Settings()


def test_raw_keys_are_not_kept() -> None:
    keys = WriteKeys(KEYS)
    assert "wk_abc" not in repr(vars(keys))
    assert keys.lookup("wk_abc") is not None and keys.lookup("wk_abc ") is None
    grant = keys.lookup("wk_abc")
    assert grant is not None and grant.project == "proj789" and "wk_abc" not in grant.label
    # Labels name rate-limit buckets: the same in every process, unlike the lookup digests.
    assert grant.label == WriteKeys(KEYS).lookup("wk_abc").label  # type: ignore[union-attr]


def request_with_grant(grant: WriteGrant | None) -> Request:
    scope: dict[str, Any] = {"type": "http", "method": "POST", "path": TRACK, "headers": []}
    if grant is not None:
        scope[GRANT_SCOPE_KEY] = grant
    return Request(scope)


def test_an_environment_key_binds_or_refuses(fake_redis: Redis) -> None:
    access = WriteAccess(WriteKeys(KEYS), RegistryView(RegistryStore(fake_redis)))
    grant = WriteGrant("proj789", "label", trusted=False, rate_limit_per_second=None, overrides=False)
    row = {"project_id": ""}
    access.bind(row, request_with_grant(grant))
    assert row["project_id"] == "proj789"  # absent: the key's project
    same = {"project_id": "proj789"}
    access.bind(same, request_with_grant(grant))
    assert same["project_id"] == "proj789"
    with pytest.raises(EventError, match="project_id: does not match"):
        access.bind({"project_id": "proj000"}, request_with_grant(grant))
    untouched = {"project_id": "anything"}
    access.bind(untouched, request_with_grant(None))  # no key, no registered project: nothing to enforce
    assert untouched["project_id"] == "anything"


def test_track_binds_the_event_to_the_keys_project(
    client: TestClient, fake_redis: Redis, settings: Settings
) -> None:
    assert client.post(TRACK, json=basic_event(event_id="e1"), headers=bearer("wk_abc")).status_code == 201
    assert client.post(TRACK, json=basic_event(event_id="e2"), headers=bearer("wk_other")).status_code == 201
    assert {row["event_id"]: row["project_id"] for row in queued(fake_redis, settings)} == {
        "e1": "proj789",
        "e2": "proj000",
    }


def test_track_refuses_another_projects_event(
    client: TestClient, fake_redis: Redis, settings: Settings
) -> None:
    response = client.post(TRACK, json=basic_event(project_id="proj000"), headers=bearer("wk_abc"))
    assert response.status_code == 400
    assert response.json() == {"error": "project_id: does not match the write key's project"}
    assert queued(fake_redis, settings) == []


def test_batch_refuses_other_projects_events_one_by_one(
    client: TestClient, fake_redis: Redis, settings: Settings
) -> None:
    body = [
        basic_event(event_id="b0", project_id="proj789"),
        basic_event(event_id="b1", project_id="proj000"),
        basic_event(event_id="b2"),
    ]
    response = client.post(BATCH, content=json.dumps(body), headers={"X-Write-Key": "wk_abc"})
    assert response.status_code == 207
    results = response.json()["results"]
    assert results[1] == {"index": 1, "error": "project_id: does not match the write key's project"}
    assert [r.get("status") for r in results] == ["accepted", None, "accepted"]
    assert {row["event_id"]: row["project_id"] for row in queued(fake_redis, settings)} == {
        "b0": "proj789",
        "b2": "proj789",
    }
