"""The fixture the POST /api/query tests share: a small set of known events stored straight into
the store, and the README's definitions (engagement events measure views; bots out by default;
one row per event_id) applied to it here, so every expected number is computed from the
fixture, not written down. The `api` fixture itself is in this package's conftest."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from fastapi.testclient import TestClient

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
