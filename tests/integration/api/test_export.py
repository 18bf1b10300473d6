"""POST /api/export against real chDB: CSV (header line first) and NDJSON hold every column of
exactly the selected events, one row per event_id, scoped like queries."""

from __future__ import annotations

import csv
import io
import json
import uuid
from collections.abc import Iterator

import fakeredis
import pytest
from clickhouse_connect.driver.client import Client
from fastapi.testclient import TestClient

from shared.settings import Settings
from shared.store.migrate import migrate
from shared.store.schema import EVENT_COLUMNS
from tests.support.apps import api_client
from tests.support.builders import detailed_event
from tests.support.stored import store_events
from tests.support.tools import require_module

pytestmark = pytest.mark.integration

ADMIN = {"Authorization": "Bearer admin-token-for-tests"}
RANGE = ["2026-11-01", "2026-11-30"]
EVENTS = [
    detailed_event(
        event_id=f"x{i}",
        event_time=f"2026-11-0{1 + i % 5}T12:00:00Z",
        project_id=f"p{i % 2}",
        city='Köln, "quoted"',
        link_title="two\nlines",
        link_tags=["a", "b,c"],
    )
    for i in range(10)
] + [detailed_event(event_id="bot", event_time="2026-11-02T12:00:00Z", project_id="p0", is_bot=True)]


@pytest.fixture(scope="module")
def api(store: Client, chdb_url: str) -> Iterator[TestClient]:
    database = f"t_{uuid.uuid4().hex[:12]}"
    migrate(store, database)
    store_events(store, database, EVENTS)
    store_events(store, database, EVENTS[:3])  # re-sent: exported once
    settings = Settings(
        clickhouse_url=chdb_url,
        clickhouse_database=database,
        admin_token="admin-token-for-tests",
        read_keys={"rk-p1": "p1"},
        backpressure_check_interval_ms=0,
    )
    with api_client(settings, fakeredis.FakeRedis(), store=store) as client:
        yield client
    store.command(f"DROP DATABASE IF EXISTS {database}")


def _expected_ids(project: str | None = None, bots: bool = False) -> list[str]:
    return sorted(
        e["event_id"]
        for e in EVENTS
        if (project is None or e["project_id"] == project) and (bots or not e.get("is_bot"))
    )


def test_csv_has_a_header_and_every_selected_event_once(api: TestClient) -> None:
    response = api.post("/api/export", json={"format": "csv", "date_range": RANGE}, headers=ADMIN)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(response.text)))
    assert rows[0] == [*EVENT_COLUMNS, "inserted_at"]
    records = [dict(zip(rows[0], row, strict=True)) for row in rows[1:]]
    assert sorted(r["event_id"] for r in records) == _expected_ids()
    assert {r["city"] for r in records} == {'Köln, "quoted"'}  # quoting survives
    assert {r["link_title"] for r in records} == {"two\nlines"}
    assert {r["conversion_value"] for r in records} == {"99.99"}


def test_ndjson_is_one_object_per_event_with_every_column(api: TestClient) -> None:
    response = api.post(
        "/api/export",
        json={"format": "ndjson", "date_range": RANGE, "include": {"bots": True}},
        headers=ADMIN,
    )
    assert response.status_code == 200
    lines = [json.loads(line) for line in response.text.splitlines()]
    assert sorted(line["event_id"] for line in lines) == _expected_ids(bots=True)
    assert all(set(line) == {*EVENT_COLUMNS, "inserted_at"} for line in lines)
    first = next(line for line in lines if line["event_id"] == "x0")
    assert first["link_tags"] == ["a", "b,c"]
    assert json.loads(first["event_attributes"]) == EVENTS[0]["event_attributes"]


def test_export_filters_and_read_key_scope(api: TestClient) -> None:
    body = {"format": "ndjson", "date_range": RANGE, "filters": [["is", "project_id", ["p0"]]]}
    scoped = api.post("/api/export", json=body, headers={"Authorization": "Bearer rk-p1"})
    assert scoped.status_code == 200
    assert scoped.text == ""  # p0 is not the key's project: nothing, whatever the filter says
    own = api.post(
        "/api/export",
        json={"format": "ndjson", "date_range": RANGE},
        headers={"Authorization": "Bearer rk-p1"},
    )
    assert sorted(json.loads(line)["event_id"] for line in own.text.splitlines()) == _expected_ids("p1")


def test_parquet_export_reads_back(api: TestClient) -> None:
    pq = require_module("pyarrow.parquet", "pip install pyarrow")
    pc = require_module("pyarrow.compute", "pip install pyarrow")
    response = api.post("/api/export", json={"format": "parquet", "date_range": RANGE}, headers=ADMIN)
    assert response.status_code == 200
    table = pq.read_table(io.BytesIO(response.content))
    assert sorted(table.column("event_id").to_pylist()) == _expected_ids()
    assert table.column_names == [*EVENT_COLUMNS, "inserted_at"]
    first = table.filter(pc.equal(table.column("event_id"), "x0")).to_pylist()[0]
    assert first["link_tags"] == ["a", "b,c"] and first["conversion_value"] == 99.99
    assert first["event_time"].isoformat() == "2026-11-01T12:00:00+00:00"


@pytest.mark.parametrize(
    "body",
    [
        {"format": "xml"},
        {"date_range": "forever"},
        {"timezone": "Nowhere/City"},
        {"filters": [["is", "nope", ["a"]]]},
    ],
)
def test_bad_exports_are_400(api: TestClient, body: dict[str, object]) -> None:
    response = api.post("/api/export", json=body, headers=ADMIN)
    assert response.status_code == 400
    assert set(response.json()) == {"error"}


def test_an_export_releases_its_query_slot(api: TestClient) -> None:
    # More exports than slots, one after the other: each finished one gave its slot back.
    slots = api.app.state.reads.settings.query_concurrency  # type: ignore[attr-defined]
    for _ in range(slots + 2):
        assert api.post("/api/export", json={"date_range": RANGE}, headers=ADMIN).status_code == 200
    assert api.post("/api/query", json={"metrics": ["events"]}, headers=ADMIN).status_code == 200
