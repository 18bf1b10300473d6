"""POST /api/query against real chDB, time: days zero-filled in the asked timezone, hours in a
quarter-hour zone, a DST week in Berlin, relative ranges that include an event tracked now."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest
from clickhouse_connect.driver.client import Client
from fastapi.testclient import TestClient

from tests.integration.api.query.query_fixture import (
    _at,
    _event,
    _select,
    by_dimensions,
    expected,
    query,
)
from tests.support.stored import store_events

pytestmark = pytest.mark.integration


def test_time_day_zero_filled_in_the_timezone(api: TestClient) -> None:
    tz = "Europe/Berlin"
    result = query(
        api,
        metrics=["events", "bounce_rate"],
        dimensions=["time:day"],
        timezone=tz,
        date_range=["2026-11-01", "2026-11-07"],
    )
    days = [f"2026-11-{d:02d}" for d in range(1, 8)]
    assert [r["dimensions"][0] for r in result["results"]] == days
    for row in result["results"]:
        local = _select(start=row["dimensions"][0], end=row["dimensions"][0], tz=tz)
        truth = expected(local)
        assert row["metrics"] == pytest.approx([truth["events"], truth["bounce_rate"]])
    # e4 at 23:30 UTC on the 3rd is on the 4th in Berlin: bucketed locally, not in UTC.
    assert by_dimensions(result)[("2026-11-04",)][0] >= 1
    assert result["meta"]["date_range"] == ["2026-11-01T00:00:00+01:00", "2026-11-08T00:00:00+01:00"]
    assert result["meta"]["total_rows"] == 7


def test_time_hour_in_a_quarter_hour_timezone(api: TestClient) -> None:
    tz = "Asia/Kathmandu"  # +05:45
    result = query(
        api,
        metrics=["events"],
        dimensions=["time:hour"],
        timezone=tz,
        date_range=["2026-11-02", "2026-11-02"],
    )
    assert len(result["results"]) == 24
    zone = ZoneInfo(tz)
    truth: dict[str, int] = {}
    for e in _select(start="2026-11-02", end="2026-11-02", tz=tz):
        local = _at(e).astimezone(zone)
        label = local.strftime("%Y-%m-%dT%H:00:00")
        truth[label] = truth.get(label, 0) + (e["event_type"] != "engagement")
    assert truth  # e1 at 09:00Z is 14:45 local: the 14:00 bucket
    assert {r["dimensions"][0]: r["metrics"][0] for r in result["results"] if r["metrics"][0]} == {
        k: v for k, v in truth.items() if v
    }
    assert result["results"][0]["dimensions"] == ["2026-11-02T00:00:00"]


def test_a_dst_week_in_berlin(api: TestClient) -> None:
    tz = "Europe/Berlin"
    days = query(
        api, metrics=["events"], dimensions=["time:day"], timezone=tz, date_range=["2026-10-24", "2026-10-26"]
    )
    assert by_dimensions(days) == {("2026-10-24",): [0], ("2026-10-25",): [2], ("2026-10-26",): [1]}
    hours = query(
        api,
        metrics=["events"],
        dimensions=["time:hour"],
        timezone=tz,
        date_range=["2026-10-25", "2026-10-25"],
    )
    # 25 hours; the repeated 02:00 is one bucket: 24 labels.
    assert len(hours["results"]) == 24
    assert hours["meta"]["date_range"] == ["2026-10-25T00:00:00+02:00", "2026-10-26T00:00:00+01:00"]
    assert by_dimensions(hours)[("2026-10-25T23:00:00",)] == [1]
    weeks = query(
        api,
        metrics=["events"],
        dimensions=["time:week"],
        timezone=tz,
        date_range=["2026-10-19", "2026-11-01"],
    )
    assert by_dimensions(weeks) == {("2026-10-19",): [2], ("2026-10-26",): [1]}


def test_relative_range_today_includes_an_event_tracked_now(api: TestClient, store: Client) -> None:
    database = api.app.state.reads.settings.clickhouse_database  # type: ignore[attr-defined]
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    store_events(store, database, [_event("now-1", "view", now, project_id="p-now")])
    for spec in ("today", "24h", "5m", "7d", "all"):
        result = query(api, metrics=["events"], date_range=spec, filters=[["is", "project_id", ["p-now"]]])
        assert result["results"][0]["metrics"] == [1], spec
