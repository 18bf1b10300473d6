"""Enrichment rules, one by one: each fills what the client left out and never overrides it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from redis import Redis

from shared.event.enrich import Enricher, truncate_ip
from shared.event.errors import EventError
from shared.event.parse import RequestContext, parse_event
from shared.event.visitors import DailySalt
from shared.settings import Settings
from tests.support.builders import basic_event

NOW = datetime(2026, 3, 4, 12, 0, 0, tzinfo=UTC)
CHROME = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0 Safari/537.36"
IPHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1"
)
GOOGLEBOT = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"


def enrich(
    event: dict[str, Any],
    redis: Redis,
    *,
    ua: str = CHROME,
    ip: str = "8.8.8.8",
    now: datetime = NOW,
    country: str | None = None,
    **settings: Any,
) -> tuple[dict[str, Any], str | None]:
    config = Settings(**settings)
    context = RequestContext(received_at=now, ip_address=ip, user_agent=ua, country=country)
    row = parse_event(event, context, generate_ids=False)
    return row, Enricher(config, DailySalt(redis, clock=lambda: now)).apply(row, context)


def test_user_agent_fills_device_browser_os(fake_redis: Redis) -> None:
    row, dropped = enrich(basic_event(), fake_redis, ua=IPHONE)
    assert (row["device_type"], row["browser"], row["os"], row["is_bot"]) == (
        "mobile",
        "Mobile Safari",
        "iOS",
        False,
    )
    assert dropped is None


def test_client_values_are_never_overridden(fake_redis: Redis) -> None:
    sent = basic_event(
        device_type="kiosk", browser="Custom", os="Plan9", country="NZ", visitor_id="v1", session_id="s1"
    )
    row, _ = enrich(sent, fake_redis, ua=IPHONE)
    assert (row["device_type"], row["browser"], row["os"], row["country"]) == (
        "kiosk",
        "Custom",
        "Plan9",
        "NZ",
    )
    assert (row["visitor_id"], row["session_id"]) == ("v1", "s1")


def test_bots_are_flagged_and_optionally_dropped(fake_redis: Redis) -> None:
    row, dropped = enrich(basic_event(), fake_redis, ua=GOOGLEBOT)
    assert row["is_bot"] is True and row["device_type"] == "bot" and dropped is None
    _, dropped = enrich(basic_event(), fake_redis, ua=GOOGLEBOT, drop_bots=True)
    assert dropped == "bot"


def test_each_step_can_be_switched_off(fake_redis: Redis) -> None:
    row, _ = enrich(basic_event(), fake_redis, ua=IPHONE, enrich_user_agent=False, geo_database=False)
    assert (row["device_type"], row["browser"], row["country"]) == ("", "", "")


def test_visitor_hash_is_stable_within_a_day_and_scoped(fake_redis: Redis) -> None:
    first, _ = enrich(basic_event(project_id="p1"), fake_redis)
    again, _ = enrich(basic_event(project_id="p1"), fake_redis, now=NOW + timedelta(hours=3))
    other_project, _ = enrich(basic_event(project_id="p2"), fake_redis)
    other_ip, _ = enrich(basic_event(project_id="p1"), fake_redis, ip="8.8.4.4")
    next_day, _ = enrich(basic_event(project_id="p1"), fake_redis, now=NOW + timedelta(days=1))
    assert first["visitor_id"] == again["visitor_id"]
    assert (
        len(
            {first["visitor_id"], other_project["visitor_id"], other_ip["visitor_id"], next_day["visitor_id"]}
        )
        == 4
    )


def test_visitor_is_random_when_hashing_is_off(fake_redis: Redis) -> None:
    one, _ = enrich(basic_event(), fake_redis, visitor_hash=False)
    two, _ = enrich(basic_event(), fake_redis, visitor_hash=False)
    assert one["visitor_id"] != two["visitor_id"]


def test_session_is_left_to_the_worker_unless_sessions_are_off(fake_redis: Redis) -> None:
    row, _ = enrich(basic_event(), fake_redis)
    assert row["session_id"] == ""  # the worker assigns the visitor's current session
    row, _ = enrich(basic_event(), fake_redis, sessions=False)
    assert len(row["session_id"]) == 36


def test_country_from_trusted_header_else_the_offline_database(fake_redis: Redis) -> None:
    row, _ = enrich(basic_event(), fake_redis, country="FR")
    assert row["country"] == "FR"
    row, _ = enrich(basic_event(), fake_redis, ip="8.8.8.8")
    assert row["country"] == "US"


@pytest.mark.parametrize(
    ("storage", "ip", "stored"),
    [
        ("full", "203.0.113.77", "203.0.113.77"),
        ("truncated", "203.0.113.77", "203.0.113.0"),
        ("truncated", "2001:db8:1234:5678::1", "2001:db8:1234::"),
        ("none", "203.0.113.77", ""),
    ],
)
def test_ip_storage(fake_redis: Redis, storage: str, ip: str, stored: str) -> None:
    full, _ = enrich(basic_event(), fake_redis, ip=ip)
    row, _ = enrich(basic_event(), fake_redis, ip=ip, ip_storage=storage)
    assert row["ip_address"] == stored
    assert row["visitor_id"] == full["visitor_id"]  # hashed from the full address first


def test_truncate_ip() -> None:
    assert truncate_ip("192.168.7.200") == "192.168.7.0"


def test_future_times_are_clamped_and_flagged(fake_redis: Redis) -> None:
    ahead = (NOW + timedelta(hours=2)).isoformat()
    row, _ = enrich(basic_event(event_time=ahead), fake_redis)
    assert row["event_time"] == "2026-03-04T12:00:00.000Z" and row["event_time_clamped"] is True
    near, _ = enrich(basic_event(event_time=(NOW + timedelta(seconds=60)).isoformat()), fake_redis)
    assert near["event_time"] == "2026-03-04T12:01:00.000Z" and near["event_time_clamped"] is False


def test_any_past_time_is_accepted_by_default(fake_redis: Redis) -> None:
    for when in ("2019-06-01T08:30:00Z", "1901-01-01T00:00:00Z", "1900-01-01T00:00:00Z"):
        row, _ = enrich(basic_event(event_time=when), fake_redis)
        assert row["event_time"] == when.replace(":00Z", ":00.000Z")


def test_an_optional_past_window_refuses_older_backfills(fake_redis: Redis) -> None:
    row, _ = enrich(basic_event(event_time=(NOW - timedelta(days=30)).isoformat()), fake_redis, max_past_days=90)
    assert row["event_time"].startswith("2026-02-02")
    with pytest.raises(EventError, match="event_time: more than 90 days in the past"):
        enrich(basic_event(event_time=(NOW - timedelta(days=91)).isoformat()), fake_redis, max_past_days=90)
