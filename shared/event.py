"""One tracked event: validation at the edge, then the JSON-safe row that travels on the queue.

`parse_event(obj, context)` is the only way in. It raises `EventError` (a field and a
problem) for anything a client got wrong, and returns a dict keyed by
`shared.schema.EVENT_COLUMNS` whose values are plain JSON (no pickle on the queue).
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Annotated, Any

import orjson
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    WithJsonSchema,
    model_validator,
)
from pydantic_core import PydanticCustomError

from shared.ids import new_uuid

# DateTime64(3) holds 1900-01-01 .. 2299-12-31 23:59:59.999; outside it ClickHouse would clamp silently.
_MIN_TIME = datetime(1900, 1, 1, tzinfo=UTC)
_MAX_TIME = datetime(2299, 12, 31, 23, 59, 59, 999000, tzinfo=UTC)


class EventError(ValueError):
    """A client error in one event: `field` names the culprit, `problem` says what is wrong."""

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"{field}: {problem}")
        self.field = field
        self.problem = problem

    @property
    def message(self) -> str:
        return str(self)


class MissingFieldError(EventError):
    """The one required field is absent or null; the contract fixes this message."""

    def __init__(self, field: str) -> None:
        super().__init__(field, "missing")

    @property
    def message(self) -> str:
        return f"Missing required field: {self.field}"


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
        object.__setattr__(self, "received_iso", _iso(_utc_millis(self.received_at)))


def loads_strict(text: str | bytes) -> Any:
    """Strict JSON: no NaN/Infinity (Python's json allows them; ClickHouse and browsers do not),
    no invalid UTF-8 or lone surrogates. Raises ValueError."""
    return orjson.loads(text)


def _json_object_text(value: Any) -> str:
    """An object, or a string holding one, as compact JSON text (how the column stores it)."""
    if isinstance(value, str):
        try:
            value = loads_strict(value)
        except ValueError:
            raise PydanticCustomError(
                "json_object", "must be a JSON object or a string holding one"
            ) from None
    if not isinstance(value, dict):
        raise PydanticCustomError("json_object", "must be a JSON object or a string holding one")
    return orjson.dumps(value).decode() if value else "{}"


def _tags(value: Any) -> list[str]:
    if isinstance(value, str):
        try:
            value = loads_strict(value)
        except ValueError:
            raise PydanticCustomError("tags", "must be an array of strings or a string holding one") from None
    if not isinstance(value, list) or not all(isinstance(tag, str) for tag in value):
        raise PydanticCustomError("tags", "must be an array of strings or a string holding one")
    return value


def _utc_millis(value: datetime) -> datetime:
    """In UTC, truncated to the millisecond: what DateTime64(3, 'UTC') holds."""
    value = value.astimezone(UTC)
    return value.replace(microsecond=value.microsecond // 1000 * 1000)


def _iso(value: datetime) -> str:
    # `value` is UTC with millisecond precision: "2024-05-01T12:30:15.123Z".
    return value.replace(tzinfo=None).isoformat(timespec="milliseconds") + "Z"


def _timestamp(value: Any) -> str:
    """An ISO-8601 string with any offset (none: UTC), as UTC with milliseconds, 'Z'-suffixed."""
    if not isinstance(value, str):
        raise PydanticCustomError("timestamp", "must be an ISO-8601 date string")
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        raise PydanticCustomError(
            "timestamp", "must be an ISO-8601 date string, got '{value}'", {"value": value[:64]}
        ) from None
    if parsed.tzinfo is None:  # No offset given: the contract's times are UTC.
        parsed = parsed.replace(tzinfo=UTC)
    parsed = _utc_millis(parsed)
    if not _MIN_TIME <= parsed <= _MAX_TIME:
        raise PydanticCustomError("timestamp", "must be between 1900-01-01 and 2299-12-31")
    return _iso(parsed)


def _ip(value: Any) -> str:
    if not isinstance(value, str):
        raise PydanticCustomError("ip", "must be a string")
    try:
        return str(ipaddress.ip_address(value.strip()))
    except ValueError:
        raise PydanticCustomError("ip", "must be an IPv4 or IPv6 address") from None


# Field types validate the request and hold the value as the queue row carries it: absent
# text is "", objects are JSON text, times are ISO-8601 UTC strings. The schema shown in
# /docs is what clients may send.
Text = Annotated[str, Field(default="", strict=True)]
JsonObject = Annotated[
    str,
    BeforeValidator(_json_object_text),
    WithJsonSchema(
        {"anyOf": [{"type": "object"}, {"type": "string", "description": "a JSON object, as text"}]}
    ),
    Field(default="{}"),
]
Timestamp = Annotated[
    str | None,
    BeforeValidator(_timestamp),
    WithJsonSchema({"type": "string", "format": "date-time", "description": "ISO-8601; no offset means UTC"}),
    Field(default=None),
]
Tags = Annotated[
    list[str],
    BeforeValidator(_tags),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "array", "items": {"type": "string"}},
                {"type": "string", "description": "a JSON array, as text"},
            ]
        }
    ),
    Field(default_factory=list),
]
IpAddress = Annotated[
    str, BeforeValidator(_ip), WithJsonSchema({"type": "string", "format": "ip"}), Field(default="")
]
NonNegative = Annotated[float, Field(ge=0, strict=True, allow_inf_nan=False)]
Flag = Annotated[bool, Field(strict=True)]


class TrackEvent(BaseModel):
    """The request body of POST /api/events/track, field for field as the contract lists it."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    event_id: Text
    event_type: Annotated[str, Field(strict=True)]
    event_time: Timestamp
    event_attributes: JsonObject

    link_id: Text
    link_slug: Text
    link_label: Text
    link_title: Text
    link_original_url: Text
    link_attributes: JsonObject
    link_created_at: Timestamp
    link_expires_at: Timestamp
    link_tags: Tags

    user_id: Text
    user_name: Text
    user_email: Text
    user_attributes: JsonObject

    team_id: Text
    team_name: Text
    team_attributes: JsonObject
    project_id: Text
    project_name: Text
    project_attributes: JsonObject

    qr_code_id: Text
    qr_code_name: Text
    qr_code_attributes: JsonObject

    visitor_id: Text
    session_id: Text
    ip_address: IpAddress
    country: Text
    city: Text
    device_type: Text
    browser: Text
    os: Text
    user_agent: Annotated[str | None, Field(default=None, strict=True)]  # None: take the request's

    referrer: Annotated[str | None, Field(default=None, strict=True)]  # None: take the request's
    utm_source: Text
    utm_medium: Text
    utm_campaign: Text
    utm_term: Text
    utm_content: Text

    time_spent_sec: NonNegative = 0.0
    is_bounce: Flag = True
    is_qr_scan: Flag = False
    conversion_type: Text
    conversion_value: Annotated[float, Field(strict=True, allow_inf_nan=False)] = 0.0

    @model_validator(mode="before")
    @classmethod
    def _null_means_absent(cls, data: Any) -> Any:
        # A JSON null takes the field's default, as if it had not been sent.
        if isinstance(data, dict) and None in data.values():
            return {key: value for key, value in data.items() if value is not None}
        return data

    @model_validator(mode="after")
    def _event_type_not_blank(self) -> TrackEvent:
        if not self.event_type.strip():
            raise PydanticCustomError("blank", "must not be empty")
        return self


_PROBLEMS = {
    "string_type": "must be a string",
    "bool_type": "must be a boolean (true or false)",
    "float_type": "must be a number",
    "finite_number": "must be a finite number",
    "greater_than_equal": "must be >= 0",
}


def _first_error(exc: ValidationError) -> EventError:
    error = exc.errors(include_url=False)[0]
    loc = error["loc"]
    field = str(loc[0]) if loc else "event_type"  # model-level checks concern event_type only
    return EventError(field, _PROBLEMS.get(error["type"], error["msg"]))


def parse_event(obj: object, context: RequestContext, *, generate_ids: bool = True) -> dict[str, Any]:
    """Validate one decoded JSON value and return its queue row (keys = EVENT_COLUMNS).

    Absent visitor_id / session_id become random UUIDs, or, with `generate_ids=False`, stay
    empty for enrichment to fill (`shared.enrich`: a daily visitor hash, the current session)."""
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
    if event.user_agent is None:
        row["user_agent"] = context.user_agent or ""
    if event.referrer is None:
        row["referrer"] = context.referrer or ""
    return row
