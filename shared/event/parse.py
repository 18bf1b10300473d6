"""One tracked event: validation at the edge, then the JSON-safe row that travels on the queue.

`parse_event(obj, context)` is the only way in. It raises `EventError` (a field and a
problem) for anything a client got wrong (`FieldTooLarge`, status 413, for a value over its
cap), and returns a dict keyed by `shared.store.schema.EVENT_COLUMNS` whose values are plain JSON
(no pickle on the queue). The caps are in `shared.event.limits`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pydantic import ValidationError

from shared.event.errors import EventError, FieldTooLarge, MissingFieldError
from shared.event.limits import FREE_TEXT, MAX_URL_CHARS, MAX_USER_AGENT_CHARS
from shared.event.model import TrackEvent
from shared.event.times import iso, utc_millis
from shared.ids import new_uuid


@dataclass(frozen=True, slots=True)
class RequestContext:
    """What the request itself says about the event; fills the fields the client left out."""

    received_at: datetime
    ip_address: str | None = None
    user_agent: str | None = None
    referrer: str | None = None
    country: str | None = None
    """From a trusted proxy's geo header (api.client)."""
    city: str | None = None
    received_iso: str = field(init=False)
    """`received_at` as the row stores it; computed once per request, not per event."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "received_iso", iso(utc_millis(self.received_at)))


_PROBLEMS = {
    "string_type": "must be a string",
    "bool_type": "must be a boolean (true or false)",
    "float_type": "must be a number",
    "finite_number": "must be a finite number",
    "string_unicode": "must not contain lone surrogates",
    "string_pattern_mismatch": "must not contain control characters (U+0000-U+001F, U+007F)",
}
_FREE_TEXT_PROBLEM = "must not contain control characters other than tab, line feed and carriage return"


def _number(value: Any) -> str:
    # Bounds are whole numbers: print them so ("1000000000000000", not "1e+15" or "….0").
    return str(int(value)) if float(value).is_integer() else str(value)


def _first_error(exc: ValidationError) -> EventError:
    error = exc.errors(include_url=False)[0]
    loc = error["loc"]
    field = str(loc[0]) if loc else "event_type"  # model-level checks concern event_type only
    kind = error["type"]
    ctx = error.get("ctx") or {}
    if kind == "string_too_long":
        return FieldTooLarge(field, f"longer than {ctx['max_length']} characters")
    if kind == "too_large":  # our own caps: attributes, tags
        return FieldTooLarge(field, error["msg"])
    if kind == "greater_than_equal":
        return EventError(field, f"must be >= {_number(ctx['ge'])}")
    if kind == "less_than_equal":
        return EventError(field, f"must be <= {_number(ctx['le'])}")
    if kind == "string_pattern_mismatch" and ctx.get("pattern") == FREE_TEXT:
        return EventError(field, _FREE_TEXT_PROBLEM)
    return EventError(field, _PROBLEMS.get(kind, error["msg"]))


def parse_event(obj: object, context: RequestContext, *, generate_ids: bool = True) -> dict[str, Any]:
    """Validate one decoded JSON value and return its queue row (keys = EVENT_COLUMNS).

    Absent visitor_id / session_id become random UUIDs, or, with `generate_ids=False`, stay
    empty for enrichment to fill (`shared.event.enrich`: a daily visitor hash, the current session)."""
    if not isinstance(obj, dict):
        raise EventError("body", "must be a JSON object")
    if obj.get("event_type") is None:
        raise MissingFieldError("event_type")
    try:
        event = TrackEvent.model_validate(obj)
    except ValidationError as exc:
        raise _first_error(exc) from None

    row = dict(event.__dict__)  # the model already holds every value as the row carries it
    # Defaults the contract gives: generated ids, and what the request itself says.
    row["event_id"] = event.event_id or new_uuid()
    if generate_ids:
        row["visitor_id"] = event.visitor_id or new_uuid()
        row["session_id"] = event.session_id or new_uuid()
    row["event_time"] = event.event_time or context.received_iso
    row["received_at"] = context.received_iso
    row["is_bot"] = False
    row["event_time_clamped"] = False
    row["ip_address"] = event.ip_address or context.ip_address or ""
    # Headers are truncated, not refused: the client did not write them into the event.
    if event.user_agent is None:
        row["user_agent"] = (context.user_agent or "")[:MAX_USER_AGENT_CHARS]
    if event.referrer is None:
        row["referrer"] = (context.referrer or "")[:MAX_URL_CHARS]
    return row
