"""Registry keys on the ingestion path, against a real Redis (and chDB where events are stored):
a write key binds events to its project and team, its origins are checked, a project may
require its key, keys carry their own rate, and a server-key copy of an event id wins over a
public one (the squatting replay of the security review)."""

from __future__ import annotations

from typing import Any

import pytest
from clickhouse_connect.driver.client import Client
from fastapi.testclient import TestClient
from redis import Redis

from shared.queue.jobs import events_queue, job_rows
from shared.settings import Settings
from tests.support.apps import api_client
from tests.support.builders import basic_event
from tests.support.workers import drain, real_writer

pytestmark = pytest.mark.integration
TRACK = "/api/events/track"
BATCH = "/api/events/batch"
ADMIN = {"Authorization": "Bearer test-admin-token"}


def admin(client: TestClient, path: str, body: dict[str, Any]) -> dict[str, Any]:
    response = client.post(f"/api/admin{path}", json=body, headers=ADMIN)
    assert response.status_code == 201, response.text
    answer: dict[str, Any] = response.json()
    return answer


def key(client: TestClient, project: str, kind: str = "write", **extra: Any) -> str:
    return str(admin(client, f"/projects/{project}/keys", {"kind": kind, "name": f"{kind} key", **extra})["key"])


@pytest.fixture
def client(settings: Settings, real_redis: Redis, migrated: Client) -> TestClient:
    client = api_client(settings, real_redis, migrated)
    admin(client, "/teams", {"team_id": "team-a", "name": "A"})
    admin(client, "/teams", {"team_id": "team-b", "name": "B"})
    shop = {"project_id": "shop", "team_id": "team-a", "name": "Shop", "domains": ["shop.example", "*.shop.example"]}
    admin(client, "/projects", shop)
    admin(client, "/projects", {"project_id": "vault", "team_id": "team-b", "name": "Vault", "require_write_key": True})
    return client


def queued(redis: Redis, settings: Settings) -> dict[str, dict[str, Any]]:
    return {row["event_id"]: row for job in events_queue(redis, settings).get_jobs() for row in job_rows(job)}


def test_a_write_key_binds_every_event_to_its_project_and_team(
    client: TestClient, real_redis: Redis, settings: Settings
) -> None:
    shop = key(client, "shop")
    lying = {"team_id": "team-b", "project_id": "vault"}
    assert client.post(TRACK, json=basic_event(event_id="one", **lying), headers={"X-Write-Key": shop}).status_code == 201
    batch = [basic_event(event_id="two", **lying), basic_event(event_id="three")]
    assert client.post(BATCH, json=batch, headers={"Authorization": f"Bearer {shop}"}).status_code == 201
    rows = queued(real_redis, settings)
    assert {(r["team_id"], r["project_id"], r["trusted"]) for r in rows.values()} == {("team-a", "shop", False)}
    assert sorted(rows) == ["one", "three", "two"]


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        ({"Origin": "https://shop.example"}, 201),
        ({"Origin": "https://www.shop.example"}, 201),  # *.shop.example
        ({"Origin": "http://a.b.shop.example:8080"}, 201),
        ({"Referer": "https://shop.example/cart?x=1"}, 201),  # no Origin: the Referer decides
        ({}, 201),  # a server: neither header
        ({"Origin": "https://evil.example"}, 403),
        ({"Origin": "https://shop.example.evil.example"}, 403),
        ({"Origin": "https://evilshop.example"}, 403),
        ({"Origin": "null"}, 403),  # a sandboxed frame or file:// page
        ({"Referer": "https://evil.example/shop.example"}, 403),
        ({"Origin": "https://evil.example", "Referer": "https://shop.example/"}, 403),  # Origin first
    ],
)
def test_a_write_key_is_refused_from_a_page_outside_its_projects_domains(
    client: TestClient, headers: dict[str, str], status: int
) -> None:
    shop = key(client, "shop")
    for path, body in ((TRACK, basic_event()), (BATCH, [basic_event()])):
        response = client.post(path, json=body, headers={"X-Write-Key": shop, **headers})
        assert response.status_code == status, (path, response.text)
        if status == 403:
            assert response.json() == {"error": "origin not allowed for this project"}


def test_a_server_key_is_not_bound_to_pages_and_marks_its_events_trusted(
    client: TestClient, real_redis: Redis, settings: Settings
) -> None:
    server = key(client, "shop", "server")
    headers = {"X-Write-Key": server, "Origin": "https://evil.example"}
    assert client.post(TRACK, json=basic_event(event_id="s1"), headers=headers).status_code == 201
    # A client cannot claim trust for itself: the field is not the client's.
    forged = basic_event(event_id="p1", trusted=True, project_id="shop")
    assert client.post(TRACK, json=forged).status_code == 201
    rows = queued(real_redis, settings)
    assert rows["s1"]["trusted"] is True and rows["p1"]["trusted"] is False


