"""GET /api/events/{id} runs under the caps every read has (time, rows and bytes read, memory):
over one it is the same 4xx a query gets, never an unbounded scan."""

from __future__ import annotations

import uuid

import fakeredis
import pytest
from clickhouse_connect.driver.client import Client

from shared.settings import Settings
from shared.store.migrate import migrate
from tests.support.apps import api_client
from tests.support.builders import basic_event
from tests.support.stored import store_events

pytestmark = pytest.mark.integration
ADMIN = {"Authorization": "Bearer admin-token-for-tests"}


def test_a_read_by_id_over_the_read_cap_is_a_400(store: Client, chdb_url: str) -> None:
    database = f"t_{uuid.uuid4().hex[:12]}"
    migrate(store, database)
    try:
        store_events(store, database, [basic_event(event_id=f"e{i}") for i in range(3)])
        common = {"clickhouse_url": chdb_url, "clickhouse_database": database, "admin_token": "admin-token-for-tests"}
        with api_client(Settings(**common), fakeredis.FakeRedis(), store=store) as client:
            found = client.get("/api/events/e1", headers=ADMIN)
        assert found.status_code == 200 and found.json()["event_id"] == "e1"
        capped = Settings(**common, query_max_rows_to_read=1)
        with api_client(capped, fakeredis.FakeRedis(), store=store) as client:
            refused = client.get("/api/events/e1", headers=ADMIN)
        assert refused.status_code == 400 and "caps" in refused.json()["error"], refused.text
    finally:
        store.command(f"DROP DATABASE IF EXISTS {database}")
