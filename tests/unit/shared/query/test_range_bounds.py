"""Extreme date bounds: a bound DateTime64(3) cannot hold is a client error (`date_range: …`),
never an OverflowError (a 500, logged twice with its traceback, before the fix); whatever a
client sends, the range parser answers a Range or a QueryError, and the SQL bounds it yields
stay within what the column holds."""

from __future__ import annotations

import zoneinfo
from datetime import UTC, date, datetime, timedelta, timezone

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shared.event.times import MAX_TIME, MIN_TIME
from shared.query.errors import QueryError
from shared.query.ranges import buckets, iso, parse_timezone, resolve_range, utc_param
from tests.support.examples import examples

NOW = datetime(2026, 11, 18, 15, 30, tzinfo=UTC)
OUT_OF_RANGE = "date_range: dates must lie between 1900-01-01 and 2299-12-31"
# Zones at the edges: the largest offsets either way, quarter hours, LMT offsets in seconds.
ZONES = (
    "UTC",
    "Asia/Tokyo",
    "Pacific/Kiritimati",
    "Etc/GMT+12",
    "Pacific/Pago_Pago",
    "Asia/Kathmandu",
    "America/New_York",
    "Europe/Berlin",
    "Australia/Lord_Howe",
    "America/St_Johns",
    "Africa/Monrovia",
)


@pytest.mark.parametrize(
    ("spec", "tz"),
    [
        (["2024-01-01", "9999-12-31"], "UTC"),  # the reported attacks
        (["0001-01-01", "2024-01-01"], "Asia/Tokyo"),
        (["2024-01-01", "9999-12-31T23:59:59-12:00"], "UTC"),
        (["0001-01-01T00:00:00+14:00", "2024-01-01"], "UTC"),
        (["9999-12-31T23:59:59+14:00", "9999-12-31T23:59:59.999999-14:00"], "Pacific/Kiritimati"),
        (["0001-01-01", "0001-01-02"], "Etc/GMT+12"),
        (["1899-12-31", "2024-01-01"], "UTC"),  # just outside what DateTime64(3) holds
        (["2024-01-01", "2300-01-01"], "UTC"),
        (["1899-12-31T23:59:59Z", "2024-01-01"], "UTC"),
    ],
)
def test_impossible_bounds_are_a_date_range_error(spec: list[str], tz: str) -> None:
    with pytest.raises(QueryError) as raised:
        resolve_range(spec, parse_timezone(tz), NOW, None)
    assert str(raised.value) == OUT_OF_RANGE
    assert raised.value.status == 400


@pytest.mark.parametrize("tz", ZONES)
def test_the_first_and_last_day_the_column_holds_are_a_range_in_every_zone(tz: str) -> None:
    zone = parse_timezone(tz)
    span = resolve_range(["1900-01-01", "2299-12-31"], zone, NOW, None)
    assert span.start.date() == date(1900, 1, 1) and span.end.date() == date(2300, 1, 1)
    assert span.start.tzinfo is zone and span.end.tzinfo is zone
    # The SQL bounds are clamped into the column's range: past it by an offset at most.
    assert utc_param(span.start) >= "1900-01-01 00:00:00.000"
    assert utc_param(span.end) <= "2300-01-01 00:00:00.000"


def test_sql_bounds_are_clamped_to_what_datetime64_holds() -> None:
    assert utc_param(datetime(1899, 12, 31, 10, tzinfo=UTC)) == "1900-01-01 00:00:00.000"
    assert utc_param(MIN_TIME) == "1900-01-01 00:00:00.000"
    assert utc_param(MAX_TIME) == "2299-12-31 23:59:59.999"
    assert utc_param(datetime(2300, 1, 1, 11, 59, tzinfo=UTC)) == "2300-01-01 00:00:00.000"
    assert utc_param(datetime(2026, 11, 2, 9, 0, 0, 123456, tzinfo=UTC)) == "2026-11-02 09:00:00.123"


