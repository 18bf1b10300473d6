"""Pages of a query against real chDB: a zero-filled time series is filled, then paged (a page
of days is those days, whichever of them hold events), and totals cover the whole selection,
not the page's rows nor a sum over its groups. Expected values come from the fixtures here."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest
from clickhouse_connect.driver.client import Client

from tests.support.read_api import post, read_api

pytestmark = pytest.mark.integration

FROM, TO = "2026-11-01", "2026-11-05"
DAYS = [f"2026-11-{d:02d}" for d in range(1, 6)]
PER_DAY = {"2026-11-01": 1, "2026-11-03": 3, "2026-11-04": 2}
"""Events per day; the 2nd and the 5th have none."""


def _event(event_id: str, day: str, visitor: str, **fields: Any) -> dict[str, Any]:
    return {
        "team_id": "t1",
        "project_id": "p1",
        "session_id": f"s-{event_id}",
        **fields,
        "event_id": event_id,
        "event_type": "view",
        "visitor_id": visitor,
        "event_time": f"{day}T12:00:00Z",
    }


SERIES = [_event(f"{day}-{i}", day, f"v-{day}-{i}") for day, n in PER_DAY.items() for i in range(n)]


@pytest.fixture(scope="module")
def series_api(store: Client, chdb_url: str) -> Any:
    with read_api(store, chdb_url, SERIES) as (client, _):
        yield client


def _days(client: Any, **body: Any) -> dict[str, Any]:
    request = {"metrics": ["events"], "dimensions": ["time:day"], "date_range": [FROM, TO], **body}
    answer: dict[str, Any] = post(client, "/api/query", request)
    return answer


def _page(answer: dict[str, Any]) -> list[tuple[str, int]]:
    return [(r["dimensions"][0], r["metrics"][0]) for r in answer["results"]]


def test_a_page_of_a_zero_filled_series_is_those_days(series_api: Any) -> None:
    filled = [(day, PER_DAY.get(day, 0)) for day in DAYS]
    answer = _days(series_api, limit=2, offset=2)
    assert _page(answer) == filled[2:4] == [("2026-11-03", 3), ("2026-11-04", 2)]
    assert answer["meta"]["total_rows"] == len(DAYS)
    assert _page(_days(series_api, limit=2, offset=0)) == filled[0:2]
    assert _page(_days(series_api, limit=2, offset=4)) == filled[4:]
    assert _page(_days(series_api, limit=10)) == filled


def test_a_page_of_a_series_ordered_otherwise(series_api: Any) -> None:
    filled = [(day, PER_DAY.get(day, 0)) for day in DAYS]
    newest_first = list(reversed(filled))
    assert _page(_days(series_api, order_by=[["time:day", "desc"]], limit=2, offset=1)) == newest_first[1:3]
    busiest = sorted(filled, key=lambda row: -row[1])  # stable: days in order among equals
    assert _page(_days(series_api, order_by=[["events", "desc"]], limit=3, offset=1)) == busiest[1:4]


# --- totals --------------------------------------------------------------------------------

TRAVELLER = [  # one visitor, one session, in two countries: 2 events in DE, 1 in FR
    _event("t1", "2026-11-02", "traveller", session_id="trip", country="DE"),
    _event("t2", "2026-11-02", "traveller", session_id="trip", country="DE"),
    _event("t3", "2026-11-03", "traveller", session_id="trip", country="FR"),
]


@pytest.fixture(scope="module")
def traveller_api(store: Client, chdb_url: str) -> Any:
    with read_api(store, chdb_url, TRAVELLER) as (client, _):
        yield client


def test_totals_cover_the_whole_selection_not_the_page(traveller_api: Any) -> None:
    per_country = Counter(e["country"] for e in TRAVELLER)
    truth = {"events": len(TRAVELLER), "visitors": len({e["visitor_id"] for e in TRAVELLER})}
    assert truth == {"events": 3, "visitors": 1}
    body = {
        "metrics": ["events", "visitors"],
        "dimensions": ["country"],
        "date_range": [FROM, TO],
        "include": {"totals": True},
    }
    page = post(traveller_api, "/api/query", {**body, "limit": 1})
    (top,) = page["results"]
    busiest, events = per_country.most_common(1)[0]
    assert top == {"dimensions": [busiest], "metrics": [events, 1]}
    assert page["totals"] == truth  # not the page's 2 events
    assert page["meta"]["total_rows"] == len(per_country)
    whole = post(traveller_api, "/api/query", body)
    assert sum(r["metrics"][1] for r in whole["results"]) == 2  # a visitor per country...
    assert whole["totals"] == truth  # ...is one visitor in all
    offset = post(traveller_api, "/api/query", {**body, "limit": 1, "offset": 1})
    assert offset["totals"] == truth
