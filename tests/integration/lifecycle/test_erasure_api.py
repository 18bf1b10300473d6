"""The erasure routes of the admin API on a real Redis: a request answered 202 and run to
`done`; suppression on and lifted at /track and /batch; a project deleted with erase=true;
bad requests answered 400 in the contract's shape, never a 5xx."""

from __future__ import annotations

from typing import Any

import pytest
from clickhouse_connect.driver.client import Client
from fastapi.testclient import TestClient
from redis import Redis

from shared.queue.jobs import events_queue, job_rows
from shared.settings import Settings
from tests.support.apps import api_client
from tests.support.audit import inserted, once_each
from tests.support.builders import basic_event
from tests.support.workers import real_writer
from worker.jobs import JobContext, bind
from worker.lifecycle import ErasureRunner
from worker.runner import make_worker
from worker.tombstones import Tombstones

pytestmark = pytest.mark.integration
ADMIN = {"Authorization": "Bearer test-admin-token"}


@pytest.fixture
def client(settings: Settings, real_redis: Redis) -> TestClient:
    api = api_client(settings, real_redis)
    with api:  # the lifespan: the registry view loads
        for team in ("acme", "other"):
            assert admin(api, "POST", "/teams", {"team_id": team, "name": team}).status_code == 201
        for project, team in (("shop", "acme"), ("blog", "acme"), ("elsewhere", "other")):
            body = {"project_id": project, "team_id": team, "name": project}
            assert admin(api, "POST", "/projects", body).status_code == 201
        yield api


def admin(client: TestClient, method: str, path: str, body: Any = None) -> Any:
    return client.request(method, f"/api/admin{path}", headers=ADMIN, **({"json": body} if body is not None else {}))


def track(client: TestClient, **fields: Any) -> Any:
    return client.post("/api/events/track", json=basic_event(**fields))


def queued_ids(redis: Redis, settings: Settings) -> list[str]:
    queue = events_queue(redis, settings)
    return sorted(r["event_id"] for job in queue.get_jobs() for r in job_rows(job))


def drain(redis: Redis, settings: Settings, store: Client) -> None:
    bind(JobContext.from_settings(real_writer(store, settings), settings, Tombstones(redis, settings)))
    make_worker(redis, settings, in_thread=True).work(burst=True)


def test_suppression_drops_the_subjects_later_events_until_lifted(
    client: TestClient, real_redis: Redis, settings: Settings
) -> None:
    body = {"subject": {"user_id": ["u-1"]}, "project_id": "shop", "suppress": True, "requested_by": "dpo"}
    answer = admin(client, "POST", "/erasures", body)
    assert answer.status_code == 202, answer.text
    erasure = answer.json()
    assert erasure["status"] == "pending" and erasure["requested_by"] == "dpo"
    assert erasure["subject_kind"] == "user_id" and erasure["values"] == 1 and "u-1" not in answer.text
    suppression = erasure["suppression_id"]
    assert [s["id"] for s in admin(client, "GET", "/suppressions").json()["suppressions"]] == [suppression]

    dropped = track(client, event_id="s-1", user_id="u-1", project_id="shop")
    assert dropped.status_code == 201 and dropped.json()["event_id"] == "s-1"
    assert dropped.headers["X-Trackhouse-Dropped"] == "suppressed"
    assert track(client, event_id="o-1", user_id="u-2", project_id="shop").status_code == 201
    assert track(client, event_id="b-1", user_id="u-1", project_id="blog").status_code == 201  # another project
    batch = client.post(
        "/api/events/batch",
        json=[basic_event(event_id="s-2", user_id="u-1", project_id="shop"), basic_event(event_id="o-2", project_id="shop")],
    ).json()
    assert batch["dropped"] == 1 and batch["accepted"] == 1
    assert batch["results"][0] == {"index": 0, "event_id": "s-2", "status": "dropped", "reason": "suppressed"}
    assert queued_ids(real_redis, settings) == ["b-1", "o-1", "o-2"]
    metrics = client.get("/metrics", headers=ADMIN).text
    assert 'trackhouse_events_dropped_total{endpoint="track",reason="suppressed"} 1.0' in metrics

    assert admin(client, "DELETE", f"/suppressions/{suppression}").status_code == 204
    assert admin(client, "GET", "/suppressions").json() == {"suppressions": []}
    assert admin(client, "DELETE", f"/suppressions/{suppression}").status_code == 404
    lifted = track(client, event_id="s-3", user_id="u-1", project_id="shop")
    assert lifted.status_code == 201 and "X-Trackhouse-Dropped" not in lifted.headers
    assert "s-3" in queued_ids(real_redis, settings)


