"""A large export holds every selected event: 600 events, hundreds of KiB, many of the
engine's 64 KiB blocks. Checked against the fixture itself, through the API (in-process engine)
and through the store socket (the embedded topology's RemoteEngine): comparing one engine with
the engine it wraps would pass even if both stopped early alike."""

from __future__ import annotations

import csv
import io
import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from clickhouse_connect.driver.client import Client

from shared.query import sql
from shared.query.engine import ClientEngine
from shared.query.slots import one_slot
from shared.store_process.remote import RemoteEngine
from shared.store_process.socket_server import prepare_socket, read_app
from tests.support.processes import wait_for
from tests.support.read_api import ADMIN, read_api

pytestmark = pytest.mark.integration

COUNT = 600
RANGE = ["2026-11-01", "2026-11-30"]
EVENTS = [
    {
        "event_id": f"export-{i:04d}",
        "event_type": "view",
        "event_time": f"2026-11-{1 + i % 28:02d}T{i % 24:02d}:00:00Z",
        "team_id": "t1",
        "project_id": "p1",
        "link_id": f"link-{i % 7}",
        "visitor_id": f"v{i}",
        "session_id": f"s{i}",
        "link_title": f"title {i} " + "x" * 200,  # ~0.5 KiB a line: 600 lines are ~300 KiB
        "event_attributes": {"n": i},
    }
    for i in range(COUNT)
]
BLOCK = 1 << 16


@pytest.fixture(scope="module")
def api_and_database(store: Client, chdb_url: str) -> Iterator[tuple[Any, str]]:
    with read_api(store, chdb_url, EVENTS) as both:
        yield both


def _export(client: Any, fmt: str) -> bytes:
    response = client.post("/api/export", json={"format": fmt, "date_range": RANGE}, headers=ADMIN)
    assert response.status_code == 200, response.text
    body: bytes = response.content
    return body


def test_an_ndjson_export_has_every_line(api_and_database: tuple[Any, str]) -> None:
    client, _ = api_and_database
    body = _export(client, "ndjson")
    assert len(body) > 4 * BLOCK  # the point: many blocks
    rows = [json.loads(line) for line in body.decode().splitlines()]
    assert sorted(row["event_id"] for row in rows) == sorted(e["event_id"] for e in EVENTS)
    by_id = {row["event_id"]: row for row in rows}
    for event in EVENTS:  # whole lines, not cut at a block edge
        assert by_id[event["event_id"]]["link_title"] == event["link_title"]
        assert json.loads(by_id[event["event_id"]]["event_attributes"]) == event["event_attributes"]


def test_a_csv_export_has_every_row(api_and_database: tuple[Any, str]) -> None:
    client, _ = api_and_database
    body = _export(client, "csv")
    assert len(body) > 4 * BLOCK
    rows = list(csv.DictReader(io.StringIO(body.decode())))
    assert sorted(row["event_id"] for row in rows) == sorted(e["event_id"] for e in EVENTS)
    assert {row["link_title"] for row in rows} == {e["link_title"] for e in EVENTS}


def test_an_export_through_the_store_socket_has_every_line(
    api_and_database: tuple[Any, str], store: Client, short_dir: Path
) -> None:
    _, database = api_and_database
    local = ClientEngine(lambda: store, one_slot())
    path = prepare_socket(short_dir / "run")
    server = uvicorn.Server(
        uvicorn.Config(
            read_app(local, stream_seconds=60, idle_seconds=30), uds=str(path), log_level="warning"
        )
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        remote = RemoteEngine(path, timeout_seconds=60)
        wait_for(remote.ping, timeout_seconds=30, what="the read socket")
        statement = sql.Statement(
            f"SELECT event_id, link_title FROM {database}.events FINAL ORDER BY event_id", {}
        )
        for engine in (local, remote):
            body = b"".join(engine.stream(statement, "JSONEachRow"))
            assert len(body) > 2 * BLOCK
            rows = [json.loads(line) for line in body.decode().splitlines()]
            assert [(r["event_id"], r["link_title"]) for r in rows] == sorted(
                (e["event_id"], e["link_title"]) for e in EVENTS
            )
    finally:
        server.should_exit = True
        thread.join(timeout=10)
