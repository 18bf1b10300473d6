"""`date_range: "all"` starts on the first day of the caller's own events: a read key's range
starts at its project's first event, never at another tenant's (that would tell it when the
other project started). Against real chDB, the expected dates taken from the fixture here."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from clickhouse_connect.driver.client import Client

from tests.support.read_api import ADMIN, post, read_api

pytestmark = pytest.mark.integration

KEY_P2 = {"Authorization": "Bearer rk-project-2"}


def _event(event_id: str, project: str, at: str) -> dict[str, Any]:
    return {
        "team_id": "t1",
        "project_id": project,
        "visitor_id": f"v-{event_id}",
        "session_id": f"s-{event_id}",
        "event_id": event_id,
        "event_type": "view",
        "event_time": at,
    }


EVENTS = [
    _event("p1-first", "p1", "2026-01-10T08:00:00Z"),  # the other tenant, months earlier
    _event("p1-later", "p1", "2026-06-01T08:00:00Z"),
    _event("p2-first", "p2", "2026-03-05T01:30:00Z"),  # 2026-03-04 in Santiago (-03:00)
    _event("p2-later", "p2", "2026-06-02T08:00:00Z"),
]


@pytest.fixture(scope="module")
def api(store: Client, chdb_url: str) -> Any:
    with read_api(store, chdb_url, EVENTS, read_keys={"rk-project-2": "p2"}) as (client, _):
        yield client


def _first_day(project: str | None, tz: str) -> date:
    zone = ZoneInfo(tz)
    return min(
        datetime.fromisoformat(e["event_time"].replace("Z", "+00:00")).astimezone(zone).date()
        for e in EVENTS
        if project is None or e["project_id"] == project
    )


@pytest.mark.parametrize("tz", ["UTC", "America/Santiago"])
def test_all_starts_at_the_read_keys_own_first_event(api: Any, tz: str) -> None:
    body = {"metrics": ["events"], "date_range": "all", "timezone": tz}
    scoped = post(api, "/api/query", body, KEY_P2)
    start = datetime.fromisoformat(scoped["meta"]["date_range"][0])
    assert start.date() == _first_day("p2", tz)
    assert (start.hour, start.minute) == (0, 0)  # its local midnight
    assert start.date() != _first_day(None, tz)  # not the other project's first date
    assert scoped["results"][0]["metrics"] == [sum(e["project_id"] == "p2" for e in EVENTS)]
    admin = post(api, "/api/query", body, ADMIN)
    assert datetime.fromisoformat(admin["meta"]["date_range"][0]).date() == _first_day(None, tz)
    assert admin["results"][0]["metrics"] == [len(EVENTS)]


def test_a_read_keys_monthly_series_over_all_starts_with_its_project(api: Any) -> None:
    body = {"metrics": ["events"], "dimensions": ["time:month"], "date_range": "all", "limit": 100}
    months = [r["dimensions"][0] for r in post(api, "/api/query", body, KEY_P2)["results"]]
    assert months[0] == _first_day("p2", "UTC").replace(day=1).isoformat()  # no empty January, February
