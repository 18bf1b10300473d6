"""POST /api/query against real chDB: a small fixture of known events goes straight into the
store, and every expected number is computed here, from that fixture, by the README's
definitions (engagement events measure views; bots out by default; one row per event_id)."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import fakeredis
import pytest
from clickhouse_connect.driver.client import Client
from fastapi.testclient import TestClient

from shared.settings import Settings
from shared.store.migrate import migrate
from tests.support.apps import api_client
from tests.support.stored import store_events

pytestmark = pytest.mark.integration

ADMIN = {"Authorization": "Bearer admin-token-for-tests"}
READ_P1 = {"Authorization": "Bearer rk-p1"}
ALL_METRICS = [
    "events",
    "visitors",
    "sessions",
    "bounce_rate",
    "avg_time_spent_sec",
    "conversions",
    "conversion_value",
    "conversion_rate",
    "qr_scans",
]
NOV = ["2026-11-01", "2026-11-30"]


def _event(event_id: str, event_type: str, at: str, **fields: Any) -> dict[str, Any]:
    base = {"project_id": "p1", "team_id": "t1", "visitor_id": "v1", "session_id": "s1", "is_bounce": True}
    return {**base, **fields, "event_id": event_id, "event_type": event_type, "event_time": at}


EVENTS = [
    _event(
        "e1",
        "view",
        "2026-11-02T09:00:00Z",
        country="DE",
        city="Berlin",
        link_id="l1",
        link_slug="promo",
        link_tags=["x", "y"],
        event_attributes={"page": "/home"},
        referrer="https://www.google.com/search?q=a",
        utm_source="google",
        device_type="desktop",
        browser="Firefox",
        os="Linux",
    ),
    _event(
        "e2",
        "engagement",
        "2026-11-02T09:05:00Z",
        country="DE",
        time_spent_sec=40,
        is_bounce=False,
        event_attributes={"page": "/home", "view_id": "e1"},
    ),
    _event(  # the same view's second visible stretch, sent on the next hide
        "e2b",
        "engagement",
        "2026-11-02T09:05:30Z",
        country="DE",
        time_spent_sec=20,
        is_bounce=False,
        event_attributes={"page": "/home", "view_id": "e1"},
    ),
    _event(
        "e3",
        "click",
        "2026-11-02T09:06:00Z",
        country="DE",
        link_id="l1",
        link_slug="promo",
        is_qr_scan=True,
        qr_code_id="q1",
        link_tags=["y"],
        event_attributes={"page": "/pricing", "n": 3},
        is_bounce=False,
    ),
    _event(
        "e4",
        "view",
        "2026-11-03T23:30:00Z",
        visitor_id="v2",
        session_id="s2",
        country="FR",
        referrer="https://bing.com/x",
        link_slug="Promo-Two",
        event_attributes={"page": "/home"},
    ),
    _event(
        "e5",
        "engagement",
        "2026-11-03T23:31:00Z",
        visitor_id="v2",
        session_id="s2",
        country="FR",
        time_spent_sec=10,
    ),
    _event(
        "e6",
        "conversion",
        "2026-11-05T12:00:00Z",
        visitor_id="v2",
        session_id="s3",
        country="FR",
        conversion_type="purchase",
        conversion_value=99.5,
        link_id="l2",
        link_tags=["y"],
    ),
    _event(
        "e7",
        "click",
        "2026-11-05T12:30:00Z",
        visitor_id="v3",
        session_id="s4",
        conversion_type="signup",
        conversion_value=1.25,
        utm_source="newsletter",
        device_type="mobile",
    ),
    _event("e8", "view", "2026-11-05T13:00:00Z", visitor_id="v3", session_id="s4", time_spent_sec=12),
    _event(
        "e9", "view", "2026-11-06T08:00:00Z", visitor_id="bot1", session_id="sb", is_bot=True, country="US"
    ),
    _event(
        "e10",
        "view",
        "2026-11-02T10:00:00Z",
        project_id="p2",
        team_id="t2",
        visitor_id="v9",
        session_id="s9",
        country="US",
        conversion_type="lead",
        conversion_value=7,
    ),
    # A DST week in Europe/Berlin: summer time ends 2026-10-25 03:00 local (a 25-hour day).
    _event("d1", "view", "2026-10-24T22:30:00Z", visitor_id="v5", session_id="s5"),  # 10-25 00:30 CEST
    _event("d2", "view", "2026-10-25T22:30:00Z", visitor_id="v5", session_id="s6"),  # 10-25 23:30 CET
    _event("d3", "view", "2026-10-25T23:30:00Z", visitor_id="v6", session_id="s7"),  # 10-26 00:30 CET
]
RESENT = "e1"  # stored twice, in two inserts: counted once


@pytest.fixture(scope="module")
def api(store: Client, chdb_url: str) -> Iterator[TestClient]:
    database = f"t_{uuid.uuid4().hex[:12]}"
    migrate(store, database)
    store.command(
        f"SYSTEM STOP MERGES {database}.events"
    )  # keep the re-sent copy unmerged: FINAL must count it once
    store_events(store, database, EVENTS)
    store_events(store, database, [e for e in EVENTS if e["event_id"] == RESENT])
    settings = Settings(
        clickhouse_url=chdb_url,
        clickhouse_database=database,
        admin_token="admin-token-for-tests",
        read_keys={"rk-p1": "p1"},
        backpressure_check_interval_ms=0,
    )
    with api_client(settings, fakeredis.FakeRedis(), store=store) as client:
        client.store_rows = store.command(  # type: ignore[attr-defined]
            f"SELECT count() FROM {database}.events WHERE event_id = {{id:String}}", parameters={"id": RESENT}
        )
        yield client
    store.command(f"DROP DATABASE IF EXISTS {database}")


# --- the definitions, applied to the fixture -------------------------------------------------


def _at(event: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(event["event_time"].replace("Z", "+00:00"))


def _select(
    *,
    start: str = NOV[0],
    end: str = NOV[1],
    tz: str = "UTC",
    bots: bool = False,
    project: str | None = None,
    where: Callable[[dict[str, Any]], bool] = lambda e: True,
) -> list[dict[str, Any]]:
    zone = ZoneInfo(tz)
    lo = datetime.fromisoformat(start).replace(tzinfo=zone)
    hi = datetime.fromisoformat(end).replace(tzinfo=zone) + timedelta(days=1)
    return [
        e
        for e in EVENTS
        if lo <= _at(e) < hi
        and (bots or not e.get("is_bot"))
        and (project is None or e["project_id"] == project)
        and where(e)
    ]


def _is_conversion(e: dict[str, Any]) -> bool:
    return e["event_type"] != "engagement" and (
        e["event_type"] == "conversion" or bool(e.get("conversion_type"))
    )


def expected(events: list[dict[str, Any]]) -> dict[str, Any]:
    counted = [e for e in events if e["event_type"] != "engagement"]
    visitors = {e["visitor_id"] for e in counted}
    sessions = {e["session_id"] for e in events}
    bounced = {s for s in sessions if all(e.get("is_bounce", True) for e in events if e["session_id"] == s)}
    timed = [e for e in events if e["event_type"] == "engagement" or e.get("time_spent_sec")]
    # A view measured in several engagement events is one view (event_attributes.view_id).
    measured = {
        ("view", e.get("event_attributes", {}).get("view_id", e["event_id"]))
        if e["event_type"] == "engagement"
        else ("event", e["event_id"])
        for e in timed
    }
    conversions = [e for e in events if _is_conversion(e)]
    return {
        "events": len(counted),
        "visitors": len(visitors),
        "sessions": len({e["session_id"] for e in counted}),
        "bounce_rate": 100 * len(bounced) / len(sessions) if sessions else None,
        "avg_time_spent_sec": sum(e.get("time_spent_sec", 0) for e in timed) / len(measured)
        if timed
        else None,
        "conversions": len(conversions),
        "conversion_value": sum(e.get("conversion_value", 0) for e in conversions),
        "conversion_rate": 100 * len({e["visitor_id"] for e in conversions}) / len(visitors)
        if visitors
        else None,
        "qr_scans": sum(1 for e in counted if e.get("is_qr_scan")),
    }


def query(api: TestClient, headers: dict[str, str] = ADMIN, **body: Any) -> dict[str, Any]:
    body.setdefault("date_range", NOV)
    response = api.post("/api/query", json=body, headers=headers)
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


def by_dimensions(result: dict[str, Any]) -> dict[tuple[str, ...], list[Any]]:
    return {tuple(r["dimensions"]): r["metrics"] for r in result["results"]}


# --- tests ----------------------------------------------------------------------------------


def test_every_metric_over_the_whole_selection(api: TestClient) -> None:
    truth = expected(_select())
    result = query(api, metrics=ALL_METRICS, include={"totals": True})
    assert result["results"] == [
        {"dimensions": [], "metrics": pytest.approx([truth[m] for m in ALL_METRICS])}
    ]
    assert result["totals"] == pytest.approx(truth)
    assert result["meta"]["total_rows"] == 1


def test_a_resent_event_is_counted_once(api: TestClient) -> None:
    assert api.store_rows == 2  # type: ignore[attr-defined]  # both copies are in the table
    result = query(api, metrics=["events"], filters=[["is", "link_slug", ["promo"]]])
    assert result["results"][0]["metrics"] == [len(_select(where=lambda e: e.get("link_slug") == "promo"))]


def test_approximate_is_opt_in_and_said_in_meta(api: TestClient) -> None:
    promo = [["is", "link_slug", ["promo"]]]
    exact = query(api, metrics=["events", "visitors"], filters=promo)
    approximate = query(api, metrics=["events", "visitors"], filters=promo, approximate=True)
    assert exact["meta"]["approximate"] is False and approximate["meta"]["approximate"] is True
    truth = len(_select(where=lambda e: e.get("link_slug") == "promo"))
    assert exact["results"][0]["metrics"][0] == truth
    # Without FINAL the unmerged re-sent copy of e1 counts again: what "approximate" allows.
    assert approximate["results"][0]["metrics"][0] == truth + 1


def test_grouped_by_a_dimension_with_the_default_order(api: TestClient) -> None:
    result = query(api, metrics=["events", "visitors", "conversion_value"], dimensions=["country"])
    selected = _select()
    countries = {e.get("country", "") for e in selected}
    truth = {
        (c,): [expected(g)[m] for m in ("events", "visitors", "conversion_value")]
        for c in countries
        if (g := [e for e in selected if e.get("country", "") == c])
    }
    assert by_dimensions(result) == truth  # sums of exactly representable values
    events = [r["metrics"][0] for r in result["results"]]
    assert events == sorted(events, reverse=True)  # default: first metric descending
    assert result["meta"]["total_rows"] == len(truth)


def test_order_limit_offset_and_total_rows(api: TestClient) -> None:
    full = query(api, metrics=["events"], dimensions=["link_slug"], order_by=[["link_slug", "asc"]])
    slugs = [r["dimensions"][0] for r in full["results"]]
    assert slugs == sorted({e.get("link_slug", "") for e in _select()})
    page = query(
        api, metrics=["events"], dimensions=["link_slug"], order_by=[["link_slug", "asc"]], limit=1, offset=1
    )
    assert [r["dimensions"][0] for r in page["results"]] == slugs[1:2]
    assert page["meta"]["total_rows"] == len(slugs)


def test_link_tag_gives_one_row_per_tag(api: TestClient) -> None:
    result = query(api, metrics=["events"], dimensions=["link_tag"])
    counted = [e for e in _select() if e["event_type"] != "engagement"]
    truth: dict[tuple[str, ...], list[int]] = {}
    for e in counted:
        for tag in e.get("link_tags") or [""]:
            truth.setdefault((tag,), [0])[0] += 1
    assert by_dimensions(result) == truth


def test_attribute_dimension_and_filter(api: TestClient) -> None:
    result = query(api, metrics=["events"], dimensions=["event_attributes.page"])
    counted = [e for e in _select() if e["event_type"] != "engagement"]
    pages: dict[tuple[str, ...], list[int]] = {}
    for e in _select():
        page = (e.get("event_attributes") or {}).get("page", "")
        pages.setdefault((page,), [0])[0] += e["event_type"] != "engagement"
    assert by_dimensions(result) == pages
    numbers = by_dimensions(query(api, metrics=["events"], dimensions=["event_attributes.n"]))
    assert numbers[("3",)] == [sum(1 for e in counted if (e.get("event_attributes") or {}).get("n") == 3)]
    home = query(api, metrics=["events"], filters=[["is", "event_attributes.page", ["/home"]]])
    assert home["results"][0]["metrics"] == [
        sum(1 for e in counted if (e.get("event_attributes") or {}).get("page") == "/home")
    ]


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


def test_bots_left_out_unless_included(api: TestClient) -> None:
    without = query(api, metrics=["events", "visitors"])
    with_bots = query(api, metrics=["events", "visitors"], include={"bots": True})
    assert without["results"][0]["metrics"] == [expected(_select())[m] for m in ("events", "visitors")]
    assert with_bots["results"][0]["metrics"] == [
        expected(_select(bots=True))[m] for m in ("events", "visitors")
    ]
    assert with_bots["results"][0]["metrics"] != without["results"][0]["metrics"]


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


def test_openapi_documents_the_read_models(api: TestClient) -> None:
    paths = api.get("/openapi.json").json()["paths"]
    query_op = paths["/api/query"]["post"]
    assert query_op["requestBody"]["content"]["application/json"]["schema"]["$ref"].endswith("/QueryBody")
    assert query_op["responses"]["200"]["content"]["application/json"]["schema"]["$ref"].endswith(
        "/QueryAnswer"
    )
    assert {"400", "401", "408", "429"} <= set(query_op["responses"])
    assert paths["/api/export"]["post"]["requestBody"]["content"]["application/json"]["schema"][
        "$ref"
    ].endswith("/ExportBody")


def test_relative_range_today_includes_an_event_tracked_now(api: TestClient, store: Client) -> None:
    database = api.app.state.reads.settings.clickhouse_database  # type: ignore[attr-defined]
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    store_events(store, database, [_event("now-1", "view", now, project_id="p-now")])
    for spec in ("today", "24h", "5m", "7d", "all"):
        result = query(api, metrics=["events"], date_range=spec, filters=[["is", "project_id", ["p-now"]]])
        assert result["results"][0]["metrics"] == [1], spec


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
