"""The event model: every type rule, every default, every client error of the contract."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from typing import Any

import pytest

from shared.event.errors import EventError, MissingFieldError
from shared.event.parse import RequestContext, parse_event
from shared.store.schema import EVENT_COLUMNS
from tests.support.builders import basic_event, detailed_event, stringly_event

NOW = datetime(2026, 3, 4, 5, 6, 7, 891234, tzinfo=UTC)
CONTEXT = RequestContext(
    received_at=NOW, ip_address="203.0.113.9", user_agent="UA/1.0", referrer="https://ref.example/"
)


def parse(body: Any) -> dict[str, Any]:
    return parse_event(body, CONTEXT)


def error_of(body: Any) -> str:
    with pytest.raises(EventError) as caught:
        parse(body)
    return caught.value.message


def test_row_has_every_column_and_is_plain_json() -> None:
    row = parse(detailed_event())
    assert list(row) == list(EVENT_COLUMNS)
    assert json.loads(json.dumps(row)) == row  # nothing but JSON types travels on the queue


def test_defaults_of_the_contract() -> None:
    row = parse(basic_event())
    uuid.UUID(row["event_id"])
    uuid.UUID(row["visitor_id"])
    uuid.UUID(row["session_id"])
    assert row["event_time"] == "2026-03-04T05:06:07.891Z"  # now, in UTC, milliseconds
    assert row["received_at"] == "2026-03-04T05:06:07.891Z"
    assert row["ip_address"] == "203.0.113.9"
    assert row["user_agent"] == "UA/1.0"
    assert row["referrer"] == "https://ref.example/"
    assert row["time_spent_sec"] == 0
    assert row["is_bounce"] is True
    assert row["is_qr_scan"] is False
    assert row["conversion_value"] == 0
    assert row["link_tags"] == []
    assert row["event_attributes"] == "{}"
    assert row["link_created_at"] is None and row["link_expires_at"] is None
    assert row["user_id"] == "" and row["conversion_type"] == ""


def test_generated_ids_differ_per_event() -> None:
    first, second = parse(basic_event()), parse(basic_event())
    assert first["event_id"] != second["event_id"]
    assert first["visitor_id"] != second["visitor_id"]


def test_client_values_win_over_request_defaults() -> None:
    row = parse(
        basic_event(
            event_id="mine",
            visitor_id="v",
            session_id="s",
            ip_address="10.0.0.1",
            user_agent="client-ua",
            referrer="",
        )
    )
    assert (row["event_id"], row["visitor_id"], row["session_id"]) == ("mine", "v", "s")
    assert row["ip_address"] == "10.0.0.1"
    assert row["user_agent"] == "client-ua"
    assert row["referrer"] == ""  # an explicit empty referrer is the client's choice


def test_detailed_example_values() -> None:
    row = parse(detailed_event())
    assert json.loads(row["event_attributes"]) == {"page": "/checkout", "product_id": "xyz789"}
    assert row["is_bounce"] is False
    assert row["time_spent_sec"] == 120
    assert row["conversion_value"] == 99.99
    assert (row["utm_source"], row["utm_campaign"]) == ("email", "summer_sale")


def test_json_strings_offsets_and_unicode() -> None:
    row = parse(stringly_event())
    assert row["event_time"] == "2024-05-01T12:30:15.123Z"  # +02:00 to UTC, truncated to ms
    assert row["link_created_at"] == "2024-02-01T04:00:00.000Z"
    assert row["link_expires_at"] == "2025-01-01T00:00:00.000Z"  # a date alone is midnight UTC
    assert json.loads(row["event_attributes"]) == {"page": "/über", "emoji": "🎉", "nested": {"n": [1, 2]}}
    assert row["link_tags"] == ["promo", "été", "标签"]
    assert row["ip_address"] == "2001:db8::1"


def test_naive_time_is_utc() -> None:
    assert parse(basic_event(event_time="2024-05-01T10:00:00"))["event_time"] == "2024-05-01T10:00:00.000Z"


def test_null_means_absent() -> None:
    row = parse(basic_event(is_bounce=None, link_tags=None, event_id=None, event_attributes=None))
    assert row["is_bounce"] is True and row["link_tags"] == [] and row["event_attributes"] == "{}"
    uuid.UUID(row["event_id"])


def test_unknown_fields_are_ignored() -> None:
    assert "color" not in parse(basic_event(color="red"))


@pytest.mark.parametrize("body", [{}, {"event_type": None}, {"link_id": "x"}])
def test_missing_event_type_has_the_contract_message(body: dict[str, Any]) -> None:
    with pytest.raises(MissingFieldError) as caught:
        parse(body)
    assert caught.value.message == "Missing required field: event_type"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ([1, 2], "body: must be a JSON object"),
        ("click", "body: must be a JSON object"),
        ({"event_type": ""}, "event_type: must not be empty"),
        ({"event_type": "   "}, "event_type: must not be empty"),
        ({"event_type": 7}, "event_type: must be a string"),
        (basic_event(link_id=123), "link_id: must be a string"),
        (basic_event(user_email=["a"]), "user_email: must be a string"),
        (basic_event(is_bounce="false"), "is_bounce: must be a boolean (true or false)"),
        (basic_event(is_qr_scan=1), "is_qr_scan: must be a boolean (true or false)"),
        (basic_event(time_spent_sec="5"), "time_spent_sec: must be a number"),
        (basic_event(time_spent_sec=True), "time_spent_sec: must be a number"),
        (basic_event(time_spent_sec=-1), "time_spent_sec: must be >= 0"),
        (basic_event(conversion_value="9.99"), "conversion_value: must be a number"),
        (basic_event(event_time="yesterday"), "event_time: must be an ISO-8601 date string, got 'yesterday'"),
        (basic_event(event_time=1714557600), "event_time: must be an ISO-8601 date string"),
        (
            basic_event(link_expires_at="1899-12-31T00:00:00Z"),
            "link_expires_at: must be between 1900-01-01 and 2299-12-31",
        ),
        (
            basic_event(event_attributes="not json"),
            "event_attributes: must be a JSON object or a string holding one",
        ),
        (
            basic_event(user_attributes="[1, 2]"),
            "user_attributes: must be a JSON object or a string holding one",
        ),
        (
            basic_event(team_attributes=["x"]),
            "team_attributes: must be a JSON object or a string holding one",
        ),
        (
            basic_event(qr_code_attributes='{"x": NaN}'),
            "qr_code_attributes: must be a JSON object or a string holding one",
        ),
        (basic_event(link_tags='{"a": 1}'), "link_tags: must be an array of strings or a string holding one"),
        (basic_event(link_tags=["ok", 3]), "link_tags: must be an array of strings or a string holding one"),
        (basic_event(link_tags="promo"), "link_tags: must be an array of strings or a string holding one"),
        (basic_event(ip_address="999.1.1.1"), "ip_address: must be an IPv4 or IPv6 address"),
    ],
)
def test_client_errors_name_the_field_and_the_problem(body: Any, message: str) -> None:
    assert error_of(body) == message
