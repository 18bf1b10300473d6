"""POST /api/query against real chDB, who reads what: a read key sees its project only whatever it
filters on, a missing or wrong key is 401, guessing keys is throttled, a query over the read cap
is a 400."""

from __future__ import annotations

import fakeredis
import pytest
from clickhouse_connect.driver.client import Client
from fastapi.testclient import TestClient

from shared.settings import Settings
from tests.integration.api.query.query_fixture import (
    ADMIN,
    NOV,
    READ_P1,
    _select,
    expected,
    query,
)
from tests.support.apps import api_client

pytestmark = pytest.mark.integration


def test_read_key_sees_only_its_project_through_any_filter(api: TestClient) -> None:
    own = expected(_select(project="p1"))
    assert query(api, READ_P1, metrics=["events"])["results"][0]["metrics"] == [own["events"]]
    other = query(api, READ_P1, metrics=["events"], filters=[["is", "project_id", ["p2"]]])
    assert other["results"][0]["metrics"] == [0]
    other = query(api, READ_P1, metrics=["events"], filters=[["is_not", "project_id", ["p1"]]])
    assert other["results"][0]["metrics"] == [0]
    grouped = query(
        api,
        READ_P1,
        metrics=["events"],
        dimensions=["project_id", "team_id"],
        include={"bots": True},
        date_range="all",
    )
    assert {r["dimensions"][0] for r in grouped["results"]} == {"p1"}
    assert query(api, metrics=["events"], filters=[["is", "project_id", ["p2"]]])["results"][0][
        "metrics"
    ] == [1]


@pytest.mark.parametrize(
    "headers", [{}, {"Authorization": "Bearer wrong"}, {"Authorization": "Basic admin-token-for-tests"}]
)
def test_missing_or_wrong_key_is_401(api: TestClient, headers: dict[str, str]) -> None:
    for path, body in (("/api/query", {"metrics": ["events"]}), ("/api/export", {})):
        response = api.post(path, json=body, headers=headers)
        assert response.status_code == 401
        assert set(response.json()) == {"error"}


def test_guessing_read_keys_is_throttled(store: Client, chdb_url: str, api: TestClient) -> None:
    database = api.app.state.reads.settings.clickhouse_database  # type: ignore[attr-defined]
    settings = Settings(
        clickhouse_url=chdb_url,
        clickhouse_database=database,
        admin_token="admin-token-for-tests",
        read_keys={"rk-p1": "p1"},
        backpressure_check_interval_ms=0,
    )
    with api_client(settings, fakeredis.FakeRedis(), store=store) as client:  # its own lockout
        body = {"metrics": ["events"], "date_range": NOV}
        statuses = [
            client.post("/api/query", json=body, headers={"Authorization": f"Bearer guess-{i}"}).status_code
            for i in range(11)
        ]
        assert statuses == [401] * 10 + [429]
        refused = client.post("/api/query", json=body, headers=READ_P1)  # even the right key, for a while
        assert refused.status_code == 429 and int(refused.headers["Retry-After"]) >= 1


def test_a_query_over_the_read_cap_is_400(store: Client, chdb_url: str, api: TestClient) -> None:
    database = api.app.state.reads.settings.clickhouse_database  # type: ignore[attr-defined]
    capped = Settings(
        clickhouse_url=chdb_url,
        clickhouse_database=database,
        admin_token="admin-token-for-tests",
        query_max_rows_to_read=1,
        backpressure_check_interval_ms=0,
    )
    with api_client(capped, fakeredis.FakeRedis(), store=store) as client:
        response = client.post("/api/query", json={"metrics": ["events"], "date_range": NOV}, headers=ADMIN)
    assert response.status_code == 400
    assert "caps" in response.json()["error"]
