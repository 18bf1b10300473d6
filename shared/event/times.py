"""Event timestamps: any ISO-8601 string, held as UTC with milliseconds ("…Z")."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic_core import PydanticCustomError

# DateTime64(3) holds 1900-01-01 .. 2299-12-31 23:59:59.999; outside it ClickHouse would clamp silently.
MIN_TIME = datetime(1900, 1, 1, tzinfo=UTC)
MAX_TIME = datetime(2299, 12, 31, 23, 59, 59, 999000, tzinfo=UTC)


def utc_millis(value: datetime) -> datetime:
    """In UTC, truncated to the millisecond: what DateTime64(3, 'UTC') holds."""
    value = value.astimezone(UTC)
    return value.replace(microsecond=value.microsecond // 1000 * 1000)


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MILLISECOND = timedelta(milliseconds=1)


def epoch_ms(text: str) -> int:
    """An ISO-8601 UTC string (as the queue carries times) as ms since the epoch."""
    return (datetime.fromisoformat(text) - _EPOCH) // _MILLISECOND


def iso(value: datetime) -> str:
    # `value` is UTC with millisecond precision: "2024-05-01T12:30:15.123Z".
    return value.replace(tzinfo=None).isoformat(timespec="milliseconds") + "Z"


def timestamp(value: Any) -> str:
    """An ISO-8601 string with any offset (none: UTC), as UTC with milliseconds, 'Z'-suffixed."""
    if not isinstance(value, str):
        raise PydanticCustomError("timestamp", "must be an ISO-8601 date string")
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        # The echo goes into a JSON response: no lone surrogates (they cannot be encoded).
        shown = value[:64].encode("utf-8", "backslashreplace").decode()
        raise PydanticCustomError(
            "timestamp", "must be an ISO-8601 date string, got '{value}'", {"value": shown}
        ) from None
    if parsed.tzinfo is None:  # No offset given: the contract's times are UTC.
        parsed = parsed.replace(tzinfo=UTC)
    try:
        parsed = utc_millis(parsed)
    except OverflowError:  # "0001-01-01T00:00+01:00" is before year 1 in UTC (found by the fuzzer)
        parsed = MIN_TIME - timedelta(days=1)
    if not MIN_TIME <= parsed <= MAX_TIME:
        raise PydanticCustomError("timestamp", "must be between 1900-01-01 and 2299-12-31")
    return iso(parsed)
