"""Registry read keys on real chDB and a real Redis: a team key reads its team's projects and
never a row of another team, through any dimension, filter, export, lookup or error; a stats
key reads cards and breakdowns but no personal data, no export, no event by id, and URLs
without their query strings. Expected numbers come from the fixture below."""

from __future__ import annotations

import csv
import io
import uuid
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
from clickhouse_connect.driver.client import Client
from fastapi.testclient import TestClient
from redis import Redis

from shared.settings import Settings
from shared.store.migrate import migrate
from tests.support.apps import api_client
from tests.support.builders import detailed_event
from tests.support.stored import store_events

pytestmark = pytest.mark.integration
ADMIN = {"Authorization": "Bearer admin-token-for-tests"}
RANGE = ["2026-11-01", "2026-11-30"]
PROJECTS = {"shop": "team-a", "blog": "team-a", "vault": "team-b"}
COUNTRIES = ("DE", "FR", "US")


def _event(project: str, i: int) -> dict[str, Any]:
    return detailed_event(
        event_id=f"{project}-{i}",
        event_time=f"2026-11-{1 + i % 20:02d}T12:00:00Z",
        team_id=PROJECTS[project],
        project_id=project,
        link_id=f"{project}-link-{i % 2}",
        country=COUNTRIES[i % 3] if project != "vault" else "JP",
        user_id=f"{project}-user-{i}",
        user_email=f"{project}{i}@example.com",
        user_attributes={"plan": f"{project}-plan"},
        referrer=f"https://ref.example/{project}?token=secret-{i}#frag",
        link_original_url=f"https://dest.example/{project}?email={project}{i}@example.com",
        event_attributes={"page": f"https://site.example/{project}/page?session=s{i}"},
        link_tags=[f"{project}-tag"],
    )


EVENTS = [_event(project, i) for project, count in (("shop", 7), ("blog", 5), ("vault", 6)) for i in range(count)]
# The same id in a team-a and a team-b project: two events, each seen only by its team.
EVENTS += [detailed_event(event_id="dup-1", event_time="2026-11-05T00:00:00Z", team_id=t, project_id=p) for p, t in (("shop", "team-a"), ("vault", "team-b"))]
TEAM_A = [e for e in EVENTS if e["team_id"] == "team-a"]


@pytest.fixture(scope="module")
def database(store: Client) -> Iterator[str]:
    name = f"t_{uuid.uuid4().hex[:12]}"
    migrate(store, name)
    store_events(store, name, EVENTS)
    yield name
    store.command(f"DROP DATABASE IF EXISTS {name}")


@pytest.fixture
def client(store: Client, chdb_url: str, database: str, real_redis: Redis) -> Iterator[TestClient]:
    settings = Settings(
        clickhouse_url=chdb_url, clickhouse_database=database, admin_token="admin-token-for-tests", backpressure_check_interval_ms=0
    )
    with api_client(settings, real_redis, store=store) as client:
        for team in ("team-a", "team-b"):
            assert client.post("/api/admin/teams", json={"team_id": team, "name": team.upper()}, headers=ADMIN).status_code == 201
        for project, team in PROJECTS.items():
            body = {"project_id": project, "team_id": team, "name": project.title()}
            assert client.post("/api/admin/projects", json=body, headers=ADMIN).status_code == 201
        yield client


def team_key(client: TestClient, kind: str = "read", team: str = "team-a") -> dict[str, str]:
    response = client.post(f"/api/admin/teams/{team}/keys", json={"kind": kind, "name": "k"}, headers=ADMIN)
    assert response.status_code == 201, response.text
    return {"Authorization": f"Bearer {response.json()['key']}"}


def query(client: TestClient, headers: dict[str, str], **body: Any) -> Any:
    response = client.post("/api/query", json={"date_range": RANGE, "limit": 1000, **body}, headers=headers)
    assert response.status_code == 200, response.text
    return response.json()


def breakdown(client: TestClient, headers: dict[str, str], dimension: str, **body: Any) -> dict[str, int]:
    answer = query(client, headers, metrics=["events"], dimensions=[dimension], **body)
    return {r["dimensions"][0]: r["metrics"][0] for r in answer["results"]}


@pytest.mark.parametrize(
    ("dimension", "value_of"),
    [
        ("project_id", lambda e: e["project_id"]),
        ("team_id", lambda e: e["team_id"]),
        ("link_id", lambda e: e["link_id"]),
        ("country", lambda e: e.get("country", "")),
        ("user_id", lambda e: e["user_id"]),
        ("event_attributes.page", lambda e: e["event_attributes"]["page"]),
        ("link_tag", lambda e: (e.get("link_tags") or [""])[0]),
    ],
)
def test_a_team_key_groups_only_its_teams_rows(client: TestClient, dimension: str, value_of: Any) -> None:
    assert breakdown(client, team_key(client), dimension) == dict(Counter(value_of(e) for e in TEAM_A))


