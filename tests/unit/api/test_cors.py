"""CORS: the public ingestion endpoints answer browsers from the allowed origins (any by
default); the read and admin endpoints never carry CORS headers, whatever the Origin."""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping

import pytest
from fastapi.testclient import TestClient
from redis import Redis

from api.rq_dashboard import mount_dashboard
from shared.settings import Settings
from tests.support.apps import api_client
from tests.support.builders import basic_event

TRACK = "/api/events/track"
BATCH = "/api/events/batch"
INGEST = [TRACK, BATCH]
ORIGIN = "https://shop.example"
ALLOW_ORIGIN = "access-control-allow-origin"


def preflight(
    client: TestClient, path: str, origin: str = ORIGIN, headers: str = "content-type"
) -> dict[str, str]:
    response = client.options(
        path,
        headers={
            "Origin": origin,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": headers,
        },
    )
    return {"status": str(response.status_code), **response.headers}


def cors_headers(headers: Mapping[str, str]) -> set[str]:
    return {name.lower() for name in headers if name.lower().startswith("access-control-")}


@pytest.fixture
def client(settings: Settings, fake_redis: Redis) -> TestClient:
    return api_client(settings, fake_redis)


@pytest.mark.parametrize("path", INGEST)
@pytest.mark.parametrize("origin", [ORIGIN, "http://localhost:3000", "null"])
def test_preflight_from_any_origin_by_default(client: TestClient, path: str, origin: str) -> None:
    headers = preflight(client, path, origin, "content-type, content-encoding, authorization, x-write-key")
    assert headers["status"] == "200"
    assert headers[ALLOW_ORIGIN] == "*"
    assert "POST" in headers["access-control-allow-methods"]
    allowed = {h.strip().lower() for h in headers["access-control-allow-headers"].split(",")}
    assert {"content-type", "content-encoding", "authorization", "x-write-key"} <= allowed
    assert int(headers["access-control-max-age"]) >= 600  # preflights cached, not repeated per event


def test_fetch_with_json_and_beacon_with_text_plain_get_the_header(client: TestClient) -> None:
    fetched = client.post(TRACK, json=basic_event(), headers={"Origin": ORIGIN})
    assert fetched.status_code == 201 and fetched.headers[ALLOW_ORIGIN] == "*"
    beacon = client.post(
        TRACK,
        content=json.dumps(basic_event()),
        headers={"Origin": ORIGIN, "Content-Type": "text/plain;charset=UTF-8"},
    )
    assert beacon.status_code == 201 and beacon.headers[ALLOW_ORIGIN] == "*"
    batch = client.post(BATCH, json=[basic_event()], headers={"Origin": ORIGIN})
    assert batch.status_code == 201 and batch.headers[ALLOW_ORIGIN] == "*"


def test_errors_are_readable_by_the_page_too(client: TestClient) -> None:
    response = client.post(TRACK, json={"link_id": "x"}, headers={"Origin": ORIGIN})
    assert response.status_code == 400 and response.headers[ALLOW_ORIGIN] == "*"
    # Retry-After (429, 503) is not CORS-safelisted: without this a script could not read it.
    assert "retry-after" in response.headers["access-control-expose-headers"].lower()


def test_no_origin_no_cors_headers(client: TestClient) -> None:
    response = client.post(TRACK, json=basic_event())
    assert response.status_code == 201 and not cors_headers(response.headers)


def test_configured_allow_list_is_honoured(settings: Settings, fake_redis: Redis) -> None:
    allowed = ["https://shop.example", "http://localhost:3000"]
    client = api_client(settings.model_copy(update={"cors_allow_origins": allowed}), fake_redis)
    for origin in allowed:
        headers = preflight(client, TRACK, origin)
        assert headers["status"] == "200" and headers[ALLOW_ORIGIN] == origin
        response = client.post(TRACK, json=basic_event(), headers={"Origin": origin})
        assert response.headers[ALLOW_ORIGIN] == origin
        assert "origin" in response.headers["vary"].lower()  # caches must not mix origins' answers
    stranger = "https://evil.example"
    refused = preflight(client, TRACK, stranger)
    assert refused["status"] == "400" and ALLOW_ORIGIN not in refused
    # The request itself is not blocked (CORS is the browser's to enforce), only unreadable.
    response = client.post(TRACK, json=basic_event(), headers={"Origin": stranger})
    assert response.status_code == 201 and ALLOW_ORIGIN not in response.headers


def test_allow_list_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRACKHOUSE_CORS_ALLOW_ORIGINS", '["https://Shop.example/", "http://localhost:3000"]')
    assert Settings().cors_allow_origins == ["https://shop.example", "http://localhost:3000"]
    monkeypatch.setenv("TRACKHOUSE_CORS_ALLOW_ORIGINS", '["shop.example"]')
    with pytest.raises(ValueError, match="scheme://host"):
        Settings()


def test_empty_allow_list_turns_cors_off(settings: Settings, fake_redis: Redis) -> None:
    client = api_client(settings.model_copy(update={"cors_allow_origins": []}), fake_redis)
    response = client.post(TRACK, json=basic_event(), headers={"Origin": ORIGIN})
    assert response.status_code == 201 and not cors_headers(response.headers)
    assert not cors_headers(preflight(client, TRACK))


READ_PATHS = ["/api/events/some-id", "/metrics", "/healthz", "/readyz", "/docs", "/openapi.json"]


@pytest.mark.parametrize("path", READ_PATHS)
def test_read_and_admin_endpoints_never_carry_cors_headers(client: TestClient, path: str) -> None:
    token = {"Authorization": "Bearer test-admin-token"}
    for headers in ({"Origin": ORIGIN}, {"Origin": ORIGIN, **token}):
        response = client.get(path, headers=headers)
        assert not cors_headers(response.headers), (path, response.status_code)
    assert not cors_headers(preflight(client, path, headers="authorization"))


def test_dashboard_never_carries_cors_headers(client: TestClient, settings: Settings) -> None:
    mount_dashboard(client.app, settings, "unix:///nowhere")  # type: ignore[arg-type]
    right = {"Authorization": "Basic " + base64.b64encode(b"admin:test-admin-token").decode()}
    for headers in ({"Origin": ORIGIN}, {"Origin": ORIGIN, **right}):
        response = client.get("/rq/", headers=headers)
        assert not cors_headers(response.headers), response.status_code
    assert not cors_headers(preflight(client, "/rq/", headers="authorization"))
