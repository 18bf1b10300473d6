"""Suppressed subjects, checked on every event after enrichment (its visitor_id is known).

The records live in the registry (shared.lifecycle.erasures), so this process has them
within a second of a change without a Redis call per event; only keyed hashes of the
subject are kept, and an event's values are hashed only while some suppression exists (each
kind with one: a few hundred nanoseconds). The IP compared is the client's as it sent it,
before IP_STORAGE cuts it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final

from shared.lifecycle.erasures import Suppression, suppression_matcher
from shared.lifecycle.subjects import Matcher
from shared.registry.view import RegistryView

SUPPRESSED: Final = "suppressed"


def _never() -> int:
    return 0


class SuppressionCheck:
    def __init__(self, registry: RegistryView, key: Callable[[], bytes]) -> None:
        self._registry = registry
        self._key_source = key
        self._key: bytes | None = None
        self._version = -1
        self._matcher: Matcher | None = None

    def _current(self) -> Matcher | None:
        snapshot = self._registry.snapshot
        if not snapshot.suppressions:
            return None
        if snapshot.version != self._version:
            if self._key is None:
                self._key = self._key_source()  # one Redis round trip, once per process
            records = [Suppression.model_validate(r) for r in snapshot.suppressions.values()]
            self._matcher = suppression_matcher(self._key, records)
            self._version = snapshot.version
        return self._matcher

    def reason(self, row: dict[str, Any], ip: str | None) -> str | None:
        """`suppressed` when a suppression covers the event, else None."""
        matcher = self._current()
        if matcher is None:
            return None
        return SUPPRESSED if matcher.match(row, _never, ip=ip) is not None else None
