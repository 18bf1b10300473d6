"""Building the app for tests, against whichever Redis and store the test hands in."""

from __future__ import annotations

from clickhouse_connect.driver.client import Client
from fastapi.testclient import TestClient
from redis import Redis

from api.app import create_app
from shared.settings import Settings


def _no_store() -> Client:
    raise ConnectionError("no store in this test")


def api_client(settings: Settings, redis: Redis, store: Client | None = None) -> TestClient:
    app = create_app(settings, redis=redis, open_store=(lambda: store) if store is not None else _no_store)
    return TestClient(app, client=("203.0.113.7", 50000), raise_server_exceptions=False)
