"""Bodies of every route but ingestion: the key (and the lockout) is checked before a byte of
the body is read, and no body over API_MAX_BODY_BYTES is read whole, declared or chunked."""

from __future__ import annotations

import asyncio
from typing import Any

import fakeredis
import orjson
import pytest
from fastapi import FastAPI

from api.app import create_app
from shared.settings import Settings
from tests.support.apps import api_client

TOKEN = "admin-token-for-tests"
LIMIT = 262_144


def _settings(**overrides: Any) -> Settings:
    return Settings(admin_token=TOKEN, backpressure_check_interval_ms=0, **overrides)


def _app(settings: Settings) -> FastAPI:
    def no_store() -> Any:
        raise ConnectionError("no store in this test")

    return create_app(settings, redis=fakeredis.FakeRedis(), open_store=no_store)


def _call(
    app: FastAPI, path: str, headers: dict[str, str], chunks: list[bytes]
) -> tuple[int, bytes, int]:
    """POST `chunks` to the ASGI app; the status, the body, and how many chunks it read."""
    read = 0
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        nonlocal read
        if read < len(chunks):
            read += 1
            return {"type": "http.request", "body": chunks[read - 1], "more_body": read < len(chunks)}
        await asyncio.sleep(3600)  # the client sends nothing more and stays connected
        raise AssertionError

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()],
        "client": ("203.0.113.9", 40000),
        "server": ("127.0.0.1", 8000),
    }
    asyncio.run(asyncio.wait_for(app(scope, receive, send), 10))
    start = next(m for m in sent if m["type"] == "http.response.start")
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return start["status"], body, read


HUGE = [b'{"metrics": ["events"], "filters": [' + b" " * 65_536] * 1000  # 64 MB declared


@pytest.mark.parametrize("path", ["/api/query", "/api/export"])
def test_without_credentials_no_byte_of_the_body_is_read(path: str) -> None:
    status, body, read = _call(_app(_settings()), path, {"content-type": "application/json"}, HUGE)
    assert status == 401 and orjson.loads(body)["error"].startswith("Unauthorized")
    assert read == 0


@pytest.mark.parametrize("path", ["/api/query", "/api/export"])
def test_a_locked_out_client_is_refused_before_its_body_is_read(path: str) -> None:
    app = _app(_settings())
    for i in range(10):
        assert _call(app, path, {"authorization": f"Bearer guess-{i}"}, [b"{}"])[0] == 401
    status, _, read = _call(app, path, {"authorization": f"Bearer {TOKEN}"}, HUGE)
    assert status == 429 and read == 0


@pytest.mark.parametrize("path", ["/api/query", "/api/export"])
def test_a_declared_length_over_the_cap_is_413_unread(path: str) -> None:
    headers = {"authorization": f"Bearer {TOKEN}", "content-length": str(LIMIT + 1)}
    status, body, read = _call(_app(_settings()), path, headers, HUGE)
    assert status == 413 and orjson.loads(body) == {"error": f"body: larger than {LIMIT} bytes"}
    assert read == 0


@pytest.mark.parametrize("path", ["/api/query", "/api/export"])
def test_a_chunked_body_is_refused_once_it_passes_the_cap(path: str) -> None:
    status, body, read = _call(_app(_settings()), path, {"authorization": f"Bearer {TOKEN}"}, HUGE)
    assert status == 413 and orjson.loads(body) == {"error": f"body: larger than {LIMIT} bytes"}
    assert read <= LIMIT // 65_536 + 2  # stopped at the cap, not after 64 MB


def test_any_other_route_is_capped_too() -> None:
    headers = {"content-length": str(LIMIT + 1)}
    assert _call(_app(_settings()), "/no/such/route", headers, HUGE)[0] == 413
    status, _, read = _call(_app(_settings()), "/api/events/e1", {}, HUGE)  # reads no body
    assert status == 405 and read == 0


def test_the_cap_is_a_setting() -> None:
    app = _app(_settings(api_max_body_bytes=4096))
    body = orjson.dumps({"metrics": ["events"], "filters": [["is", "url", ["x" * 900]]] * 5})
    headers = {"authorization": f"Bearer {TOKEN}", "content-length": str(len(body))}
    status, answer, _ = _call(app, "/api/query", headers, [body])
    assert status == 413 and orjson.loads(answer) == {"error": "body: larger than 4096 bytes"}


def test_ingestion_keeps_its_own_larger_caps() -> None:
    events = [{"event_type": "view", "event_id": f"e{i}", "url": "https://a.example/" + "p" * 400} for i in range(700)]
    body = orjson.dumps(events)
    assert LIMIT < len(body) < 5_242_880
    with api_client(_settings(), fakeredis.FakeRedis()) as client:
        response = client.post("/api/events/batch", content=body, headers={"content-type": "application/json"})
    assert response.status_code in (200, 201, 207), response.text
    assert response.json()["accepted"] == 700


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"", "body: empty; expected a JSON object"),
        (b"{not json", "body: Invalid JSON"),
        (b'{"metrics": ["nope"]}', "metrics.0: Input should be"),
        (b'{"metrics": ["events"], "limit": "5"}', "limit: Input should be a valid integer"),
        (b'{"metrics": ["events"], "bogus": 1}', "bogus: Extra inputs are not permitted"),
    ],
)
def test_bad_bodies_are_400_in_the_contracts_shape(body: bytes, message: str) -> None:
    with api_client(_settings(), fakeredis.FakeRedis()) as client:
        response = client.post("/api/query", content=body, headers={"authorization": f"Bearer {TOKEN}"})
    assert response.status_code == 400
    assert response.json()["error"].startswith(message), response.json()


def test_filters_are_capped_in_all() -> None:
    filters = [["is", "url", ["u" * 1000] * 10]] * 7  # 70,000 characters of values
    with api_client(_settings(), fakeredis.FakeRedis()) as client:
        response = client.post(
            "/api/query", json={"metrics": ["events"], "filters": filters}, headers={"authorization": f"Bearer {TOKEN}"}
        )
    assert response.status_code == 400 and response.json()["error"].startswith("filters:")


def _refs(node: Any) -> list[str]:
    if isinstance(node, dict):
        return [node["$ref"]] if "$ref" in node else [r for v in node.values() for r in _refs(v)]
    if isinstance(node, list):
        return [r for v in node for r in _refs(v)]
    return []


def test_every_schema_reference_resolves() -> None:
    with api_client(_settings(), fakeredis.FakeRedis()) as client:
        document = client.get("/openapi.json").json()
    schemas = document["components"]["schemas"]
    refs = _refs(document)
    assert "#/components/schemas/QueryBody" in refs and "#/components/schemas/ExportBody" in refs
    for ref in refs:
        assert ref.removeprefix("#/components/schemas/") in schemas, ref
