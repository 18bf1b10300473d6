"""One tracked event: validation at the edge, then the JSON-safe row that travels on the queue.

`parse_event(obj, context)` is the only way in (`parse_events` for a /batch: the same, for a
list, validated in one pass when every event is valid). It raises `EventError` (a field and a
problem) for anything a client got wrong (`FieldTooLarge` for a value over its
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
from shared.event.model import FIELD_DEFAULTS, FIELDS, FIELDS_LIST
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


def _sent_fields(obj: object) -> dict[str, Any]:
    """The checks before field validation: an object, with an event_type; a null is absent."""
    if isinstance(obj, EventError):  # a /batch line that was not JSON, kept in its place
        raise obj
    if not isinstance(obj, dict):
        raise EventError("body", "must be a JSON object")
    if obj.get("event_type") is None:
        raise MissingFieldError("event_type")
    if None in obj.values():  # a JSON null takes the field's default, as if it had not been sent
        return {key: value for key, value in obj.items() if value is not None}
    return obj


def _row_template(context: RequestContext) -> dict[str, Any]:
    """A fresh row of an event that sent nothing: the field defaults and what the request
    says, in column order (so the columns transpose in C). Built once per request."""
    row = FIELD_DEFAULTS.copy()
    row["event_time"] = context.received_iso
    row["ip_address"] = context.ip_address or ""
    # Headers are truncated, not refused: the client did not write them into the event.
    row["user_agent"] = (context.user_agent or "")[:MAX_USER_AGENT_CHARS]
    row["referrer"] = (context.referrer or "")[:MAX_URL_CHARS]
    row["received_at"] = context.received_iso
    row["is_bot"] = False
    row["event_time_clamped"] = False
    row["trusted"] = False  # set by the write key only (api.write_access), never by the client
    return row


def _row(sent: dict[str, Any], row: dict[str, Any], generate_ids: bool) -> dict[str, Any]:
    """Fill `row`, a fresh template, with one event's validated fields (only those it sent)."""
    if not sent["event_type"].strip():  # checked once every field is valid, as TrackEvent does
        raise EventError("event_type", "must not be empty")
    row.update(sent)
    if "link_tags" not in sent:
        row["link_tags"] = []  # a fresh default list, never one shared between rows
    # Defaults the contract gives: generated ids; the rest came with the template (a sent
    # event_time or ip_address is never empty: their validators refuse that).
    if not row["event_id"]:
        row["event_id"] = new_uuid()
    if generate_ids:
        row["visitor_id"] = row["visitor_id"] or new_uuid()
        row["session_id"] = row["session_id"] or new_uuid()
    return row


def parse_event(obj: object, context: RequestContext, *, generate_ids: bool = True) -> dict[str, Any]:
    """Validate one decoded JSON value and return its queue row (keys = EVENT_COLUMNS).

    Absent visitor_id / session_id become random UUIDs, or, with `generate_ids=False`, stay
    empty for enrichment to fill (`shared.event.enrich`: a daily visitor hash, the current session)."""
    sent = _sent_fields(obj)
    try:
        fields = FIELDS.validate_python(sent)
    except ValidationError as exc:
        raise _first_error(exc) from None
    return _row(fields, _row_template(context), generate_ids)


def _parse_or_error(obj: object, context: RequestContext, generate_ids: bool) -> dict[str, Any] | EventError:
    try:
        return parse_event(obj, context, generate_ids=generate_ids)
    except EventError as exc:
        return exc


def parse_events(
    objs: list[Any], context: RequestContext, *, generate_ids: bool = True
) -> list[dict[str, Any] | EventError]:
    """`parse_event` of each value, in order, with the EventError in place of a rejected one
    (an EventError given in the list stays in its place).

    Every field of every event is validated in one call when all are valid; at the first
    invalid one, the whole list goes through `parse_event` event by event, so the results and
    messages are exactly those of `parse_event` (a rejected event costs one more pass)."""
    try:
        sent = [_sent_fields(obj) for obj in objs]
        validated = FIELDS_LIST.validate_python(sent)
    except (EventError, ValidationError):
        return [_parse_or_error(obj, context, generate_ids) for obj in objs]
    template = _row_template(context)
    results: list[dict[str, Any] | EventError] = []
    for fields in validated:
        try:
            results.append(_row(fields, template.copy(), generate_ids))
        except EventError as exc:  # a blank event_type
            results.append(exc)
    return results
