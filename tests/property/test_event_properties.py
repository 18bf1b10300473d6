"""Properties of the event model: whatever comes in, `parse_event` returns a queue row or
raises `EventError`, never anything else; valid events come out as they went in."""

from __future__ import annotations

import ipaddress
import json
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shared.event.errors import EventError, MissingFieldError
from shared.event.limits import (
    MAX_ABS_CONVERSION_VALUE,
    MAX_ATTRIBUTES_BYTES,
    MAX_ATTRIBUTES_DEPTH,
    MAX_EVENT_TYPE_CHARS,
    MAX_ID_CHARS,
    MAX_NAME_CHARS,
    MAX_TAG_CHARS,
    MAX_TAGS,
    MAX_TIME_SPENT_SEC,
    MAX_URL_CHARS,
    MAX_USER_AGENT_CHARS,
)
from shared.event.model import TrackEvent
from shared.event.parse import RequestContext, parse_event
from shared.store.schema import EVENT_COLUMNS, JSON_COLUMNS
from tests.support.examples import examples

CONTEXT = RequestContext(
    received_at=datetime(2026, 3, 4, 5, 6, 7, 891234, tzinfo=UTC),
    ip_address="203.0.113.9",
    user_agent="UA/1.0",
    referrer="https://ref.example/",
)
FIELDS = tuple(TrackEvent.model_fields)
TIME_FIELDS = ("event_time", "link_created_at", "link_expires_at")
# database=None: no failure database to replay from disk; a failure prints its example.
PROPERTY = settings(
    max_examples=examples(300), deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow]
)

# --- anything at all -------------------------------------------------------------------------
# Every code point, lone surrogates included (Hypothesis leaves them out unless asked).
any_char = st.one_of(st.characters(), st.characters(categories=["Cs"]), st.sampled_from("\x00\t\n\x1b\x7f"))
any_text = st.text(any_char, max_size=40)
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),  # unbounded: beyond 64 bits too
    st.integers(min_value=-(2**80), max_value=2**80),
    st.floats(),  # NaN and infinities too
    any_text,
)
json_values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(any_text, inner, max_size=4),
    max_leaves=12,
)


def _deep(levels: int) -> Any:
    value: Any = 1
    for level in range(levels):
        value = [value] if level % 2 else {"k": value}
    return value


def _with_offset(moment: datetime, minutes: int) -> str:
    return moment.replace(tzinfo=timezone(timedelta(minutes=minutes))).isoformat()


def _near(cap: int) -> st.SearchStrategy[str]:
    """Strings just under, at and over a cap."""
    return st.builds(lambda char, n: char * n, st.sampled_from("aé🎉"), st.integers(cap - 1, cap + 1))


# Values that come close to what a field wants, so the checks past the type check run too.
near_valid = st.one_of(
    any_text,
    *(
        _near(cap)
        for cap in (MAX_EVENT_TYPE_CHARS, MAX_ID_CHARS, MAX_NAME_CHARS, MAX_URL_CHARS, MAX_USER_AGENT_CHARS)
    ),
    st.dictionaries(any_text, json_values, max_size=4),
    st.dictionaries(any_text, json_values, max_size=4).map(json.dumps),  # NaN, big ints, \ud800 too
    st.integers(7, 12).map(_deep),
    st.integers(7, 12).map(lambda n: json.dumps(_deep(n))),
    st.integers(MAX_ATTRIBUTES_BYTES - 12, MAX_ATTRIBUTES_BYTES - 6).map(lambda n: {"big": "x" * n}),
    st.lists(any_text, max_size=MAX_TAGS + 2),
    st.lists(any_text, max_size=4).map(json.dumps),
    st.floats(min_value=-2 * MAX_ABS_CONVERSION_VALUE, max_value=2 * MAX_ABS_CONVERSION_VALUE),
    st.floats(min_value=-1, max_value=MAX_TIME_SPENT_SEC + 1),
    st.datetimes().map(datetime.isoformat),
    st.builds(_with_offset, st.datetimes(), st.integers(-(24 * 60 - 1), 24 * 60 - 1)),
    st.ip_addresses().map(str),
)
event_shaped = st.dictionaries(
    st.sampled_from((*FIELDS, "unknown_field")), st.one_of(json_values, near_valid), max_size=12
)
events_with_type = st.builds(
    lambda event, kind: {**event, "event_type": kind}, event_shaped, st.one_of(any_text, json_values)
)


def _row_or_event_error(obj: Any) -> None:
    try:
        row = parse_event(obj, CONTEXT)
    except EventError as exc:
        assert exc.status in (400, 413)
        exc.message.encode()  # a JSON response can carry it (no lone surrogates)
        if not isinstance(exc, MissingFieldError):
            assert exc.field in (*FIELDS, "body")
            assert exc.message.startswith(f"{exc.field}: ")
        return
    assert list(row) == list(EVENT_COLUMNS)
    orjson.loads(orjson.dumps(row))  # JSON on the queue: no NaN, no surrogates, no big ints
    for column in JSON_COLUMNS:
        assert len(row[column].encode()) <= MAX_ATTRIBUTES_BYTES
        assert not any("\x00" in text for text in _strings(orjson.loads(row[column])))


