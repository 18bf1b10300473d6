"""The admin API (/api/admin/...) against a real Redis: every route's answer, and bad input to
every route answered 4xx in the contract's shape, never a 5xx."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from redis import Redis

from shared.registry.secrets import PREFIXES
from shared.registry.store import KEYS
from shared.settings import Settings
from tests.support.apps import api_client
from tests.support.builders import basic_event

pytestmark = pytest.mark.integration
ADMIN = {"Authorization": "Bearer test-admin-token"}


@pytest.fixture
def client(settings: Settings, real_redis: Redis) -> TestClient:
    return api_client(settings, real_redis)


def call(client: TestClient, method: str, path: str, body: Any = None, *, raw: bytes | None = None) -> Any:
    kwargs: dict[str, Any] = {"content": raw} if raw is not None else ({"json": body} if body is not None else {})
    return client.request(method, f"/api/admin{path}", headers=ADMIN, **kwargs)


def made(client: TestClient) -> None:
    assert call(client, "POST", "/teams", {"team_id": "acme", "name": "Acme"}).status_code == 201
    project = {"project_id": "acme.web", "team_id": "acme", "name": "Web", "domains": ["Acme.Example"], "timezone": "Europe/Berlin", "retention_days": 30}
    assert call(client, "POST", "/projects", project).status_code == 201


def test_teams_projects_and_keys_round_trip(client: TestClient, real_redis: Redis) -> None:
    made(client)
    teams = call(client, "GET", "/teams").json()["teams"]
    assert [(t["team_id"], t["name"]) for t in teams] == [("acme", "Acme")] and teams[0]["created_at"].endswith("Z")
    project = call(client, "GET", "/projects/acme.web").json()
    assert project["domains"] == ["acme.example"] and project["timezone"] == "Europe/Berlin"
    assert project["retention_days"] == 30 and project["require_write_key"] is False
    assert call(client, "GET", "/projects?team_id=acme").json()["projects"] == [project]
    assert call(client, "GET", "/projects?team_id=other").json() == {"projects": []}
    patched = call(client, "PATCH", "/projects/acme.web", {"name": "Website", "domains": [], "require_write_key": True}).json()
    assert (patched["name"], patched["domains"], patched["require_write_key"], patched["timezone"]) == ("Website", [], True, "Europe/Berlin")

    created = {}
    for kind in ("write", "server", "read", "stats"):
        response = call(client, "POST", "/projects/acme.web/keys", {"kind": kind, "name": f"{kind} key"})
        assert response.status_code == 201
        created[kind] = response.json()
        assert created[kind]["key"].startswith(PREFIXES[kind]) and len(created[kind]["key"]) >= 36
        assert (created[kind]["team_id"], created[kind]["project_id"]) == ("acme", "acme.web")
    team_key = call(client, "POST", "/teams/acme/keys", {"kind": "read", "name": "agency"}).json()
    assert team_key["project_id"] is None
    listed = call(client, "GET", "/keys?team_id=acme").json()["keys"]
    assert {k["id"] for k in listed} == {*(k["id"] for k in created.values()), team_key["id"]}
    assert all("key" not in k for k in listed)
    stored = b"".join(real_redis.hvals(KEYS))
    assert all(k["key"].encode() not in stored for k in (*created.values(), team_key))  # only hashes are kept

    # last_used_at: recorded on use (at most once a minute), listed without the secret
    assert client.post("/api/events/track", json=basic_event(), headers={"X-Write-Key": created["write"]["key"]}).status_code == 201
    client.app.state.trackhouse.access.registry.flush_uses()  # type: ignore[attr-defined]
    used = {k["id"]: k["last_used_at"] for k in call(client, "GET", "/keys?project_id=acme.web").json()["keys"]}
    assert used[created["write"]["id"]] is not None and used[created["read"]["id"]] is None

    assert call(client, "DELETE", f"/keys/{created['read']['id']}").status_code == 204
    assert call(client, "DELETE", f"/keys/{created['read']['id']}").status_code == 404
    assert call(client, "DELETE", "/projects/acme.web").json()["project_id"] == "acme.web"
    assert call(client, "GET", "/projects/acme.web").status_code == 404
    assert [k["id"] for k in call(client, "GET", "/keys").json()["keys"]] == [team_key["id"]]


def test_conflicts_and_unknowns(client: TestClient) -> None:
    made(client)
    assert call(client, "POST", "/teams", {"team_id": "acme", "name": "Again"}).status_code == 409
    assert call(client, "POST", "/projects", {"project_id": "acme.web", "team_id": "acme", "name": "x"}).status_code == 409
    assert call(client, "POST", "/projects", {"project_id": "p", "team_id": "nobody", "name": "x"}).status_code == 404
    assert call(client, "POST", "/projects/nope/keys", {"kind": "write", "name": "x"}).status_code == 404
    assert call(client, "POST", "/teams/nobody/keys", {"kind": "read", "name": "x"}).status_code == 404
    for method in ("GET", "DELETE"):
        assert call(client, method, "/projects/nope").status_code == 404
    assert call(client, "PATCH", "/projects/nope", {"name": "x"}).status_code == 404
    assert call(client, "DELETE", "/keys/key_0000000000000000").status_code == 404


BAD_TEAMS = [{}, {"team_id": "a b", "name": "x"}, {"team_id": "", "name": "x"}, {"team_id": "x" * 65, "name": "x"},
             {"team_id": "ok", "name": ""}, {"team_id": "ok", "name": 5}, {"team_id": "ok", "name": "x", "extra": 1},
             {"team_id": "ok", "name": "line\nbreak"}, {"team_id": ["ok"], "name": "x"}, [], "text", None]
BAD_PROJECTS = [
    {"project_id": "p", "team_id": "acme"},
    {"project_id": "p/q", "team_id": "acme", "name": "x"},
    {"project_id": "p", "team_id": "acme", "name": "x", "domains": ["https://acme.example"]},
    {"project_id": "p", "team_id": "acme", "name": "x", "domains": ["acme.example:8080"]},
    {"project_id": "p", "team_id": "acme", "name": "x", "domains": ["*"]},
    {"project_id": "p", "team_id": "acme", "name": "x", "domains": "acme.example"},
    {"project_id": "p", "team_id": "acme", "name": "x", "domains": [f"h{i}.example" for i in range(101)]},
    {"project_id": "p", "team_id": "acme", "name": "x", "timezone": "Mars/Olympus"},
    {"project_id": "p", "team_id": "acme", "name": "x", "timezone": "../../etc/passwd"},
    {"project_id": "p", "team_id": "acme", "name": "x", "retention_days": -1},
    {"project_id": "p", "team_id": "acme", "name": "x", "retention_days": "forever"},
    {"project_id": "p", "team_id": "acme", "name": "x", "require_write_key": "maybe"},
]
BAD_PATCHES = [{"project_id": "other"}, {"team_id": "other"}, {"timezone": "nowhere"}, {"domains": [""]}, {"name": "x" * 201}, []]
BAD_KEYS = [{}, {"kind": "admin", "name": "x"}, {"kind": "write"}, {"kind": "read", "name": "x", "rate_limit_per_second": 5},
            {"kind": "write", "name": "x", "rate_limit_per_second": 0}, {"kind": "write", "name": "x", "rate_limit_per_second": "fast"}]


@pytest.mark.parametrize(
    ("method", "path", "bodies"),
    [
        ("POST", "/teams", BAD_TEAMS),
        ("POST", "/projects", BAD_PROJECTS),
        ("PATCH", "/projects/acme.web", BAD_PATCHES),
        ("POST", "/projects/acme.web/keys", BAD_KEYS),
        ("POST", "/teams/acme/keys", [*BAD_KEYS, {"kind": "write", "name": "x"}, {"kind": "server", "name": "x"}]),
    ],
)
def test_bad_bodies_are_400_in_the_contracts_shape(client: TestClient, method: str, path: str, bodies: list[Any]) -> None:
    made(client)
    for body in bodies:
        response = call(client, method, path, body)
        assert response.status_code == 400, (body, response.text)
        assert set(response.json()) == {"error"} and isinstance(response.json()["error"], str)
    for raw in (b"{not json", b"\xff\xfe", b"", b"[" * 10_000):
        response = call(client, method, path, raw=raw)
        assert 400 <= response.status_code < 500 and set(response.json()) == {"error"}, raw[:10]


@pytest.mark.parametrize(
    ("method", "path"),
    [("GET", "/projects?team_id=a%20b"), ("GET", "/keys?project_id=" + "x" * 65), ("GET", "/projects/a%20b"),
     ("DELETE", "/projects/" + "x" * 65), ("DELETE", "/keys/" + "k" * 65)],
)
def test_bad_ids_in_paths_and_queries_are_4xx(client: TestClient, method: str, path: str) -> None:
    response = call(client, method, path)
    assert response.status_code in (400, 404) and set(response.json()) == {"error"}


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer wrong"}, {"Authorization": "Basic dGVzdA=="}])
def test_the_admin_token_is_required_before_the_body_is_read(client: TestClient, headers: dict[str, str]) -> None:
    response = client.post("/api/admin/teams", content=b"{not json", headers=headers)
    assert response.status_code == 401 and set(response.json()) == {"error"}
    assert client.get("/api/admin/keys", headers=headers).status_code == 401


def test_without_an_admin_token_the_admin_api_is_off(settings: Settings, real_redis: Redis) -> None:
    client = api_client(settings.model_copy(update={"admin_token": None}), real_redis)
    assert client.get("/api/admin/teams").status_code == 403


def test_a_read_key_is_not_an_admin(client: TestClient) -> None:
    made(client)
    key = call(client, "POST", "/teams/acme/keys", {"kind": "read", "name": "x"}).json()["key"]
    response = client.get("/api/admin/teams", headers={"Authorization": f"Bearer {key}"})
    assert response.status_code == 401
