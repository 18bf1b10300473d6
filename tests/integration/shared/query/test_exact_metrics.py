"""The exact metrics are exact, and count what the README says, against real chDB.

Expected numbers come from each test's own fixture: `visitors` over 200,000 distinct visitors
(where `uniq`'s sampling shows), and the conversion metrics over a small fixture in which
engagement events carry a conversion_type and one visitor is seen only in engagement events
(engagement events measure page views; they are no events, visitors or conversions of their own).
"""

from __future__ import annotations

from typing import Any

import pytest
from clickhouse_connect.driver.client import Client

from tests.support.read_api import post, read_api

pytestmark = pytest.mark.integration

DAY = ["2026-11-02", "2026-11-02"]


def _event(event_id: str, event_type: str, visitor: str, **fields: Any) -> dict[str, Any]:
    base = {"team_id": "t1", "project_id": "p1", "session_id": f"s-{visitor}", "is_bounce": False}
    return {
        **base,
        **fields,
        "event_id": event_id,
        "event_type": event_type,
        "visitor_id": visitor,
        "event_time": "2026-11-02T10:00:00Z",
    }


CONVERSION_FIXTURE = [
    _event("a1", "view", "va"),
    _event("a2", "conversion", "va", conversion_type="purchase", conversion_value=30.0),
    _event("b1", "view", "vb"),
    _event("b2", "click", "vb", conversion_type="signup", conversion_value=5.0),  # a conversion by its type
    _event("c1", "view", "vc"),
    # An engagement event measures vc's view: its conversion_type makes no conversion.
    _event("c2", "engagement", "vc", conversion_type="signup", conversion_value=7.0, time_spent_sec=12),
    _event("d1", "view", "vd"),
    # ve is seen only in engagement events: no visitor, so not in the rate's denominator.
    _event("e1", "engagement", "ve", time_spent_sec=3),
    _event("e2", "engagement", "ve", time_spent_sec=4, conversion_type="purchase", conversion_value=9.0),
]


def _truth(events: list[dict[str, Any]]) -> dict[str, Any]:
    counted = [e for e in events if e["event_type"] != "engagement"]
    conversions = [e for e in counted if e["event_type"] == "conversion" or e.get("conversion_type")]
    visitors = {e["visitor_id"] for e in counted}
    converted = {e["visitor_id"] for e in conversions}
    return {
        "visitors": len(visitors),
        "conversions": len(conversions),
        "conversion_value": sum(e.get("conversion_value", 0.0) for e in conversions),
        "conversion_rate": 100 * len(converted) / len(visitors),
    }


@pytest.fixture(scope="module")
def conversion_api(store: Client, chdb_url: str) -> Any:
    with read_api(store, chdb_url, CONVERSION_FIXTURE) as (client, _):
        yield client


def _metrics(client: Any, names: list[str], **body: Any) -> dict[str, Any]:
    answer = post(client, "/api/query", {"metrics": names, "date_range": DAY, **body})
    (row,) = answer["results"]
    return dict(zip(names, row["metrics"], strict=True))


def test_conversions_leave_out_engagement_events_with_a_conversion_type(conversion_api: Any) -> None:
    truth = _truth(CONVERSION_FIXTURE)
    assert truth["conversions"] == 2  # a2 and b2; not c2 or e2, engagement events
    got = _metrics(conversion_api, ["conversions", "conversion_value"])
    assert got == {
        "conversions": truth["conversions"],
        "conversion_value": pytest.approx(truth["conversion_value"]),
    }


def test_conversion_rate_divides_by_visitors_of_counted_events_only(conversion_api: Any) -> None:
    truth = _truth(CONVERSION_FIXTURE)
    assert (truth["visitors"], truth["conversion_rate"]) == (4, 50.0)  # ve is no visitor: not 2 of 5
    got = _metrics(conversion_api, ["visitors", "conversion_rate"])
    assert got == {"visitors": truth["visitors"], "conversion_rate": pytest.approx(truth["conversion_rate"])}
    # The same per group: vc's and ve's engagement events are no conversions there either.
    grouped = post(
        conversion_api,
        "/api/query",
        {"metrics": ["conversions", "conversion_rate"], "dimensions": ["project_id"], "date_range": DAY},
    )
    assert [r["metrics"] for r in grouped["results"]] == [
        [truth["conversions"], pytest.approx(truth["conversion_rate"])]
    ]


# --- 200,000 distinct visitors -------------------------------------------------------------

EVENTS = 300_000
DISTINCT_VISITORS = 200_000
"""Visitor of event n: n mod DISTINCT_VISITORS, so every visitor has one or two events."""


def test_visitors_is_exact_over_200000_distinct_visitors(store: Client, chdb_url: str) -> None:
    with read_api(store, chdb_url) as (client, database):
        # Straight into the table (the parser would take minutes for 300,000 events): what an
        # insert of the writer leaves, with the columns the metrics read.
        store.command(
            f"INSERT INTO {database}.events (event_id, event_type, event_time, visitor_id, session_id,"
            " team_id, project_id, received_at)"
            " SELECT concat('big-', toString(number)), 'view',"
            " toDateTime64('2026-11-02 00:00:00', 3, 'UTC') + toIntervalSecond(number % 86400),"
            f" concat('visitor-', toString(number % {DISTINCT_VISITORS})),"
            f" concat('session-', toString(number % {DISTINCT_VISITORS})), 't1', 'p1', now64(3)"
            f" FROM numbers({EVENTS})"
        )
        expected = len({n % DISTINCT_VISITORS for n in range(EVENTS)})
        assert expected == DISTINCT_VISITORS
        exact = _metrics(client, ["events", "visitors", "sessions", "conversion_rate"])
        assert exact == {"events": EVENTS, "visitors": expected, "sessions": expected, "conversion_rate": 0.0}
        by_project = post(
            client,
            "/api/query",
            {
                "metrics": ["visitors"],
                "dimensions": ["project_id"],
                "date_range": DAY,
                "include": {"totals": True},
            },
        )
        assert by_project["results"] == [{"dimensions": ["p1"], "metrics": [expected]}]
        assert by_project["totals"] == {"visitors": expected}
        # Approximate is the opt-in that may miss: said so in meta (not asserted off by any amount).
        approximate = post(
            client, "/api/query", {"metrics": ["visitors"], "date_range": DAY, "approximate": True}
        )
        assert approximate["meta"]["approximate"] is True
        assert approximate["results"][0]["metrics"][0] == pytest.approx(expected, rel=0.05)