def test_an_end_offset_far_west_still_resolves() -> None:
    span = resolve_range(["2299-12-31", "2299-12-31T23:59:59-12:00"], parse_timezone("UTC"), NOW, None)
    assert iso(span.end) == "2300-01-01T11:59:59+00:00"  # the range as asked: echoed in meta
    assert utc_param(span.end) == "2300-01-01 00:00:00.000"


# --- the fuzzer -------------------------------------------------------------------------------

_DAYS = st.dates(min_value=date(1, 1, 1), max_value=date(9999, 12, 31))
_EDGE_DAYS = st.sampled_from(
    [
        date(1, 1, 1),
        date(1, 1, 2),
        date(1899, 12, 31),
        date(1900, 1, 1),
        date(2299, 12, 31),
        date(2300, 1, 1),
        date(9999, 12, 30),
        date(9999, 12, 31),
        date(1970, 1, 1),
        date(2026, 3, 29),
    ]
)
_OFFSETS = st.one_of(
    st.none(),
    st.sampled_from([-86_399, -14 * 3600, -12 * 3600, 0, 12 * 3600, 14 * 3600, 86_399]),
    st.integers(min_value=-86_399, max_value=86_399),
).map(lambda seconds: None if seconds is None else timedelta(seconds=seconds))


@st.composite
def _bound(draw: st.DrawFn) -> str:
    day = draw(st.one_of(_EDGE_DAYS, _DAYS))
    if draw(st.booleans()):
        return day.isoformat()
    moment = datetime.combine(day, datetime.min.time()) + timedelta(
        seconds=draw(st.integers(min_value=0, max_value=86_399)),
        microseconds=draw(st.sampled_from([0, 999_999, 500_000])),
    )
    offset = draw(_OFFSETS)
    if offset is not None:
        moment = moment.replace(tzinfo=timezone(offset))
    text = moment.isoformat()
    return text.replace("+00:00", "Z") if draw(st.booleans()) else text


_ZONE_NAMES = st.one_of(st.sampled_from(ZONES), st.sampled_from(sorted(zoneinfo.available_timezones())))
_NOWS = st.datetimes(min_value=datetime(1900, 1, 2), max_value=datetime(2299, 12, 30), timezones=st.just(UTC))


@settings(max_examples=examples(1500), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(start=_bound(), end=_bound(), tz=_ZONE_NAMES, now=_NOWS)
def test_any_custom_range_is_a_range_or_a_date_range_error(
    start: str, end: str, tz: str, now: datetime
) -> None:
    zone = parse_timezone(tz)
    try:
        span = resolve_range([start, end], zone, now, None)
    except QueryError as exc:
        assert exc.field == "date_range" and exc.status == 400
        return
    assert span.start < span.end
    low, high = utc_param(span.start), utc_param(span.end)
    assert "1900-01-01 00:00:00.000" <= low <= high <= "2300-01-01 00:00:00.000"
    iso(span.start), iso(span.end)  # the meta echo never raises either
    for grain in ("minute", "hour", "day", "week", "month"):
        try:
            labels = buckets(span, grain, zone, 50)
        except QueryError as exc:
            assert exc.field == "date_range"
        else:
            assert labels == sorted(labels) and len(labels) <= 50


@settings(max_examples=examples(300), deadline=None)
@given(
    spec=st.sampled_from(
        ["5m", "30m", "60m", "24h", "today", "7d", "30d", "90d", "12mo", "month", "year", "all"]
    ),
    tz=_ZONE_NAMES,
    now=_NOWS,
    first=st.one_of(st.none(), _NOWS),
)
def test_relative_ranges_at_the_edges_of_the_calendar(
    spec: str, tz: str, now: datetime, first: datetime | None
) -> None:
    span = resolve_range(spec, parse_timezone(tz), now, first)
    assert span.start < span.end
    utc_param(span.start), utc_param(span.end)
