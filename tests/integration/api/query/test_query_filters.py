"""POST /api/query against real chDB, the filters and the query's validation: each operator over
the fixture (tests.integration.api.query.query_fixture), filters combined, a bad query a 400
naming its field, an injection only ever a value."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.integration.api.query.query_fixture import (
    ADMIN,
    _select,
    expected,
    query,
)

pytestmark = pytest.mark.integration


def _field(e: dict[str, Any], name: str) -> str:
    value = e.get(name, "")
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


@pytest.mark.parametrize(
    ("flt", "predicate"),
    [
        (["is", "country", ["DE", "FR"]], lambda e: _field(e, "country") in ("DE", "FR")),
        (["is_not", "country", ["DE"]], lambda e: _field(e, "country") != "DE"),
        (["contains", "link_slug", ["PROMO"]], lambda e: "promo" in _field(e, "link_slug").lower()),
        (
            ["contains_not", "referrer", ["google", "BING"]],
            lambda e: not any(n in _field(e, "referrer").lower() for n in ("google", "bing")),
        ),
        (
            ["matches", "link_slug", ["^P.*o$"]],
            lambda e: re.search("^P.*o$", _field(e, "link_slug")) is not None,
        ),
        (["is", "referrer_domain", ["google.com"]], lambda e: "google.com/" in _field(e, "referrer")),
        (["is", "is_qr_scan", [True]], lambda e: bool(e.get("is_qr_scan"))),
        (["is", "link_tag", ["y"]], lambda e: "y" in (e.get("link_tags") or [])),
        (["is_not", "link_tag", ["y"]], lambda e: "y" not in (e.get("link_tags") or [])),
        (
            ["contains", "event_attributes.page", ["pric"]],
            lambda e: "pric" in (e.get("event_attributes") or {}).get("page", ""),
        ),
    ],
)
def test_each_filter_operator(
    api: TestClient, flt: list[Any], predicate: Callable[[dict[str, Any]], bool]
) -> None:
    result = query(api, metrics=["events", "visitors"], filters=[flt])
    truth = expected(_select(where=predicate))
    assert result["results"][0]["metrics"] == [truth["events"], truth["visitors"]]


def test_filters_all_hold(api: TestClient) -> None:
    result = query(
        api, metrics=["events"], filters=[["is", "country", ["FR"]], ["is", "event_type", ["view"]]]
    )
    truth = _select(where=lambda e: e.get("country") == "FR" and e["event_type"] == "view")
    assert result["results"][0]["metrics"] == [len(truth)]


INJECTION = "x' OR 1=1) --; DROP TABLE events"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"metrics": []}, "metrics"),
        ({"metrics": ["events", "nope"]}, "metrics.1"),
        ({"metrics": [INJECTION]}, "metrics.0"),
        ({"metrics": ["events"], "dimensions": [INJECTION]}, "dimensions.0"),
        ({"metrics": ["events"], "dimensions": ["event_attributes." + INJECTION]}, "dimensions.0"),
        ({"metrics": ["events"], "dimensions": ["time:fortnight"]}, "dimensions.0"),
        ({"metrics": ["events"], "dimensions": ["time:day", "time:hour"]}, "dimensions"),
        ({"metrics": ["events"], "filters": [["is", INJECTION, ["a"]]]}, "filters.0"),
        ({"metrics": ["events"], "filters": [["drop", "country", ["a"]]]}, "filters.0.0"),
        ({"metrics": ["events"], "filters": [["is", "time:day", ["2026-11-01"]]]}, "filters.0"),
        ({"metrics": ["events"], "filters": [["is", "country", []]]}, "filters.0"),
        ({"metrics": ["events"], "filters": [["matches", "country", ["(unclosed"]]]}, "filters"),
        ({"metrics": ["events"], "date_range": INJECTION}, "date_range"),
        ({"metrics": ["events"], "date_range": ["2026-13-01", "2026-11-02"]}, "date_range"),
        ({"metrics": ["events"], "date_range": ["2026-11-05", "2026-11-01"]}, "date_range"),
        ({"metrics": ["events"], "date_range": ["2026-11-01", INJECTION]}, "date_range"),
        ({"metrics": ["events"], "timezone": "Mars/Olympus"}, "timezone"),
        ({"metrics": ["events"], "timezone": INJECTION}, "timezone"),
        ({"metrics": ["events"], "timezone": "../../etc/passwd"}, "timezone"),
        ({"metrics": ["events"], "order_by": [[INJECTION, "desc"]]}, "order_by.0"),
        ({"metrics": ["events"], "order_by": [["events", "sideways"]]}, "order_by.0.1"),
        ({"metrics": ["events"], "limit": 10_001}, "limit"),
        ({"metrics": ["events"], "dimensions": ["time:minute"], "date_range": "all"}, "date_range"),
        ({"metrics": ["events"], "extra": 1}, "extra"),
    ],
)
def test_bad_queries_are_400_naming_the_field(api: TestClient, body: dict[str, Any], field: str) -> None:
    response = api.post("/api/query", json=body, headers=ADMIN)
    assert response.status_code == 400, response.text
    message = response.json()["error"]
    assert message.startswith(f"{field}:"), message


def test_injection_in_values_is_only_a_value(api: TestClient) -> None:
    result = query(
        api, metrics=["events"], filters=[["is", "country", [INJECTION]], ["contains", "city", [INJECTION]]]
    )
    assert result["results"][0]["metrics"] == [0]
    assert query(api, metrics=["events"])["results"][0]["metrics"] == [expected(_select())["events"]]
