"""Date ranges and time buckets in the query's timezone.

Days are local days: a range of dates runs from the first date's local midnight to the
midnight after the last date, so a DST change gives a 23- or 25-hour day. Every range is
half-open, [start, end); relative ranges ("24h") end just after now.
"""

from __future__ import annotations

import re
import zoneinfo
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from typing import Final

from shared.event.times import MAX_TIME, MIN_TIME
from shared.query.dimensions import TimeGrain
from shared.query.errors import QueryError

RELATIVE: Final = ("5m", "30m", "60m", "24h", "today", "7d", "30d", "90d", "12mo", "month", "year", "all")
_TZ_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_+\-/]{0,63}$")
_MS: Final = timedelta(milliseconds=1)
# The days a custom range's bounds may name: those DateTime64(3) holds, as events do
# (shared.event.times). A bound is checked as written, before any arithmetic, so no date
# nor offset the client sends can overflow Python's datetime (years 1-9999).
FIRST_DAY: Final = MIN_TIME.date()
LAST_DAY: Final = MAX_TIME.date()
_OUT_OF_RANGE: Final = f"dates must lie between {FIRST_DAY} and {LAST_DAY}"


@lru_cache(maxsize=1)
def _known_zones() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones()) | {"UTC"}


def parse_timezone(name: object) -> zoneinfo.ZoneInfo:
    # Only names from the tz database: ZoneInfo() alone would also try file paths.
    if not isinstance(name, str) or not _TZ_NAME.match(name) or name not in _known_zones():
        raise QueryError("timezone", "must be an IANA time zone name such as Europe/Berlin")
    return zoneinfo.ZoneInfo(name)


@dataclass(frozen=True, slots=True)
class Range:
    start: datetime
    """Inclusive, aware, in the query's timezone."""
    end: datetime
    """Exclusive."""


def midnight(day: date, tz: zoneinfo.ZoneInfo) -> datetime:
    # Through UTC and back: the wall-clock midnight may not exist (a DST jump at 00:00).
    local = datetime.combine(day, time(), tzinfo=tz)
    return local.astimezone(UTC).astimezone(tz)