@pytest.mark.parametrize(
    "flt",
    [
        ["is", "project_id", ["vault"]],
        ["is", "team_id", ["team-b"]],
        ["is", "country", ["JP"]],
        ["contains", "user_id", ["vault"]],
        ["is_not", "project_id", ["shop", "blog"]],
        ["matches", "link_id", ["^vault"]],
    ],
)
def test_no_filter_reaches_another_teams_rows(client: TestClient, flt: list[Any]) -> None:
    answer = query(client, team_key(client), metrics=["events"], filters=[flt])
    assert answer["results"][0]["metrics"] == [0]


def test_a_team_key_filters_among_its_projects(client: TestClient) -> None:
    shop = [e for e in TEAM_A if e["project_id"] == "shop"]
    answer = query(client, team_key(client), metrics=["events"], filters=[["is", "project_id", ["shop"]]])
    assert answer["results"][0]["metrics"] == [len(shop)]


def test_a_team_key_exports_only_its_teams_rows(client: TestClient) -> None:
    response = client.post("/api/export", json={"format": "csv", "date_range": RANGE}, headers=team_key(client))
    assert response.status_code == 200
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert sorted((r["event_id"], r["project_id"]) for r in rows) == sorted((e["event_id"], e["project_id"]) for e in TEAM_A)


def test_a_team_key_reads_its_events_by_id_and_never_another_teams(client: TestClient) -> None:
    headers = team_key(client)
    assert client.get("/api/events/shop-1", headers=headers).json()["project_id"] == "shop"
    assert client.get("/api/events/vault-1", headers=headers).status_code == 404
    both = client.get("/api/events/dup-1", headers=headers)  # the admin would get a 409 listing both
    assert both.status_code == 200 and both.json()["project_id"] == "shop"
    assert client.get("/api/events/dup-1", headers=ADMIN).status_code == 409
    other = client.get("/api/events/dup-1", headers=team_key(client, team="team-b"))
    assert other.json()["project_id"] == "vault" and "shop" not in other.text


def test_a_team_key_sees_a_project_added_to_its_team(client: TestClient) -> None:
    headers = team_key(client)
    assert [p["project_id"] for p in client.get("/api/projects", headers=headers).json()["projects"]] == ["blog", "shop"]
    # A project added to the team is read by the team's existing key at once.
    body = {"project_id": "docs", "team_id": "team-a", "name": "Docs", "timezone": "Asia/Tokyo"}
    assert client.post("/api/admin/projects", json=body, headers=ADMIN).status_code == 201
    listed = client.get("/api/projects", headers=headers).json()["projects"]
    assert {p["project_id"]: (p["name"], p["timezone"]) for p in listed} == {
        "blog": ("Blog", "UTC"),
        "docs": ("Docs", "Asia/Tokyo"),
        "shop": ("Shop", "UTC"),
    }


@pytest.mark.parametrize(
    "body",
    [
        {"dimensions": ["user_id"]},
        {"dimensions": ["user_attributes.plan"]},
        {"filters": [["is", "user_id", ["shop-user-1"]]]},
        {"filters": [["contains", "user_attributes.plan", ["shop"]]]},
    ],
)
def test_a_stats_key_is_refused_personal_dimensions(client: TestClient, body: dict[str, Any]) -> None:
    response = client.post("/api/query", json={"metrics": ["events"], "date_range": RANGE, **body}, headers=team_key(client, "stats"))
    assert response.status_code == 403 and "personal" in response.json()["error"]


def test_a_stats_key_may_not_export_nor_read_by_id(client: TestClient) -> None:
    headers = team_key(client, "stats")
    assert client.post("/api/export", json={"format": "csv", "date_range": RANGE}, headers=headers).status_code == 403
    assert client.get("/api/events/shop-1", headers=headers).status_code == 403


def test_a_stats_key_reads_cards_and_breakdowns_without_query_strings(client: TestClient) -> None:
    headers = team_key(client, "stats")
    cards = query(client, headers, metrics=["events", "visitors", "conversions"])
    assert cards["results"][0]["metrics"] == [len(TEAM_A), len({e["visitor_id"] for e in TEAM_A}), len(TEAM_A)]
    assert breakdown(client, headers, "country") == dict(Counter(e.get("country", "") for e in TEAM_A))
    assert breakdown(client, headers, "referrer") == dict(Counter(e.get("referrer", "").split("?")[0] for e in TEAM_A))
    assert breakdown(client, headers, "link_original_url") == dict(Counter(e["link_original_url"].split("?")[0] for e in TEAM_A))
    pages = breakdown(client, headers, "event_attributes.page")
    assert pages == dict(Counter(e["event_attributes"]["page"].split("?")[0] for e in TEAM_A))
    # A filter cannot probe a query string either: it sees the same cut value.
    probe = query(client, headers, metrics=["events"], filters=[["contains", "referrer", ["token=secret"]]])
    assert probe["results"][0]["metrics"] == [0]


def test_a_project_read_key_reads_its_project_only(client: TestClient) -> None:
    response = client.post("/api/admin/projects/blog/keys", json={"kind": "read", "name": "k"}, headers=ADMIN)
    headers = {"Authorization": f"Bearer {response.json()['key']}"}
    assert breakdown(client, headers, "project_id") == {"blog": 5}
    assert [p["project_id"] for p in client.get("/api/projects", headers=headers).json()["projects"]] == ["blog"]
