"""The read side's caps, each attack replayed against real chDB (expected values computed here,
from the fixture):

- an impossible date bound (`9999-12-31`, `0001-01-01` in Tokyo, an end `…-12:00`) is a 400
  `date_range: …`, logged by nobody (it was a 500 with its traceback logged twice);
- the bounds DateTime64(3) holds are a range from any timezone, edge events counted;
- a group-by over 16 KB attribute values answers each value cut to 1,024 characters and says
  so in `meta` (it answered them whole: 47.9 MB for 3,000 of them);
- an answer over QUERY_MAX_ANSWER_BYTES is a 413, never sent;
- a read over QUERY_MAX_MEMORY_BYTES is a 400, and the store answers the next read, also
  across the store process's socket (`trackhouse up`).
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import fakeredis
import pytest
import uvicorn
from clickhouse_connect.driver.client import Client
from fastapi.testclient import TestClient

from api.app import create_app
from shared.query import sql
from shared.query.engine import ClientEngine
from shared.query.model import QueryBody, Selection, parse_query
from shared.query.ranges import resolve_range
from shared.query.slots import one_slot
from shared.query.sql import Limits
from shared.settings import Settings
from shared.store.migrate import migrate
from shared.store_process.remote import RemoteEngine
from shared.store_process.socket_server import prepare_socket, read_app
from tests.support.apps import api_client
from tests.support.processes import wait_for
from tests.support.stored import store_events

pytestmark = pytest.mark.integration

ADMIN = {"Authorization": "Bearer admin-token-for-tests"}
NOV = ["2026-11-01", "2026-11-30"]
CAP = 1024  # VALUE_MAX_CHARS
BLOB = "x" * 16_000  # as large as an attribute may be (16 KB as JSON)


def _event(event_id: str, at: str, **fields: Any) -> dict[str, Any]:
    base = {"project_id": "p1", "team_id": "t1", "visitor_id": f"v-{event_id}", "session_id": "s1"}
    return {**base, **fields, "event_id": event_id, "event_type": "view", "event_time": at}


# 50 distinct 16 KB values (the attack, at small scale); two more sharing their first 1,024
# characters (one group once cut); a 2-byte character value (cut in characters, not bytes);
# a referrer of 2,048 characters; and events at the first and last instant DateTime64(3) holds.
BLOBS = [f"{i:03d}{BLOB}" for i in range(50)]
SAME_START = ["y" * CAP + "-one", "y" * CAP + "-two"]
ACCENTS = "é" * 3000
EVENTS = [
    *(_event(f"b{i}", "2026-11-02T09:00:00Z", event_attributes={"blob": v}) for i, v in enumerate(BLOBS)),
    *(
        _event(f"s{i}", "2026-11-03T09:00:00Z", event_attributes={"blob": v})
        for i, v in enumerate(SAME_START)
    ),
    _event("acc", "2026-11-04T09:00:00Z", event_attributes={"blob": ACCENTS}),
    _event("short", "2026-11-04T10:00:00Z", event_attributes={"blob": "short"}, country="DE"),
    _event("ref", "2026-11-05T10:00:00Z", referrer="https://example.org/?q=" + "r" * 2025, country="FR"),
    _event("first", "1900-01-01T00:00:00.000Z", country="DE"),
    _event("last", "2299-12-31T23:59:59.999Z", country="DE"),
]


@pytest.fixture(scope="module")
def database(store: Client) -> Iterator[str]:
    name = f"t_{uuid.uuid4().hex[:12]}"
    migrate(store, name)
    store_events(store, name, EVENTS)
    yield name
    store.command(f"DROP DATABASE IF EXISTS {name}")


def _settings(chdb_url: str, database: str, **caps: Any) -> Settings:
    return Settings(
        clickhouse_url=chdb_url,
        clickhouse_database=database,
        admin_token="admin-token-for-tests",
        backpressure_check_interval_ms=0,
        **caps,
    )


@pytest.fixture(scope="module")
def api(store: Client, chdb_url: str, database: str) -> Iterator[TestClient]:
    with api_client(_settings(chdb_url, database), fakeredis.FakeRedis(), store=store) as client:
        yield client


def _blobs() -> Counter[str]:
    """`event_attributes.blob` of the events in NOV ("" when absent), cut as the API cuts."""
    return Counter(
        e.get("event_attributes", {}).get("blob", "")[:CAP]
        for e in EVENTS
        if e["event_time"].startswith("2026-11")
    )


def _query(api: TestClient, **body: Any) -> dict[str, Any]:
    body.setdefault("date_range", NOV)
    response = api.post("/api/query", json=body, headers=ADMIN)
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


# --- date bounds ------------------------------------------------------------------------------

ATTACKS = [
    {"metrics": ["events"], "date_range": ["2024-01-01", "9999-12-31"]},
    {"metrics": ["events"], "date_range": ["0001-01-01", "2024-01-01"], "timezone": "Asia/Tokyo"},
    {"metrics": ["events"], "date_range": ["2024-01-01", "9999-12-31T23:59:59-12:00"]},
    {
        "metrics": ["events"],
        "dimensions": ["time:day"],
        "date_range": ["0001-01-01T00:00:00+14:00", "2024-01-01"],
    },
    {"metrics": ["events"], "date_range": ["1899-12-31", "2024-01-01"], "timezone": "Pacific/Kiritimati"},
]


def _server_records(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    # httpx is the test's own client, logging each request it makes; everything else is ours.
    return [r for r in caplog.records if not r.name.startswith(("httpx", "httpcore"))]


@pytest.mark.parametrize("body", ATTACKS)
def test_an_impossible_date_bound_is_a_400_and_logs_nothing(
    api: TestClient, body: dict[str, Any], caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.DEBUG):
        for _ in range(20):  # 200 of these grew the log by 2.2 MB
            response = api.post("/api/query", json=body, headers=ADMIN)
            assert response.status_code == 400, response.text
            assert response.json() == {
                "error": "date_range: dates must lie between 1900-01-01 and 2299-12-31"
            }
        exported = api.post("/api/export", json={"date_range": body["date_range"]}, headers=ADMIN)
    assert exported.status_code == 400 and exported.json()["error"].startswith("date_range:")
    records = _server_records(caplog)
    assert not [r for r in records if r.exc_info or r.levelno >= logging.WARNING], records
    assert len(records) <= 1  # at most one line for a client error


def _expected_in(start: str, end: str, tz: str, where: Any = lambda e: True) -> int:
    zone = ZoneInfo(tz)
    lo = datetime.fromisoformat(start).replace(tzinfo=zone)
    hi = datetime.fromisoformat(end).replace(tzinfo=zone) + timedelta(days=1)
    return sum(1 for e in EVENTS if lo <= datetime.fromisoformat(e["event_time"]) < hi and where(e))


@pytest.mark.parametrize(
    "tz", ["UTC", "Asia/Tokyo", "America/New_York", "Pacific/Kiritimati", "Etc/GMT+12", "Asia/Kathmandu"]
)
def test_the_whole_datetime64_range_is_a_range_in_any_timezone(api: TestClient, tz: str) -> None:
    # Its local ends lie past DateTime64's by the zone's offset: the SQL bounds are clamped,
    # and the events at the first and last instant it holds count where their local day falls.
    full = ["1900-01-01", "2299-12-31"]
    result = _query(api, metrics=["events"], dimensions=["country"], date_range=full, timezone=tz)
    got = {r["dimensions"][0]: r["metrics"][0] for r in result["results"]}
    assert got.get("DE", 0) == _expected_in(full[0], full[1], tz, lambda e: e.get("country") == "DE")
    assert sum(got.values()) == _expected_in(full[0], full[1], tz)
    assert result["meta"]["date_range"][0].startswith("1900-01-01T00:00:00")
    assert result["meta"]["date_range"][1].startswith("2300-01-01T00:00:00")


def test_the_edge_instants_are_counted_from_utc(api: TestClient) -> None:
    edges = _query(api, metrics=["events"], date_range=["1900-01-01", "1900-01-01"])
    assert edges["results"][0]["metrics"] == [1]
    edges = _query(api, metrics=["events"], date_range=["2299-12-31T00:00:00Z", "2299-12-31T23:59:59-12:00"])
    assert edges["results"][0]["metrics"] == [1]  # its end is in 2300 UTC, beyond the column


# --- long values ------------------------------------------------------------------------------


def test_long_attribute_values_are_cut_and_meta_says_so(api: TestClient) -> None:
    result = _query(api, metrics=["events"], dimensions=["event_attributes.blob"], limit=1000)
    expected = _blobs()
    got = {r["dimensions"][0]: r["metrics"][0] for r in result["results"]}
    assert got == dict(expected)
    assert got["y" * CAP] == 2  # equal in their first 1,024 characters: one group
    assert got["é" * CAP] == 1  # characters, not bytes: never half an é
    assert max(len(value) for value in got) == CAP
    assert result["meta"]["truncated_values"] is True and result["meta"]["value_max_chars"] == CAP
    assert result["meta"]["total_rows"] == len(expected)
    # The answer is bounded by the cut: 53 values of 1 KB, not 50 of 16 KB (802 KB before).
    size = len(
        api.post(
            "/api/query",
            json={
                "metrics": ["events"],
                "dimensions": ["event_attributes.blob"],
                "limit": 1000,
                "date_range": NOV,
            },
            headers=ADMIN,
        ).content
    )
    assert size < len(expected) * (CAP * 2 + 100)


def test_a_long_referrer_is_cut_and_short_values_say_nothing(api: TestClient) -> None:
    result = _query(api, metrics=["events"], dimensions=["referrer", "country"])
    got = {tuple(r["dimensions"]): r["metrics"][0] for r in result["results"]}
    referrer = next(e["referrer"] for e in EVENTS if e["event_id"] == "ref")
    assert got[(referrer[:CAP], "FR")] == 1 and len(referrer) > CAP
    assert result["meta"]["truncated_values"] is True
    short = _query(api, metrics=["events"], dimensions=["country"], include={"totals": True})
    assert short["meta"]["truncated_values"] is False
    in_nov = [e for e in EVENTS if e["event_time"].startswith("2026-11")]
    assert short["totals"]["events"] == len(in_nov)
    # Filters still match the whole value: the cut is in what a group-by answers.
    whole = _query(api, metrics=["events"], filters=[["contains", "event_attributes.blob", ["-two"]]])
    assert whole["results"][0]["metrics"] == [1]


def test_a_page_of_cut_values_then_the_next(api: TestClient) -> None:
    first = _query(
        api,
        metrics=["events"],
        dimensions=["event_attributes.blob"],
        limit=10,
        order_by=[["event_attributes.blob", "asc"]],
    )
    second = _query(
        api,
        metrics=["events"],
        dimensions=["event_attributes.blob"],
        limit=10,
        offset=10,
        order_by=[["event_attributes.blob", "asc"]],
    )
    values = sorted(_blobs())
    assert [r["dimensions"][0] for r in first["results"] + second["results"]] == values[:20]


# --- answer size ------------------------------------------------------------------------------


def _capped(store: Client, chdb_url: str, database: str, **caps: Any) -> TestClient:
    return api_client(_settings(chdb_url, database, **caps), fakeredis.FakeRedis(), store=store)


def test_an_answer_over_the_cap_is_a_413(store: Client, chdb_url: str, database: str) -> None:
    body = {"metrics": ["events"], "dimensions": ["event_attributes.blob"], "limit": 1000, "date_range": NOV}
    with _capped(store, chdb_url, database) as client:
        whole = len(client.post("/api/query", json=body, headers=ADMIN).content)
    with _capped(store, chdb_url, database, query_max_answer_bytes=whole - 1) as client:
        response = client.post("/api/query", json=body, headers=ADMIN)
        assert response.status_code == 413, response.text
        assert response.json()["error"].startswith("query: the answer is ")
        assert "QUERY_MAX_ANSWER_BYTES" in response.json()["error"]
        assert len(response.content) < 200
        # The same query, a page that fits: answered.
        assert client.post("/api/query", json={**body, "limit": 10}, headers=ADMIN).status_code == 200
    with _capped(store, chdb_url, database, query_max_answer_bytes=whole) as client:
        assert client.post("/api/query", json=body, headers=ADMIN).status_code == 200  # the cap itself fits


def test_the_store_refuses_a_result_far_over_the_cap(store: Client, chdb_url: str, database: str) -> None:
    # 54 values of ~1 KB (~56 KB as JSON) against a cap of 12,000 bytes: more than twice the cap,
    # so the store itself (max_result_bytes) refuses to build the result; no row leaves it.
    cap = 12_000
    body = {"metrics": ["events"], "dimensions": ["event_attributes.blob"], "limit": 100, "date_range": NOV}
    tz = ZoneInfo("UTC")
    selection = Selection(resolve_range(NOV, tz, datetime.now(UTC), None), tz, (), False, None)
    query = parse_query(QueryBody.model_validate(body), selection, max_rows=10_000)
    statement = sql.aggregate(query, database, Limits(10, 0, 0, max_answer_bytes=cap))
    assert f"max_result_bytes = {2 * cap + 16 * 4 * 100}" in statement.sql
    with pytest.raises(Exception, match="Code: 396"):  # TOO_MANY_ROWS_OR_BYTES: the result's limit
        store.query(statement.sql, parameters=statement.parameters)
    with _capped(store, chdb_url, database, query_max_answer_bytes=cap) as client:
        response = client.post("/api/query", json=body, headers=ADMIN)
        assert response.status_code == 413, response.text
        assert set(response.json()) == {"error"} and response.json()["error"].startswith("query: ")
        assert client.post("/api/query", json={**body, "limit": 2}, headers=ADMIN).status_code == 200


# --- memory ---------------------------------------------------------------------------------

CROWD = 200_000  # events with distinct visitors and sessions: their exact counts need ~12 MiB
HEAVY = {"metrics": ["visitors", "sessions"], "dimensions": ["link_id"], "date_range": NOV}
LIGHT = {"metrics": ["events"], "date_range": NOV}
TINY = 2 << 20


@pytest.fixture(scope="module")
def crowd(store: Client) -> Iterator[str]:
    name = f"t_{uuid.uuid4().hex[:12]}"
    migrate(store, name)
    store.command(
        f"INSERT INTO {name}.events (event_id, event_type, event_time, team_id, project_id, visitor_id,"
        " session_id, link_id, received_at) SELECT concat('c', toString(number)), 'view',"
        " toDateTime64('2026-11-02 00:00:00', 3, 'UTC') + toIntervalSecond(number % 86400), 't1', 'p1',"
        " concat('v', toString(number)), concat('s', toString(number)), concat('l', toString(number % 1000)),"
        f" now64(3) FROM numbers({CROWD})"
    )
    yield name
    store.command(f"DROP DATABASE IF EXISTS {name}")


def test_a_read_over_the_memory_cap_is_a_400_and_the_store_answers_the_next(
    store: Client, chdb_url: str, crowd: str, caplog: pytest.LogCaptureFixture
) -> None:
    with (
        _capped(store, chdb_url, crowd, query_max_memory_bytes=TINY) as client,
        caplog.at_level(logging.DEBUG),
    ):
        response = client.post("/api/query", json=HEAVY, headers=ADMIN)
        assert response.status_code == 400, response.text
        assert response.json()["error"].startswith("query: ")
    assert not [r for r in _server_records(caplog) if r.exc_info or r.levelno >= logging.WARNING]
    with _capped(store, chdb_url, crowd) as client:  # the default cap: the same read is answered
        answered = client.post("/api/query", json={**HEAVY, "include": {"totals": True}}, headers=ADMIN)
        assert answered.status_code == 200, answered.text
        assert answered.json()["totals"] == {"visitors": CROWD, "sessions": CROWD}
        assert answered.json()["meta"]["total_rows"] == 1000


@pytest.fixture
def store_socket(short_dir: Path, store: Client) -> Iterator[RemoteEngine]:
    """The store process's read socket (`trackhouse up`), served from a thread, one read slot:
    a read that failed and kept its slot would make the next one wait forever."""
    path = prepare_socket(short_dir / "run")
    server = uvicorn.Server(
        uvicorn.Config(
            read_app(ClientEngine(lambda: store, one_slot()), stream_seconds=60, idle_seconds=30),
            uds=str(path),
            log_level="warning",
            access_log=False,
        )
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    remote = RemoteEngine(path, timeout_seconds=30)
    wait_for(remote.ping, timeout_seconds=30, what="the read socket")
    yield remote
    server.should_exit = True
    thread.join(timeout=10)


def test_over_the_memory_cap_through_the_store_socket(
    store_socket: RemoteEngine, store: Client, chdb_url: str, crowd: str
) -> None:
    def app(**caps: Any) -> TestClient:
        settings = _settings(chdb_url, crowd, **caps)
        created = create_app(
            settings, redis=fakeredis.FakeRedis(), open_store=lambda: store, read_engine=store_socket
        )
        return TestClient(created, raise_server_exceptions=False)

    with app(query_max_memory_bytes=TINY) as capped, app() as plain:
        for _ in range(3):  # each refusal gives the store's one read slot back
            refused = capped.post("/api/query", json=HEAVY, headers=ADMIN)
            assert refused.status_code == 400 and refused.json()["error"].startswith("query: "), refused.text
            assert plain.post("/api/query", json=LIGHT, headers=ADMIN).json()["results"][0]["metrics"] == [
                CROWD
            ]
        assert store_socket.ping()
        answered = plain.post("/api/query", json={**HEAVY, "include": {"totals": True}}, headers=ADMIN)
        assert answered.status_code == 200 and answered.json()["totals"] == {
            "visitors": CROWD,
            "sessions": CROWD,
        }