def _month_start(day: date, months_back: int = 0) -> date:
    index = day.year * 12 + day.month - 1 - months_back
    return date(index // 12, index % 12 + 1, 1)


def _parse_bound(text: object, tz: zoneinfo.ZoneInfo, *, is_end: bool) -> datetime:
    if not isinstance(text, str) or not 10 <= len(text) <= 40:
        raise QueryError("date_range", "bounds are dates (YYYY-MM-DD) or ISO datetimes")
    if len(text) == 10:
        try:
            day = date.fromisoformat(text)
        except ValueError:
            raise QueryError("date_range", f"{text!r} is not a date (YYYY-MM-DD)") from None
        _check_day(day)
        return midnight(day + timedelta(days=1) if is_end else day, tz)  # both days included
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise QueryError("date_range", f"{text!r} is not an ISO datetime") from None
    _check_day(moment.date())  # as written: within a day of UTC's, whatever its offset
    return moment.replace(tzinfo=tz) if moment.tzinfo is None else moment.astimezone(tz)


def _check_day(day: date) -> None:
    if not FIRST_DAY <= day <= LAST_DAY:
        raise QueryError("date_range", _OUT_OF_RANGE)


def resolve_range(spec: object, tz: zoneinfo.ZoneInfo, now: datetime, first_event: datetime | None) -> Range:
    """`first_event` (the earliest stored event in scope) is needed only for "all"."""
    now = now.astimezone(tz)
    today = now.date()
    tomorrow = midnight(today + timedelta(days=1), tz)
    if isinstance(spec, list | tuple):
        if len(spec) != 2:
            raise QueryError("date_range", "a custom range is [from, to]")
        try:
            start = _parse_bound(spec[0], tz, is_end=False)
            end = _parse_bound(spec[1], tz, is_end=True)
        except OverflowError:  # not reachable after _check_day; a client error all the same
            raise QueryError("date_range", _OUT_OF_RANGE) from None
        if end <= start:
            raise QueryError("date_range", "to must not be before from")
        return Range(start, end)
    if spec in ("5m", "30m", "60m"):
        return Range(now - timedelta(minutes=int(str(spec)[:-1])), now + _MS)
    if spec == "24h":
        return Range(now - timedelta(hours=24), now + _MS)
    if spec == "today":
        return Range(midnight(today, tz), tomorrow)
    if spec in ("7d", "30d", "90d"):
        days = int(str(spec)[:-1])
        return Range(midnight(today - timedelta(days=days - 1), tz), tomorrow)  # today included
    if spec == "12mo":
        return Range(midnight(_month_start(today, 11), tz), midnight(_month_start(today, -1), tz))
    if spec == "month":
        return Range(midnight(_month_start(today), tz), midnight(_month_start(today, -1), tz))
    if spec == "year":
        return Range(midnight(date(today.year, 1, 1), tz), midnight(date(today.year + 1, 1, 1), tz))
    if spec == "all":
        first = first_event.astimezone(tz).date() if first_event is not None else today
        return Range(midnight(min(first, today), tz), tomorrow)
    raise QueryError("date_range", f"must be one of {', '.join(RELATIVE)} or [from, to]")


def _floor(moment: datetime, grain: TimeGrain, tz: zoneinfo.ZoneInfo) -> datetime:
    local = moment.astimezone(tz)
    if grain == "minute":
        return local.replace(second=0, microsecond=0)
    if grain == "hour":
        # Floor in UTC offsets of whole minutes: +05:45 hours start at :00 local.
        return local.replace(minute=0, second=0, microsecond=0)
    day = local.date()
    if grain == "week":
        day -= timedelta(days=day.weekday())
    elif grain == "month":
        day = day.replace(day=1)
    return midnight(day, tz)


def _label(moment: datetime, grain: TimeGrain) -> str:
    if grain in ("minute", "hour"):
        return moment.strftime("%Y-%m-%dT%H:%M:00")
    return moment.date().isoformat()


def buckets(span: Range, grain: TimeGrain, tz: zoneinfo.ZoneInfo, limit: int) -> list[str]:
    """The label of every bucket overlapping the range, in order (a repeated local hour of a
    DST fall-back is one label). More than `limit` buckets is a client error."""
    labels: list[str] = []
    for moment in _walk(span, grain, tz):
        label = _label(moment, grain)
        if labels and labels[-1] == label:
            continue
        labels.append(label)
        if len(labels) > limit:
            raise QueryError("date_range", f"more than {limit} time:{grain} buckets: use a coarser grain")
    return labels


def _walk(span: Range, grain: TimeGrain, tz: zoneinfo.ZoneInfo) -> Iterator[datetime]:
    moment = _floor(span.start, grain, tz)
    while moment < span.end:
        yield moment
        if grain in ("minute", "hour"):
            # Step in absolute time (UTC), then floor locally: DST gaps and repeats come out right.
            step = timedelta(minutes=1) if grain == "minute" else timedelta(hours=1)
            moment = _floor((moment.astimezone(UTC) + step), grain, tz)
        elif grain == "day":
            moment = midnight(moment.date() + timedelta(days=1), tz)
        elif grain == "week":
            moment = midnight(moment.date() + timedelta(days=7), tz)
        else:
            moment = midnight(_month_start(moment.date(), -1), tz)


def iso(moment: datetime) -> str:
    return moment.isoformat(timespec="seconds")


_SQL_FIRST: Final = MIN_TIME
_SQL_END: Final = MAX_TIME + _MS


def utc_param(moment: datetime) -> str:
    """A bound for a `DateTime64(3, 'UTC')` comparison, clamped into what the type holds: a
    range may reach past it by a timezone's offset (2299-12-31 in New York ends in 2300 UTC),
    no stored event lies there (ingestion refuses such times), and ClickHouse would otherwise
    wrap or clamp the text on its own terms."""
    utc = min(max(moment.astimezone(UTC), _SQL_FIRST), _SQL_END)
    return utc.strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]
