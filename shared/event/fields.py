"""Field types: each validates what a client sent and holds the value as the queue row
carries it (absent text is "", objects are JSON text, times are ISO-8601 UTC strings)."""

from __future__ import annotations

import ipaddress
from typing import Annotated, Any

import orjson
from pydantic import BeforeValidator, Field, WithJsonSchema
from pydantic_core import PydanticCustomError

from shared.event.limits import (
    FREE_TEXT,
    MAX_ABS_CONVERSION_VALUE,
    MAX_ATTRIBUTES_BYTES,
    MAX_ATTRIBUTES_DEPTH,
    MAX_ID_CHARS,
    MAX_IP_CHARS,
    MAX_NAME_CHARS,
    MAX_TAG_CHARS,
    MAX_TAGS,
    MAX_TIME_SPENT_SEC,
    MAX_URL_CHARS,
    MAX_USER_AGENT_CHARS,
    SINGLE_LINE,
    TAG_FORBIDDEN,
)
from shared.event.times import timestamp


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
    if TAG_FORBIDDEN.search(joined):
        raise PydanticCustomError("control", "a tag must not contain control characters or lone surrogates")
    return value



def _ip(value: Any) -> str:
    if not isinstance(value, str):
        raise PydanticCustomError("ip", "must be a string")
    if len(value) > MAX_IP_CHARS:
        raise PydanticCustomError("ip", "must be an IPv4 or IPv6 address")
    try:
        return str(ipaddress.ip_address(value.strip()))
    except ValueError:
        raise PydanticCustomError("ip", "must be an IPv4 or IPv6 address") from None


# Field types validate the request and hold the value as the queue row carries it: absent
# text is "", objects are JSON text, times are ISO-8601 UTC strings. The schema shown in
# /docs is what clients may send.
def text(max_chars: int, pattern: str = SINGLE_LINE) -> Any:
    return Field(strict=True, max_length=max_chars, pattern=pattern)


UrlText = Annotated[str, text(MAX_URL_CHARS)]
UserAgentText = Annotated[str, text(MAX_USER_AGENT_CHARS)]
Id = Annotated[str, text(MAX_ID_CHARS), Field(default="")]
Name = Annotated[str, text(MAX_NAME_CHARS), Field(default="")]
FreeText = Annotated[str, text(MAX_NAME_CHARS, FREE_TEXT), Field(default="")]
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
    BeforeValidator(timestamp),
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

