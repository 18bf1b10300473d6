"""The validation fast paths against the model they stand for.

`parse_event` validates with TrackEvent's field validators into a dict (no model instance), and
`parse_events` validates a whole /batch in one call, falling back to event-by-event at the first
invalid one. Both must give exactly what `TrackEvent.model_validate` gave: the same row, or the
same error (class, message, status), for anything at all, alone or in any mix in a list.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from shared.event.errors import EventError, MissingFieldError
from shared.event.model import TrackEvent
from shared.event.parse import RequestContext, _first_error, parse_event, parse_events
from shared.ids import new_uuid
from tests.property.test_event_properties import PROPERTY, events_with_type, json_values, valid_events
from tests.support.examples import examples

CONTEXT = RequestContext(
    received_at=datetime(2026, 3, 4, 5, 6, 7, 891234, tzinfo=UTC),
    ip_address="203.0.113.9",
    user_agent="UA/1.0",
    referrer="https://ref.example/",
)
GENERATED = "<generated uuid>"


def model_row(obj: Any) -> dict[str, Any]:
    """parse_event as it was written against the model (generate_ids=False, as the API calls it)."""
    if not isinstance(obj, dict):
        raise EventError("body", "must be a JSON object")
    if obj.get("event_type") is None:
        raise MissingFieldError("event_type")
    try:
        event = TrackEvent.model_validate(obj)
    except ValidationError as exc:
        raise _first_error(exc) from None
    row = dict(event.__dict__)
    row["event_id"] = event.event_id or new_uuid()
    row["event_time"] = event.event_time or CONTEXT.received_iso
    row["received_at"] = CONTEXT.received_iso
    row["is_bot"] = False
    row["event_time_clamped"] = False
    row["trusted"] = False
    row["ip_address"] = event.ip_address or CONTEXT.ip_address or ""
    if event.user_agent is None:
        row["user_agent"] = CONTEXT.user_agent
    if event.referrer is None:
        row["referrer"] = CONTEXT.referrer
    return row


def outcome(result: dict[str, Any] | EventError, sent: Any) -> Any:
    """A row (with its key order) or an error's (class, message, status), comparable with ==."""
    if isinstance(result, EventError):
        return (type(result).__name__, result.message, result.status)
    row = dict(result)
    if isinstance(sent, dict) and not sent.get("event_id"):  # a fresh UUID on each side
        assert len(row["event_id"]) == 36
        row["event_id"] = GENERATED
    return list(row.items())


def expected(obj: Any) -> Any:
    try:
        return outcome(model_row(obj), obj)
    except EventError as exc:
        return outcome(exc, obj)


def fast(obj: Any) -> Any:
    try:
        return outcome(parse_event(obj, CONTEXT, generate_ids=False), obj)
    except EventError as exc:
        return outcome(exc, obj)


# Strict vs lax: values pydantic would coerce in lax mode ("1", 1.0 for an int, 1 for a bool,
# "true"), nulls, integers beyond 64 bits, non-string keys (only Python callers send those).
coercible = st.sampled_from(["1", "1.5", "true", 1, 0, 1.0, True, False, None, 2**64, -(2**70), b"x", 1e308])
tricky_events = st.builds(
    lambda event, extra: {**event, **extra},
    valid_events,
    st.dictionaries(
        st.one_of(st.sampled_from(tuple(TrackEvent.model_fields)), st.integers(), st.just("unknown")),
        coercible,
        max_size=3,
    ),
)
anything = st.one_of(valid_events, valid_events, events_with_type, tricky_events, json_values)


@PROPERTY
@given(anything)
def test_one_event_is_validated_as_the_model_does(obj: Any) -> None:
    assert fast(obj) == expected(obj)


@settings(PROPERTY, max_examples=examples(120))  # up to 8 events each: as many events as the test above
@given(st.lists(st.one_of(valid_events, valid_events, valid_events, anything), min_size=1, max_size=8))
def test_a_batch_gets_each_events_own_result_in_order(objs: list[Any]) -> None:
    results = parse_events(objs, CONTEXT, generate_ids=False)
    assert [outcome(result, obj) for result, obj in zip(results, objs, strict=True)] == [
        expected(obj) for obj in objs
    ]


def test_an_unreadable_ndjson_line_keeps_its_place() -> None:
    bad = EventError("body", "malformed JSON (unexpected character)")
    good = {"event_type": "click", "event_id": "a"}
    results = parse_events([good, bad, good], CONTEXT, generate_ids=False)
    assert results[1] is bad
    assert [outcome(r, good) for r in (results[0], results[2])] == [expected(good)] * 2


def test_rows_never_share_a_default_list() -> None:
    first, second = parse_events([{"event_type": "a"}, {"event_type": "b"}], CONTEXT)
    assert isinstance(first, dict) and isinstance(second, dict)
    assert first["link_tags"] == [] and first["link_tags"] is not second["link_tags"]
