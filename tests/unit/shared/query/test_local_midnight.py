"""A local day starts at its first instant, even where the clocks jump at midnight.

America/Santiago moves to summer time at 00:00 on 2026-09-06: 23:59:59 -04:00 is followed by
01:00:00 -03:00, so that day has no 00:00 and starts at 01:00, 23 hours long. The expected
starts here are found by walking UTC, not by the code under test."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from shared.query.ranges import buckets, iso, midnight, resolve_range

SANTIAGO = ZoneInfo("America/Santiago")
JUMP_DAY = date(2026, 9, 6)


def first_instant(day: date, tz: ZoneInfo) -> datetime:
    """The first quarter-hour (UTC) whose local date is `day`, in `tz`."""
    moment = datetime.combine(day - timedelta(days=2), datetime.min.time(), tzinfo=UTC)
    while moment.astimezone(tz).date() < day:
        moment += timedelta(minutes=15)
    return moment.astimezone(tz)


def test_the_first_instant_of_the_jump_day_is_01_00() -> None:
    start = first_instant(JUMP_DAY, SANTIAGO)
    assert iso(start) == "2026-09-06T01:00:00-03:00"  # the fixture's fact, found by walking UTC
    assert midnight(JUMP_DAY, SANTIAGO) == start
    assert iso(midnight(JUMP_DAY, SANTIAGO)) == iso(start)  # the wall time said too, not 00:00-04:00


def test_a_range_of_the_jump_day_runs_from_01_00() -> None:
    span = resolve_range(["2026-09-06", "2026-09-06"], SANTIAGO, datetime(2026, 9, 10, tzinfo=UTC), None)
    end = first_instant(JUMP_DAY + timedelta(days=1), SANTIAGO)
    assert (iso(span.start), iso(span.end)) == (iso(first_instant(JUMP_DAY, SANTIAGO)), iso(end))
    assert span.end - span.start == timedelta(hours=23)
    today = resolve_range("today", SANTIAGO, datetime(2026, 9, 6, 15, 0, tzinfo=UTC), None)
    assert iso(today.start) == "2026-09-06T01:00:00-03:00"


def test_the_jump_days_hours_start_at_01_00() -> None:
    span = resolve_range(["2026-09-06", "2026-09-06"], SANTIAGO, datetime(2026, 9, 10, tzinfo=UTC), None)
    hours = buckets(span, "hour", SANTIAGO, 100)
    start = first_instant(JUMP_DAY, SANTIAGO)
    expected = [
        (start + timedelta(hours=h)).astimezone(SANTIAGO).strftime("%Y-%m-%dT%H:00:00") for h in range(23)
    ]
    assert hours == expected
    assert hours[0] == "2026-09-06T01:00:00" and "2026-09-06T00:00:00" not in hours
    days = buckets(
        resolve_range(["2026-09-05", "2026-09-07"], SANTIAGO, datetime(2026, 9, 10, tzinfo=UTC), None),
        "day",
        SANTIAGO,
        100,
    )
    assert days == ["2026-09-05", "2026-09-06", "2026-09-07"]


@pytest.mark.parametrize("zone", ["America/Santiago", "America/Havana", "Asia/Beirut", "Europe/Berlin"])
def test_every_local_midnight_of_2026_is_its_days_first_instant(zone: str) -> None:
    tz = ZoneInfo(zone)
    day = date(2026, 1, 1)
    while day.year == 2026:
        start = midnight(day, tz)
        expected = first_instant(day, tz)
        assert (iso(start), start) == (iso(expected), expected), day
        day += timedelta(days=1)