def test_a_suppressed_ip_matches_the_address_as_sent_when_stored_truncated(
    settings: Settings, real_redis: Redis
) -> None:
    truncating = settings.model_copy(update={"ip_storage": "truncated"})
    with api_client(truncating, real_redis) as api:
        body = {"subject": {"ip_address": ["203.0.113.7"]}, "suppress": True}  # the test client's address
        assert admin(api, "POST", "/erasures", body).status_code == 202
        assert track(api, event_id="ip-1").headers.get("X-Trackhouse-Dropped") == "suppressed"


def test_deleting_a_project_with_erase_removes_its_events_only(
    client: TestClient, real_redis: Redis, migrated: Client, settings: Settings
) -> None:
    for i in range(3):
        assert track(client, event_id=f"shop-{i}", project_id="shop").status_code == 201
        assert track(client, event_id=f"blog-{i}", project_id="blog").status_code == 201
    drain(real_redis, settings, migrated)
    assert track(client, event_id="shop-queued", project_id="shop").status_code == 201  # still in Redis

    answer = admin(client, "DELETE", "/projects/shop?erase=true")
    assert answer.status_code == 202, answer.text
    erasure = answer.json()["erasure"]
    assert answer.json()["project"]["project_id"] == "shop" and erasure["subject_kind"] == "project_id"
    assert admin(client, "GET", "/projects/shop").status_code == 404
    ErasureRunner(real_redis, settings, migrated).run_open()
    done = admin(client, "GET", f"/erasures/{erasure['id']}").json()
    assert (done["status"], done["rows_deleted"], done["queued_removed"]) == ("done", 3, 1)
    assert [e["id"] for e in admin(client, "GET", "/erasures").json()["erasures"]] == [erasure["id"]]
    assert queued_ids(real_redis, settings) == []
    assert inserted(migrated, settings.clickhouse_database) == once_each([f"blog-{i}" for i in range(3)])


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        ({}, "subject"),
        ({"subject": {}}, "exactly one"),
        ({"subject": {"user_id": ["a"], "visitor_id": ["b"]}}, "exactly one"),
        ({"subject": {"user_id": [f"u{i}" for i in range(1001)]}}, "1000"),
        ({"subject": {"user_id": []}}, "at least 1"),
        ({"subject": {"user_id": [""]}}, "at least 1"),
        ({"subject": {"user_id": [7]}}, "string"),
        ({"subject": {"name": ["x"]}}, "subject"),
        ({"subject": {"user_id": ["a"]}, "project_id": "nope"}, "not registered"),
        ({"subject": {"user_id": ["a"]}, "team_id": "nope"}, "not registered"),
        ({"subject": {"user_id": ["a"]}, "team_id": "other", "project_id": "shop"}, "belongs to team"),
        ({"subject": {"user_id": ["a"]}, "wipe": True}, "wipe"),
    ],
)
def test_bad_erasure_requests_are_400(client: TestClient, real_redis: Redis, body: Any, problem: str) -> None:
    answer = admin(client, "POST", "/erasures", body)
    assert answer.status_code == 400, answer.text
    assert problem in answer.json()["error"]
    assert not real_redis.exists("trackhouse:erasure:log")


def test_erasure_routes_need_the_admin_token(client: TestClient) -> None:
    body = {"subject": {"user_id": ["a"]}}
    assert client.post("/api/admin/erasures", json=body).status_code == 401
    assert client.get("/api/admin/erasures").status_code == 401
    assert client.delete("/api/admin/suppressions/sup_x").status_code == 401
    assert admin(client, "GET", "/erasures/er_nope").status_code == 404
    assert client.post("/api/admin/erasures", content=b"{", headers=ADMIN).status_code == 400
