"""The read API (`/api/query`, `/api/export`, `GET /api/events/{id}`) over a database of the
test's own: its fixture goes straight into the store (tests.support.stored), no Redis needed."""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import fakeredis
from clickhouse_connect.driver.client import Client
from fastapi.testclient import TestClient

from shared.settings import Settings
from shared.store.migrate import migrate
from tests.support.apps import api_client
from tests.support.stored import store_events

ADMIN_TOKEN = "admin-token-for-read-tests"
ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


@contextmanager
def read_api(
    store: Client,
    chdb_url: str,
    events: Sequence[dict[str, Any]] = (),
    *,
    read_keys: dict[str, str] | None = None,
) -> Iterator[tuple[TestClient, str]]:
    """A client of the API and the name of its database, `events` stored in one insert;
    the database is dropped afterwards."""
    database = f"t_{uuid.uuid4().hex[:12]}"
    migrate(store, database)
    try:
        if events:
            store_events(store, database, events)
        settings = Settings(
            clickhouse_url=chdb_url,
            clickhouse_database=database,
            admin_token=ADMIN_TOKEN,
            read_keys=read_keys or {},
            backpressure_check_interval_ms=0,
        )
        with api_client(settings, fakeredis.FakeRedis(), store=store) as client:
            yield client, database
    finally:
        store.command(f"DROP DATABASE IF EXISTS {database}")


def post(client: TestClient, path: str, body: dict[str, Any], headers: dict[str, str] = ADMIN) -> Any:
    response = client.post(path, json=body, headers=headers)
    assert response.status_code == 200, response.text
    return response.json()
