"""JSON /batch bodies are counted while they are read: a body of a million tiny items stops at
the cap, never parsed whole; every body the walk accepts reads as orjson reads it."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from api.body import BodyTooLarge, split_batch
from api.json_items import TooManyItems, dense, walk_batch
from shared.event.errors import EventError
from tests.support.examples import examples

JSON = "application/json"


def test_a_bomb_of_empty_objects_stops_at_the_cap_before_the_rest_is_read() -> None:
    # 100,000 items, then 4 MB that is not JSON at all: refused for the count, so never parsed.
    bomb = b"[" + b"{}," * 100_000 + b"!" * 4_000_000 + b"]"
    assert dense(bomb, 1000)
    with pytest.raises(BodyTooLarge, match="at most 1000 per batch"):
        split_batch(bomb, JSON, 1000)
    wrapped = b'{"events": [' + b"{}," * 100_000 + b"!" * 4_000_000 + b"]}"
    with pytest.raises(BodyTooLarge):
        split_batch(wrapped, JSON, 1000)


def test_a_dense_body_within_the_cap_reads_as_a_whole_parse() -> None:
    events = [{"event_type": "view", "a": list(range(70))} for _ in range(10)]
    raw = orjson.dumps(events)
    assert dense(raw, 10)
    assert split_batch(raw, JSON, 10) == events
    wrapped = orjson.dumps({"meta": {"x": [1, 2]}, "events": events, "after": "y"})
    assert split_batch(wrapped, JSON, 10) == events


@pytest.mark.parametrize(
    "raw",
    [
        b"[" + b"1," * 100 + b"NaN]",
        b"[" + b"1," * 100 + b'"\\ud800"]',
        b"[" + b"1," * 100 + b"1] trailing",
        b"[" + b"1," * 100 + b"1",
        b"[" + b"1," * 100 + b"1 2]",
        b'{"events": [' + b"1," * 100 + b'1], "x": }',
        b"[" + b"1," * 100 + b"\xff]",
    ],
)
def test_bad_json_in_a_dense_body_is_a_400(raw: bytes) -> None:
    assert dense(raw, 1)
    with pytest.raises(EventError) as caught:
        split_batch(raw, JSON, 1000)
    assert caught.value.field == "body" and not isinstance(caught.value, BodyTooLarge)


def test_a_dense_body_of_another_shape_is_refused_as_such() -> None:
    raw = orjson.dumps({"not_events": list(range(200))})
    with pytest.raises(EventError, match="expected a JSON array"):
        split_batch(raw, JSON, 1)


values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1) | st.floats(allow_nan=False, allow_infinity=False) | st.text(),
    lambda children: st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=5), children, max_size=5),
    max_leaves=30,
)


@given(st.lists(values, max_size=20), st.sampled_from([0, orjson.OPT_INDENT_2]), st.sampled_from([b"", b" \n"]))
@settings(max_examples=examples(300), deadline=None)
def test_the_walk_reads_what_orjson_reads(items: list[Any], option: int, space: bytes) -> None:
    raw = space + orjson.dumps(items, option=option) + space
    assert walk_batch(raw, 1000) == orjson.loads(raw)
    wrapped = orjson.dumps({"events": items, "z": items})
    assert walk_batch(wrapped, 1000) == items
    if len(items) > 3:
        with pytest.raises(TooManyItems):
            walk_batch(raw, 3)
