"""Bad input is a 4xx, never a 500: per-field caps (400, as the contract says), numbers out of range, control
characters and lone surrogates (400), and the request headers that are truncated instead."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

import orjson
import pytest
from fastapi.testclient import TestClient
from redis import Redis

from shared.event.errors import EventError, FieldTooLarge
from shared.event.limits import (
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
from shared.event.parse import RequestContext, parse_event
from shared.settings import Settings
from tests.support.apps import api_client
from tests.support.builders import basic_event

CONTEXT = RequestContext(
    received_at=datetime(2026, 3, 4, tzinfo=UTC), user_agent="UA/1.0", referrer="https://r/"
)
TRACK, BATCH = "/api/events/track", "/api/events/batch"

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
    "link_label", "link_title", "user_name", "user_email", "team_name", "project_name", "qr_code_name",
    "country", "city", "device_type", "browser", "os", "utm_source", "utm_medium", "utm_campaign",
    "utm_term", "utm_content", "conversion_type",
)  # fmt: skip
CAPS = {
    **dict.fromkeys(IDS, MAX_ID_CHARS),
    **dict.fromkeys(NAMES, MAX_NAME_CHARS),
    "event_type": MAX_EVENT_TYPE_CHARS,
    "link_original_url": MAX_URL_CHARS,
    "referrer": MAX_URL_CHARS,
    "user_agent": MAX_USER_AGENT_CHARS,
}
OBJECTS = ("event_attributes", "link_attributes", "user_attributes", "team_attributes")


def parse(**fields: Any) -> dict[str, Any]:
    return parse_event(basic_event(**fields), CONTEXT)


def refusal(**fields: Any) -> EventError:
    with pytest.raises(EventError) as caught:
        parse(**fields)
    return caught.value


@pytest.fixture
def client(settings: Settings, fake_redis: Redis) -> TestClient:
    return api_client(settings, fake_redis)


# --- caps: 400 -------------------------------------------------------------------------------
@pytest.mark.parametrize(("field", "cap"), CAPS.items())
def test_text_caps_count_characters_and_answer_400(field: str, cap: int) -> None:
    assert parse(**{field: "é" * cap})[field] == "é" * cap  # characters, not UTF-8 bytes
    error = refusal(**{field: "x" * (cap + 1)})
    assert isinstance(error, FieldTooLarge) and error.status == 400
    assert error.message == f"{field}: longer than {cap} characters"


@pytest.mark.parametrize("field", OBJECTS)
def test_attributes_cap_their_json_size(field: str) -> None:
    at_cap = {"k": "x" * (MAX_ATTRIBUTES_BYTES - len('{"k":""}'))}
    assert len(parse(**{field: at_cap})[field].encode()) == MAX_ATTRIBUTES_BYTES
    error = refusal(**{field: {"k": "x" * MAX_ATTRIBUTES_BYTES}})
    assert isinstance(error, FieldTooLarge)
    assert error.message == f"{field}: larger than {MAX_ATTRIBUTES_BYTES} bytes as JSON"
    # Counted as stored (compact UTF-8), whether sent as an object or as text with spaces.
    assert isinstance(refusal(**{field: '{"k": "' + "é" * (MAX_ATTRIBUTES_BYTES // 2) + '"}'}), FieldTooLarge)


def nest(levels: int) -> Any:
    """An object whose arrays/objects nest `levels` deep (the object itself is level 1)."""
    value: Any = "leaf"
    for level in range(levels - 1):
        value = [value] if level % 2 else {"k": value}
    return {"k": value}


@pytest.mark.parametrize("as_text", [False, True])
def test_attributes_cap_their_nesting(as_text: bool) -> None:
    def sent(levels: int) -> Any:
        return orjson.dumps(nest(levels)).decode() if as_text else nest(levels)

    assert parse(event_attributes=sent(MAX_ATTRIBUTES_DEPTH))
    error = refusal(event_attributes=sent(MAX_ATTRIBUTES_DEPTH + 1))
    assert isinstance(error, FieldTooLarge)
    assert error.message == f"event_attributes: nested deeper than {MAX_ATTRIBUTES_DEPTH} levels"
    # Deeper than orjson itself serialises (it stops at 255): still the same answer.
    assert isinstance(refusal(event_attributes=nest(300)), FieldTooLarge)


def test_brackets_inside_strings_are_not_nesting() -> None:
    assert parse(event_attributes={"k": "[[[[{{{{[[[[{{{{"})


def test_tags_cap_their_number_and_length() -> None:
    assert parse(link_tags=["t"] * MAX_TAGS)["link_tags"] == ["t"] * MAX_TAGS
    assert parse(link_tags=["t" * MAX_TAG_CHARS])
    too_many = refusal(link_tags=["t"] * (MAX_TAGS + 1))
    assert isinstance(too_many, FieldTooLarge) and too_many.message == f"link_tags: more than {MAX_TAGS} tags"
    too_long = refusal(link_tags='["ok", "' + "t" * (MAX_TAG_CHARS + 1) + '"]')
    assert isinstance(too_long, FieldTooLarge)
    assert too_long.message == f"link_tags: a tag is longer than {MAX_TAG_CHARS} characters"


def test_request_headers_are_truncated_not_refused() -> None:
    context = RequestContext(received_at=CONTEXT.received_at, user_agent="U" * 5000, referrer="R" * 5000)
    row = parse_event(basic_event(), context)
    assert row["user_agent"] == "U" * MAX_USER_AGENT_CHARS
    assert row["referrer"] == "R" * MAX_URL_CHARS


# --- numbers: 400 ----------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"time_spent_sec": MAX_TIME_SPENT_SEC + 1}, f"time_spent_sec: must be <= {MAX_TIME_SPENT_SEC}"),
        ({"time_spent_sec": -0.5}, "time_spent_sec: must be >= 0"),
        ({"time_spent_sec": float("inf")}, "time_spent_sec: must be a finite number"),
        ({"conversion_value": float("nan")}, "conversion_value: must be a finite number"),
        ({"conversion_value": 1.5e15}, "conversion_value: must be <= 1000000000000000"),
        ({"conversion_value": -(10**16)}, "conversion_value: must be >= -1000000000000000"),
        ({"conversion_value": 10**400}, "conversion_value: must be a number"),  # not even a float
    ],
)
def test_numbers_out_of_range_are_400(fields: dict[str, Any], message: str) -> None:
    error = refusal(**fields)
    assert error.status == 400 and error.message == message


def test_numbers_at_their_bounds_are_accepted() -> None:
    row = parse(time_spent_sec=MAX_TIME_SPENT_SEC, conversion_value=-1e15)
    assert (row["time_spent_sec"], row["conversion_value"]) == (MAX_TIME_SPENT_SEC, -1e15)


# --- text: 400 -------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "field", [*IDS, "event_type", "link_label", "link_original_url", "user_agent", "utm_term"]
)
@pytest.mark.parametrize("char", ["\x00", "\t", "\n", "\x1b", "\x7f"])
def test_control_characters_are_refused_in_single_line_fields(field: str, char: str) -> None:
    error = refusal(**{field: f"a{char}b"})
    assert error.status == 400
    assert error.message == f"{field}: must not contain control characters (U+0000-U+001F, U+007F)"


def test_free_text_keeps_tabs_and_newlines_but_no_other_control() -> None:
    assert parse(link_title="Line one\r\n\tLine two")["link_title"] == "Line one\r\n\tLine two"
    for char in ("\x00", "\x1b", "\x7f"):
        error = refusal(link_title=f"a{char}b")
        assert error.message == (
            "link_title: must not contain control characters other than tab, line feed and carriage return"
        )


def test_attributes_keep_escaped_controls_but_never_nul() -> None:
    assert parse(event_attributes={"k": "bell\x07 and\nnewline"})
    assert parse(event_attributes={"k": "\\u0000 written out"})  # text, not a NUL
    for attributes in ({"k": "a\x00b"}, {"a\x00": 1}, '{"k": ["\\u0000"]}'):
        assert (
            refusal(event_attributes=attributes).message
            == "event_attributes: must not contain NUL characters"
        )


def test_tags_refuse_control_characters() -> None:
    error = refusal(link_tags=["ok", "bad\x00"])
    assert error.message == "link_tags: a tag must not contain control characters or lone surrogates"


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"link_id": "a\ud800"}, "link_id: must not contain lone surrogates"),
        ({"event_attributes": {"k": "\udfff"}}, "event_attributes: must not contain lone surrogates"),
        ({"event_attributes": '{"k": "\\ud800"}'}, "event_attributes: must not contain lone surrogates"),
        ({"link_tags": '["\\ud800"]'}, "link_tags: must not contain lone surrogates"),
        (
            {"link_tags": ["\ud800"]},
            "link_tags: a tag must not contain control characters or lone surrogates",
        ),
    ],
)
def test_lone_surrogates_are_refused(fields: dict[str, Any], message: str) -> None:
    assert refusal(**fields).message == message


def test_refusal_messages_never_echo_a_lone_surrogate() -> None:
    refusal(event_time="\ud800 yesterday").message.encode()  # would fail for a JSON response


@pytest.mark.parametrize(
    "attributes", [{"k": 2**70}, {1: "non-string key"}, {"k": {1, 2}}], ids=["big-int", "int-key", "set"]
)
def test_python_values_json_cannot_hold_are_400_not_a_crash(attributes: Any) -> None:
    assert refusal(event_attributes=attributes).status == 400


@pytest.mark.parametrize("moment", ["0001-01-01T00:00:00+00:01", "9999-12-31T23:59:59-00:01"])
def test_times_past_the_calendar_in_utc_are_400(moment: str) -> None:
    # The offset moves them out of datetime's range: once an OverflowError, a 500 (fuzzer).
    assert (
        refusal(link_created_at=moment).message
        == "link_created_at: must be between 1900-01-01 and 2299-12-31"
    )


def test_an_overlong_ip_is_refused_before_parsing() -> None:
    assert refusal(ip_address="1" * 10_000).message == "ip_address: must be an IPv4 or IPv6 address"


# --- over HTTP -------------------------------------------------------------------------------
def test_an_oversized_field_is_the_contracts_400_over_http(client: TestClient) -> None:
    response = client.post(TRACK, json=basic_event(link_id="x" * (MAX_ID_CHARS + 1)))
    assert response.status_code == 400
    assert response.json() == {"error": f"link_id: longer than {MAX_ID_CHARS} characters"}


def test_an_oversized_field_is_a_4xx_in_the_contract_shape(client: TestClient) -> None:
    response = client.post(TRACK, json=basic_event(link_tags=["t"] * (MAX_TAGS + 1)))
    assert response.status_code == 400
    assert response.json() == {"error": f"link_tags: more than {MAX_TAGS} tags"}


def test_an_oversized_field_rejects_only_its_event_in_a_batch(client: TestClient) -> None:
    events = [basic_event(), basic_event(referrer="https://x/" + "p" * MAX_URL_CHARS)]
    response = client.post(BATCH, json=events)
    assert response.status_code == 207
    results = response.json()["results"]
    assert results[0]["status"] == "accepted"
    assert results[1] == {"index": 1, "error": f"referrer: longer than {MAX_URL_CHARS} characters"}


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b'{"event_type": "click", "link_id": "\\ud800"}', "body: lone surrogate escape (not valid Unicode)"),
        (b'{"event_type": "cl\x00ick"}', "body: malformed JSON"),  # raw controls are not JSON
        (b'{"event_type": "click", "link_id": "a\\u0000b"}', "link_id: must not contain control characters"),
    ],
)
def test_bad_text_in_a_body_is_400(client: TestClient, content: bytes, message: str) -> None:
    response = client.post(TRACK, content=content, headers={"Content-Type": "application/json"})
    assert response.status_code == 400
    assert response.json()["error"].startswith(message)


async def _asgi_post(app: Any, path: str, headers: list[tuple[bytes, bytes]], body: bytes) -> int:
    """POST straight to the ASGI app: an HTTP client would re-encode odd header bytes."""
    scope = {"type": "http", "http_version": "1.1", "method": "POST", "path": path, "raw_path": path.encode()}
    scope |= {"query_string": b"", "headers": headers, "client": ("203.0.113.7", 1), "server": ("t", 80)}
    scope |= {"scheme": "http", "root_path": ""}
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await app(scope, receive, send)
    return int(sent[0]["status"])


@pytest.mark.parametrize(
    "declared", [b"\xb2", b"1\xb3", b"9" * 5000], ids=["superscript", "digit-superscript", "huge"]
)
def test_odd_content_length_headers_are_not_a_crash(client: TestClient, declared: bytes) -> None:
    # str.isdigit() takes "²", which int() refuses, and int() refuses over 4300 digits: both were 500s.
    headers = [(b"content-type", b"application/json"), (b"content-length", declared)]
    status = asyncio.run(_asgi_post(client.app, TRACK, headers, b'{"event_type": "click"}'))
    assert status in (201, 413)