def test_a_project_may_require_its_key(client: TestClient, real_redis: Redis, settings: Settings) -> None:
    response = client.post(TRACK, json=basic_event(project_id="vault"))
    assert response.status_code == 401 and response.json()["error"].startswith("project_id:")
    mixed = client.post(BATCH, json=[basic_event(event_id="open"), basic_event(event_id="no", project_id="vault")])
    assert mixed.status_code == 207
    assert [r.get("status", "rejected") for r in mixed.json()["results"]] == ["accepted", "rejected"]
    vault = key(client, "vault")
    assert client.post(TRACK, json=basic_event(event_id="yes", project_id="vault"), headers={"X-Write-Key": vault}).status_code == 201
    # Another project's key does not open it: its events go to that key's project instead.
    shop = key(client, "shop")
    assert client.post(TRACK, json=basic_event(event_id="moved", project_id="vault"), headers={"X-Write-Key": shop}).status_code == 201
    rows = queued(real_redis, settings)
    assert rows["yes"]["project_id"] == "vault" and rows["yes"]["team_id"] == "team-b"
    assert rows["moved"]["project_id"] == "shop" and "no" not in rows


def test_a_keyless_event_naming_a_registered_project_gets_its_team(
    client: TestClient, real_redis: Redis, settings: Settings
) -> None:
    assert client.post(TRACK, json=basic_event(event_id="k", project_id="shop", team_id="team-b")).status_code == 201
    assert client.post(TRACK, json=basic_event(event_id="u", project_id="unregistered", team_id="x")).status_code == 201
    rows = queued(real_redis, settings)
    assert (rows["k"]["team_id"], rows["u"]["team_id"]) == ("team-a", "x")


@pytest.mark.parametrize("kind", ["read", "stats"])
def test_unknown_revoked_and_read_keys_cannot_write(client: TestClient, kind: str) -> None:
    assert client.post(TRACK, json=basic_event(), headers={"X-Write-Key": "thw_" + "x" * 32}).status_code == 401
    reader = key(client, "shop", kind)
    assert client.post(TRACK, json=basic_event(), headers={"X-Write-Key": reader}).status_code == 401
    created = admin(client, "/projects/shop/keys", {"kind": "write", "name": "leaked"})
    assert client.post(TRACK, json=basic_event(), headers={"X-Write-Key": created["key"]}).status_code == 201
    assert client.delete(f"/api/admin/keys/{created['id']}", headers=ADMIN).status_code == 204
    refused = client.post(TRACK, json=basic_event(), headers={"X-Write-Key": created["key"]})
    assert refused.status_code == 401 and refused.json() == {"error": "Invalid write key"}


def test_deleting_a_project_revokes_its_keys(client: TestClient) -> None:
    shop = key(client, "shop")
    assert client.delete("/api/admin/projects/shop", headers=ADMIN).status_code == 200
    assert client.post(TRACK, json=basic_event(), headers={"X-Write-Key": shop}).status_code == 401
    assert client.get("/api/admin/keys?project_id=shop", headers=ADMIN).json() == {"keys": []}


def test_a_key_with_its_own_rate_is_limited_alone(client: TestClient) -> None:
    slow = key(client, "shop", rate_limit_per_second=2)
    other = key(client, "shop")
    statuses = [client.post(TRACK, json=basic_event(), headers={"X-Write-Key": slow}) for _ in range(4)]
    assert [r.status_code for r in statuses] == [201, 201, 429, 429]  # a burst of one second's worth
    assert int(statuses[-1].headers["Retry-After"]) >= 1
    assert all(client.post(TRACK, json=basic_event(), headers={"X-Write-Key": other}).status_code == 201 for _ in range(5))


def test_the_server_copy_of_a_squatted_id_is_the_one_stored_and_counted(
    client: TestClient, real_redis: Redis, settings: Settings, migrated: Client
) -> None:
    """The review's replay: with the site's public key, `order-2001` worth 0 under the
    attacker's e-mail, 1.5 s (here: before) the shop's server sends the real 499.0 sale."""
    public, server = key(client, "shop"), key(client, "shop", "server")
    sale = {"event_id": "order-2001", "event_type": "conversion", "conversion_type": "purchase", "event_time": "2026-11-20T10:00:00Z"}
    squat = {**sale, "conversion_value": 0, "user_email": "attacker@evil.example"}
    real = {**sale, "conversion_value": 499.0, "user_email": "buyer@shop.example"}
    later = {**sale, "conversion_value": 1, "user_email": "late@evil.example"}
    assert client.post(TRACK, json=basic_event(**squat), headers={"X-Write-Key": public, "Origin": "https://shop.example"}).status_code == 201
    drain(real_redis, settings, real_writer(migrated, settings))  # the squat is stored first
    assert client.post(TRACK, json=basic_event(**real), headers={"X-Write-Key": server}).status_code == 201
    assert client.post(TRACK, json=basic_event(**later), headers={"X-Write-Key": public}).status_code == 201
    drain(real_redis, settings, real_writer(migrated, settings))
    migrated.command(f"OPTIMIZE TABLE {settings.clickhouse_database}.events FINAL")  # merged or not: the same
    stored = client.get("/api/events/order-2001", headers=ADMIN).json()
    assert (stored["conversion_value"], stored["user_email"], stored["trusted"]) == (499.0, "buyer@shop.example", True)
    body = {"metrics": ["conversions", "conversion_value"], "date_range": ["2026-11-01", "2026-11-30"]}
    answer = client.post("/api/query", json=body, headers=ADMIN).json()
    assert answer["results"][0]["metrics"] == [1, 499.0]  # conversions, conversion_value
