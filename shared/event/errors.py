"""What a client got wrong in one event.

    EventError (400: a field and a problem)
    ├── FieldTooLarge (400: a value over its cap, as the contract says)
    └── MissingFieldError (400: the contract's "Missing required field: …")
"""

from __future__ import annotations


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
    """A value over its size cap (length, bytes, nesting, count). The contract makes it a 400
    like every other bad field; only a body over its cap is a 413 (api.body)."""

    status = 400


class MissingFieldError(EventError):
    """The one required field is absent or null; the contract fixes this message."""

    def __init__(self, field: str) -> None:
        super().__init__(field, "missing")

    @property
    def message(self) -> str:
        return f"Missing required field: {self.field}"

