"""The events of a JSON /batch body (`[...]` or `{"events": [...]}`), counted as they are read.

orjson parses a whole body in C, fast, but builds every value first: 5 MB of `[{},{},…]` is
1.7 million dicts (~0.4 s, ~180 MB) before the events can be counted. A body that cannot hold
that many values (few commas: every value after an array's or object's first needs one) is
still parsed whole, the fast path real batches take. Any other body is walked item by item,
the item count checked before each one is parsed, so a bomb stops at its cap. Items are parsed
by orjson either way (the same strict JSON), their bounds found by the standard library's
scanner.
"""

from __future__ import annotations

import json
from typing import Any

import orjson

from shared.event.errors import EventError
from shared.event.fields import loads_strict

WHOLE_PARSE_COMMAS_PER_EVENT = 64
"""A body with fewer commas than this per allowed event is parsed whole (a real event has
about 15 to 40)."""


class TooManyItems(Exception):
    pass


def dense(raw: bytes, max_items: int) -> bool:
    """Whether a body may hold more values than `max_items` events would: walk it, don't parse it whole."""
    return raw.count(b",") >= max_items * WHOLE_PARSE_COMMAS_PER_EVENT


def _malformed(problem: str) -> EventError:
    return EventError("body", f"malformed JSON ({problem})")


class _Walker:
    def __init__(self, raw: bytes, max_items: int) -> None:
        try:
            self.text = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise EventError("body", "not valid UTF-8") from None
        self.pos = 0
        self.max_items = max_items
        self._decoder = json.JSONDecoder()

    def skip(self) -> str:
        while self.pos < len(self.text) and self.text[self.pos] in " \t\n\r":
            self.pos += 1
        return self.text[self.pos] if self.pos < len(self.text) else ""

    def _expect(self, char: str) -> None:
        if self.skip() != char:
            raise _malformed(f"expected {char!r} at character {self.pos}")
        self.pos += 1

    def value(self) -> Any:
        """The next JSON value, parsed by orjson from the span the stdlib scanner finds."""
        start = self.pos
        try:
            _, end = self._decoder.raw_decode(self.text, start)
        except json.JSONDecodeError as exc:
            raise _malformed(exc.msg) from None
        self.pos = end
        try:
            return loads_strict(self.text[start:end])
        except orjson.JSONDecodeError as exc:
            raise _malformed(str(exc)) from None

    def array(self) -> list[Any]:
        self._expect("[")
        items: list[Any] = []
        if self.skip() == "]":
            self.pos += 1
            return items
        while True:
            if len(items) == self.max_items:
                raise TooManyItems
            self.skip()
            items.append(self.value())
            following = self.skip()
            self.pos += 1
            if following == "]":
                return items
            if following != ",":
                raise _malformed(f"expected ',' or ']' at character {self.pos - 1}")

    def events_object(self) -> list[Any] | None:
        """The `events` array of a `{...}` body (its other members parsed and dropped), or
        None when it has none."""
        self._expect("{")
        events: list[Any] | None = None
        if self.skip() == "}":
            return None
        while True:
            self.skip()
            key = self.value()
            self._expect(":")
            if key == "events" and self.skip() == "[":
                events = self.array()
            else:
                self.skip()
                self.value()
            following = self.skip()
            self.pos += 1
            if following == "}":
                return events
            if following != ",":
                raise _malformed(f"expected ',' or '}}' at character {self.pos - 1}")

    def end(self) -> None:
        if self.skip():
            raise _malformed(f"trailing data at character {self.pos}")


def walk_batch(raw: bytes, max_items: int) -> list[Any] | None:
    """The events of a body too dense to parse whole (see above), or None when it is neither
    a JSON array nor an object with an `events` array. Raises TooManyItems once there are
    more than `max_items`, EventError for bad JSON."""
    walker = _Walker(raw, max_items)
    first = walker.skip()
    if first == "[":
        items: list[Any] | None = walker.array()
    elif first == "{":
        items = walker.events_object()
    else:
        walker.value()  # a scalar: bad JSON is still said to be bad JSON
        items = None
    walker.end()
    return items
