"""Date ranges and zero-fill buckets in a timezone, against a fixed clock."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from shared.query.errors import QueryError
from shared.query.ranges import buckets, iso, parse_timezone, resolve_range

NOW = datetime(2026, 11, 18, 15, 30, tzinfo=UTC)  # a Wednesday
BERLIN = parse_timezone("Europe/Berlin")


@pytest.mark.parametrize(
    ("spec", "start", "end"),
    [
        ("today", "2026-11-18T00:00:00+01:00", "2026-11-19T00:00:00+01:00"),
        ("7d", "2026-11-12T00:00:00+01:00", "2026-11-19T00:00:00+01:00"),
        ("30d", "2026-10-20T00:00:00+02:00", "2026-11-19T00:00:00+01:00"),
        ("month", "2026-11-01T00:00:00+01:00", "2026-12-01T00:00:00+01:00"),
        ("12mo", "2025-12-01T00:00:00+01:00", "2026-12-01T00:00:00+01:00"),
        ("year", "2026-01-01T00:00:00+01:00", "2027-01-01T00:00:00+01:00"),
        ("24h", "2026-11-17T16:30:00+01:00", "2026-11-18T16:30:00+01:00"),
        (["2026-10-25", "2026-10-25"], "2026-10-25T00:00:00+02:00", "2026-10-26T00:00:00+01:00"),
        (
            ["2026-11-01T10:00:00Z", "2026-11-01T12:00:00+01:00"],
            "2026-11-01T11:00:00+01:00",
            "2026-11-01T12:00:00+01:00",
        ),
    ],
)
def test_ranges_are_local(spec: object, start: str, end: str) -> None:
    span = resolve_range(spec, BERLIN, NOW, None)
    assert (iso(span.start), iso(span.end)) == (start, end)


def test_all_starts_at_the_first_event_day() -> None:
    first = datetime(2026, 9, 30, 23, 0, tzinfo=UTC)  # Oct 1 in Berlin
    assert iso(resolve_range("all", BERLIN, NOW, first).start) == "2026-10-01T00:00:00+02:00"
    assert iso(resolve_range("all", BERLIN, NOW, None).start) == "2026-11-18T00:00:00+01:00"


def test_day_buckets_across_a_dst_change() -> None:
    span = resolve_range(["2026-03-28", "2026-03-30"], BERLIN, NOW, None)
    assert buckets(span, "day", BERLIN, 100) == ["2026-03-28", "2026-03-29", "2026-03-30"]
    spring = resolve_range(["2026-03-29", "2026-03-29"], BERLIN, NOW, None)
    hours = buckets(spring, "hour", BERLIN, 100)
    assert len(hours) == 23 and "2026-03-29T02:00:00" not in hours  # 02:00 does not exist that day


def test_week_and_month_buckets_start_on_monday_and_the_first() -> None:
    span = resolve_range(["2026-11-04", "2026-11-18"], BERLIN, NOW, None)
    assert buckets(span, "week", BERLIN, 100) == ["2026-11-02", "2026-11-09", "2026-11-16"]
    assert buckets(span, "month", BERLIN, 100) == ["2026-11-01"]


def test_quarter_hour_timezone_hours() -> None:
    kathmandu = parse_timezone("Asia/Kathmandu")
    span = resolve_range(["2026-11-18", "2026-11-18"], kathmandu, NOW, None)
    labels = buckets(span, "hour", kathmandu, 100)
    assert labels[0] == "2026-11-18T00:00:00" and labels[-1] == "2026-11-18T23:00:00" and len(labels) == 24
    assert iso(span.start) == "2026-11-18T00:00:00+05:45"


def test_too_many_buckets_is_a_client_error() -> None:
    span = resolve_range("30d", BERLIN, NOW, None)
    with pytest.raises(QueryError, match="date_range"):
        buckets(span, "minute", BERLIN, 10_000)


@pytest.mark.parametrize("name", ["Mars/Olympus", "../etc/passwd", "", "Europe/Berlin; DROP", 3])
def test_bad_timezones(name: object) -> None:
    with pytest.raises(QueryError, match="timezone"):
        parse_timezone(name)


@pytest.mark.parametrize(
    "spec",
    ["forever", ["2026-11-02"], ["2026-11-05", "2026-11-01"], ["2026-02-30", "2026-03-01"], ["x" * 12, "y"]],
)
def test_bad_ranges(spec: object) -> None:
    with pytest.raises(QueryError, match="date_range"):
        resolve_range(spec, BERLIN, NOW, None)