def _strings(value: Any) -> list[str]:
    """Every string in a JSON value, object keys included."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [*value, *(text for item in value.values() for text in _strings(item))]
    if isinstance(value, list):
        return [text for item in value for text in _strings(item)]
    return []


@PROPERTY
@given(json_values)
def test_any_json_value_is_a_row_or_an_event_error(value: Any) -> None:
    _row_or_event_error(value)


@PROPERTY
@given(events_with_type)
def test_any_event_shaped_dict_is_a_row_or_an_event_error(event: dict[str, Any]) -> None:
    _row_or_event_error(event)


@PROPERTY
@given(
    st.datetimes()
    | st.datetimes(max_value=datetime(1, 1, 2))
    | st.datetimes(min_value=datetime(9999, 12, 30)),
    st.integers(-(24 * 60 - 1), 24 * 60 - 1),
    st.sampled_from(TIME_FIELDS),
)
def test_any_date_with_any_offset_is_a_time_or_an_event_error(
    moment: datetime, minutes: int, field: str
) -> None:
    # At the ends of the calendar an offset can move the moment past them once in UTC.
    _row_or_event_error({"event_type": "view", field: _with_offset(moment, minutes)})


# --- valid events ----------------------------------------------------------------------------
# Printable text (no controls, no surrogates); link_title may also hold tab and newlines.
clean_char = st.characters(exclude_categories=["Cs", "Cc"])


def clean_text(max_size: int) -> st.SearchStrategy[str]:
    return st.text(clean_char, max_size=max_size)


json_scalar = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**63), max_value=2**64 - 1),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(st.characters(exclude_categories=["Cs"], exclude_characters="\x00"), max_size=20),
)


def nested(levels: int) -> st.SearchStrategy[Any]:
    """JSON values whose arrays/objects nest at most `levels` deep."""
    if levels == 0:
        return json_scalar
    inner = nested(levels - 1)
    return st.one_of(
        json_scalar, st.lists(inner, max_size=3), st.dictionaries(clean_text(10), inner, max_size=3)
    )


attributes = st.dictionaries(clean_text(10), nested(MAX_ATTRIBUTES_DEPTH - 1), max_size=4)
timestamps = st.builds(
    lambda moment, minutes: moment.replace(tzinfo=timezone(timedelta(minutes=minutes))).isoformat(),
    st.datetimes(min_value=datetime(1900, 1, 2), max_value=datetime(2299, 12, 30)),
    st.integers(-23 * 60, 23 * 60),
)
IDS = (
    "event_id",
    "link_id",
    "link_slug",
    "user_id",
    "team_id",
    "project_id",
    "qr_code_id",
    "visitor_id",
    "session_id",
)
NAMES = (
    "link_label", "user_name", "user_email", "team_name", "project_name", "qr_code_name", "country", "city",
    "device_type", "browser", "os", "utm_source", "utm_medium", "utm_campaign", "utm_term", "utm_content",
    "conversion_type",
)  # fmt: skip
OBJECTS = tuple(JSON_COLUMNS)

valid_fields: dict[str, st.SearchStrategy[Any]] = {
    **{name: clean_text(MAX_ID_CHARS).filter(bool) for name in IDS},  # "" means "generate one"
    **{name: clean_text(MAX_NAME_CHARS) for name in NAMES},
    **{name: attributes | attributes.map(lambda a: orjson.dumps(a).decode()) for name in OBJECTS},
    **{name: timestamps for name in TIME_FIELDS},
    "link_title": st.text(st.one_of(clean_char, st.sampled_from("\t\n\r")), max_size=MAX_NAME_CHARS),
    "link_original_url": clean_text(MAX_URL_CHARS),
    "referrer": clean_text(MAX_URL_CHARS),
    "user_agent": clean_text(MAX_USER_AGENT_CHARS),
    "link_tags": st.lists(clean_text(MAX_TAG_CHARS), max_size=MAX_TAGS),
    "ip_address": st.ip_addresses().map(str),
    "time_spent_sec": st.floats(min_value=0, max_value=MAX_TIME_SPENT_SEC)
    | st.integers(0, MAX_TIME_SPENT_SEC),
    "conversion_value": st.floats(min_value=-MAX_ABS_CONVERSION_VALUE, max_value=MAX_ABS_CONVERSION_VALUE),
    "is_bounce": st.booleans(),
    "is_qr_scan": st.booleans(),
}
valid_events = st.fixed_dictionaries(
    {"event_type": clean_text(MAX_EVENT_TYPE_CHARS).filter(str.strip)}, optional=valid_fields
)


def _utc_millis(moment: datetime) -> datetime:
    moment = moment.astimezone(UTC)
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000)


@PROPERTY
@given(valid_events)
def test_valid_events_round_trip(event: dict[str, Any]) -> None:
    row = parse_event(event, CONTEXT)
    assert list(row) == list(EVENT_COLUMNS)
    orjson.dumps(row)
    for name, sent in event.items():
        stored = row[name]
        if name in OBJECTS:
            assert orjson.loads(stored) == (orjson.loads(sent) if isinstance(sent, str) else sent)
        elif name in TIME_FIELDS:
            assert datetime.fromisoformat(stored.replace("Z", "+00:00")) == _utc_millis(
                datetime.fromisoformat(sent)
            )
        elif name == "ip_address":
            assert ipaddress.ip_address(stored) == ipaddress.ip_address(sent)
        else:
            assert stored == sent, name
