"""One tracked event: validation at the edge, then the JSON-safe row that travels on the queue.

`parse_event(obj, context)` is the only way in. It raises `EventError` (a field and a
problem) for anything a client got wrong (`FieldTooLarge`, status 413, for a value over its
cap), and returns a dict keyed by `shared.schema.EVENT_COLUMNS` whose values are plain JSON
(no pickle on the queue).

Limits (the `MAX_*` constants below; clients see them as `maxLength` in /docs):
- ids (event_id, link_id, link_slug, user_id, team_id, project_id, qr_code_id, visitor_id,
  session_id) <= 128 characters; event_type <= 64; names, labels, titles, emails, utm_*, geo,
  device, browser, os and conversion_type <= 256; link_original_url and referrer <= 2048;
  user_agent <= 1024. The request's own User-Agent / Referer headers are truncated to those
  caps instead: only what the client wrote in the event is refused.
- each *_attributes object <= 16 KiB as compact JSON and nested <= 8 levels (the object itself
  is level 1); link_tags <= 64 tags of <= 128 characters each.
- time_spent_sec in [0, 10 years of seconds]; conversion_value in [-1e15, 1e15]; both finite.
- Text: no C0 control characters (U+0000-U+001F) or DEL in any top-level string, except tab,
  line feed and carriage return in link_title (free text, pasted from pages). Attribute JSON
  may hold any escaped control character except NUL, which is refused everywhere (C-string
  consumers of the column would cut the value there). Lone surrogates are refused everywhere.
They are constants, not settings: the model and its OpenAPI schema are built at import,
before any settings exist, and they are part of the client contract, so every deployment
must agree on them.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
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

# Caps (see the module docstring). Characters are code points, as `len(str)` counts them.
MAX_ID_CHARS = 128
MAX_EVENT_TYPE_CHARS = 64
MAX_NAME_CHARS = 256
MAX_URL_CHARS = 2048
MAX_USER_AGENT_CHARS = 1024
MAX_ATTRIBUTES_BYTES = 16 * 1024
MAX_ATTRIBUTES_DEPTH = 8
MAX_TAGS = 64
MAX_TAG_CHARS = 128
MAX_TIME_SPENT_SEC = 10 * 365 * 86_400
MAX_ABS_CONVERSION_VALUE = 1e15
_MAX_IP_CHARS = 64  # longer cannot be an address (IPv6 with a zone id stays well under)

# Checked by pydantic-core's regex engine (~0.06 µs a field, only for fields sent). Anchored
# with ^...$: that engine's `$` is the end of the text, never before a final newline.
_SINGLE_LINE = r"^[^\x00-\x1f\x7f]*$"
_FREE_TEXT = r"^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f]*$"  # tab, LF and CR allowed
_TAG_FORBIDDEN = re.compile(r"[\x00-\x1f\x7f\ud800-\udfff]")


class EventError(ValueError):
    """A client error in one event: `field` names the culprit, `problem` says what is wrong."""

    status = 400
    """The HTTP status /track answers with it."""

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"{field}: {problem}")
        self.field = field
        self.problem = problem

    @property
    def message(self) -> str:
        return str(self)


class FieldTooLarge(EventError):
    """A value over its size cap (length, bytes, nesting, count): answered 413, not 400."""

    status = 413


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


def _deeper_than(value: Any, levels: int) -> bool:
    """Whether arrays/objects nest more than `levels` deep; stops as soon as they do."""
    if isinstance(value, dict):
        value = value.values()
    elif not isinstance(value, list):
        return False
    return levels <= 0 or any(_deeper_than(item, levels - 1) for item in value)


def _has_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any("\x00" in key or _has_nul(item) for key, item in value.items())
    if isinstance(value, list):
        return any(_has_nul(item) for item in value)
    return False


def _too_deep() -> PydanticCustomError:
    return PydanticCustomError(
        "too_large", "nested deeper than {limit} levels", {"limit": MAX_ATTRIBUTES_DEPTH}
    )


def _surrogates(exc: Exception) -> PydanticCustomError | None:
    # orjson names them in its message ("no low surrogate…", "surrogates not allowed").
    if "surrogate" in str(exc):
        return PydanticCustomError("unicode", "must not contain lone surrogates")
    return None


def _json_object_text(value: Any) -> str:
    """An object, or a string holding one, as compact JSON text (how the column stores it)."""
    if isinstance(value, str):
        try:
            value = loads_strict(value)
        except ValueError as exc:
            raise _surrogates(exc) or PydanticCustomError(
                "json_object", "must be a JSON object or a string holding one"
            ) from None
    if not isinstance(value, dict):
        raise PydanticCustomError("json_object", "must be a JSON object or a string holding one")
    if not value:
        return "{}"
    try:
        text = orjson.dumps(value)
    except TypeError as exc:  # never from decoded JSON: only Python callers pass such values
        if _deeper_than(value, MAX_ATTRIBUTES_DEPTH):  # orjson's own recursion limit
            raise _too_deep() from None
        raise _surrogates(exc) or PydanticCustomError(
            "json_object", "must be a JSON object or a string holding one"
        ) from None
    if len(text) > MAX_ATTRIBUTES_BYTES:
        raise PydanticCustomError(
            "too_large", "larger than {limit} bytes as JSON", {"limit": MAX_ATTRIBUTES_BYTES}
        )
    json_text = text.decode()  # str scans are faster than bytes ones here
    # Cheap filters first: every level needs a bracket, and NUL is written as an escape (a
    # backslash is rare; memchr finds it); only then walk the value, as brackets or "\\u0000"
    # written inside strings must not be mistaken for them.
    if json_text.count("{") + json_text.count("[") > MAX_ATTRIBUTES_DEPTH and _deeper_than(
        value, MAX_ATTRIBUTES_DEPTH
    ):
        raise _too_deep()
    if "\\" in json_text and "\\u0000" in json_text and _has_nul(value):
        raise PydanticCustomError("control", "must not contain NUL characters")
    return json_text


def _tags(value: Any) -> list[str]:
    if isinstance(value, str):
        try:
            value = loads_strict(value)
        except ValueError as exc:
            raise _surrogates(exc) or PydanticCustomError(
                "tags", "must be an array of strings or a string holding one"
            ) from None
    if not isinstance(value, list) or not all(isinstance(tag, str) for tag in value):
        raise PydanticCustomError("tags", "must be an array of strings or a string holding one")
    if len(value) > MAX_TAGS:
        raise PydanticCustomError("too_large", "more than {limit} tags", {"limit": MAX_TAGS})
    joined = "".join(value)  # one scan for all tags; short in all is short in each
    if len(joined) > MAX_TAG_CHARS and max(map(len, value)) > MAX_TAG_CHARS:
        raise PydanticCustomError(
            "too_large", "a tag is longer than {limit} characters", {"limit": MAX_TAG_CHARS}
        )
    if _TAG_FORBIDDEN.search(joined):
        raise PydanticCustomError("control", "a tag must not contain control characters or lone surrogates")
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
        # The echo goes into a JSON response: no lone surrogates (they cannot be encoded).
        shown = value[:64].encode("utf-8", "backslashreplace").decode()
        raise PydanticCustomError(
            "timestamp", "must be an ISO-8601 date string, got '{value}'", {"value": shown}
        ) from None
    if parsed.tzinfo is None:  # No offset given: the contract's times are UTC.
        parsed = parsed.replace(tzinfo=UTC)
    try:
        parsed = _utc_millis(parsed)
    except OverflowError:  # "0001-01-01T00:00+01:00" is before year 1 in UTC (found by the fuzzer)
        parsed = _MIN_TIME - timedelta(days=1)
    if not _MIN_TIME <= parsed <= _MAX_TIME:
        raise PydanticCustomError("timestamp", "must be between 1900-01-01 and 2299-12-31")
    return _iso(parsed)


def _ip(value: Any) -> str:
    if not isinstance(value, str):
        raise PydanticCustomError("ip", "must be a string")
    if len(value) > _MAX_IP_CHARS:
        raise PydanticCustomError("ip", "must be an IPv4 or IPv6 address")
    try:
        return str(ipaddress.ip_address(value.strip()))
    except ValueError:
        raise PydanticCustomError("ip", "must be an IPv4 or IPv6 address") from None


# Field types validate the request and hold the value as the queue row carries it: absent
# text is "", objects are JSON text, times are ISO-8601 UTC strings. The schema shown in
# /docs is what clients may send.
def _text(max_chars: int, pattern: str = _SINGLE_LINE) -> Any:
    return Field(strict=True, max_length=max_chars, pattern=pattern)


UrlText = Annotated[str, _text(MAX_URL_CHARS)]
UserAgentText = Annotated[str, _text(MAX_USER_AGENT_CHARS)]
Id = Annotated[str, _text(MAX_ID_CHARS), Field(default="")]
Name = Annotated[str, _text(MAX_NAME_CHARS), Field(default="")]
FreeText = Annotated[str, _text(MAX_NAME_CHARS, _FREE_TEXT), Field(default="")]
Url = Annotated[UrlText, Field(default="")]
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
Seconds = Annotated[float, Field(ge=0, le=MAX_TIME_SPENT_SEC, strict=True, allow_inf_nan=False)]
Amount = Annotated[
    float,
    Field(ge=-MAX_ABS_CONVERSION_VALUE, le=MAX_ABS_CONVERSION_VALUE, strict=True, allow_inf_nan=False),
]
Flag = Annotated[bool, Field(strict=True)]


class TrackEvent(BaseModel):
    """The request body of POST /api/events/track, field for field as the contract lists it."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    event_id: Id
    event_type: Annotated[str, _text(MAX_EVENT_TYPE_CHARS)]
    event_time: Timestamp
    event_attributes: JsonObject

    link_id: Id
    link_slug: Id
    link_label: Name
    link_title: FreeText
    link_original_url: Url
    link_attributes: JsonObject
    link_created_at: Timestamp
    link_expires_at: Timestamp
    link_tags: Tags

    user_id: Id
    user_name: Name
    user_email: Name
    user_attributes: JsonObject

    team_id: Id
    team_name: Name
    team_attributes: JsonObject
    project_id: Id
    project_name: Name
    project_attributes: JsonObject

    qr_code_id: Id
    qr_code_name: Name
    qr_code_attributes: JsonObject

    visitor_id: Id
    session_id: Id
    ip_address: IpAddress
    country: Name
    city: Name
    device_type: Name
    browser: Name
    os: Name
    user_agent: UserAgentText | None = None  # None: take the request's

    referrer: UrlText | None = None  # None: take the request's
    utm_source: Name
    utm_medium: Name
    utm_campaign: Name
    utm_term: Name
    utm_content: Name

    time_spent_sec: Seconds = 0.0
    is_bounce: Flag = True
    is_qr_scan: Flag = False
    conversion_type: Name
    conversion_value: Amount = 0.0

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
    if kind == "string_pattern_mismatch" and ctx.get("pattern") == _FREE_TEXT:
        return EventError(field, _FREE_TEXT_PROBLEM)
    return EventError(field, _PROBLEMS.get(kind, error["msg"]))


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
    # Headers are truncated, not refused: the client did not write them into the event.
    if event.user_agent is None:
        row["user_agent"] = (context.user_agent or "")[:MAX_USER_AGENT_CHARS]
    if event.referrer is None:
        row["referrer"] = (context.referrer or "")[:MAX_URL_CHARS]
    return row
