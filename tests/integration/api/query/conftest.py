"""POST /api/query against real chDB (tests in this package): one database of the query fixture's
events, shared by every module here (package scope: stored once)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import fakeredis
import pytest
from clickhouse_connect.driver.client import Client
from fastapi.testclient import TestClient

from shared.settings import Settings
from shared.store.migrate import migrate
from tests.integration.api.query.query_fixture import (
    EVENTS,
    RESENT,
)
from tests.support.apps import api_client
from tests.support.stored import store_events


@pytest.fixture(scope="package")
def api(store: Client, chdb_url: str) -> Iterator[TestClient]:
    database = f"t_{uuid.uuid4().hex[:12]}"
    migrate(store, database)
    store.command(
        f"SYSTEM STOP MERGES {database}.events"
    )  # keep the re-sent copy unmerged: FINAL must count it once
    store_events(store, database, EVENTS)
    store_events(store, database, [e for e in EVENTS if e["event_id"] == RESENT])
    settings = Settings(
        clickhouse_url=chdb_url,
        clickhouse_database=database,
        admin_token="admin-token-for-tests",
        read_keys={"rk-p1": "p1"},
        backpressure_check_interval_ms=0,
    )
    with api_client(settings, fakeredis.FakeRedis(), store=store) as client:
        client.store_rows = store.command(  # type: ignore[attr-defined]
            f"SELECT count() FROM {database}.events WHERE event_id = {{id:String}}", parameters={"id": RESENT}
        )
        yield client
    store.command(f"DROP DATABASE IF EXISTS {database}")
