"""The writers' side of an erasure: events of an erased subject received before the request
are left out of every insert, wherever they come from (a queued job, a retry, a dead letter
requeued by hand, a job a worker held when the erasure arrived).

Each job's attempt reads the tombstones' version (one GET) after the job is registered as
started and before it writes; the tombstones are reloaded only when it moved. So an insert
that could have missed a tombstone belongs to a job that was started when the tombstone was
written, and the erasure runner waits for exactly those jobs before it deletes from the store
(worker.lifecycle): an insert in flight cannot bring the subject back after the delete.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

from redis import Redis

from shared import metrics
from shared.lifecycle.erasures import VERSION, ErasureStore
from shared.lifecycle.subjects import Matcher
from shared.settings import Settings
from worker.writer import Columns, Writer, epoch_ms


class Tombstones:
    """One process's copy of the tombstones, shared by its worker threads."""

    def __init__(self, redis: Redis, settings: Settings) -> None:
        self._redis = redis
        self._settings = settings
        self._store: ErasureStore | None = None
        self._version = -1
        self._matcher: Matcher | None = None
        self._lock = threading.Lock()

    def _erasures(self) -> ErasureStore:
        if self._store is None:
            self._store = ErasureStore.for_settings(self._redis, self._settings)
        return self._store

    def current(self) -> Matcher | None:
        """The tombstones in force now (None: none). A Redis fault propagates: the job fails and
        is retried, never written without the check."""
        version = int(self._redis.get(VERSION) or 0)
        with self._lock:
            if version != self._version:
                if version == 0:
                    self._matcher = None
                else:
                    _, matcher = self._erasures().tombstones()
                    self._matcher = matcher or None
                self._version = version
            return self._matcher


class FilteringWriter:
    """A Writer that leaves out the rows a tombstone covers, then writes the rest as given.
    The token stays the one of the unfiltered slice, so a retry after an earlier attempt
    stored the slice whole is still dropped by ClickHouse (and the erasure's delete removes
    the subject's rows of that attempt)."""

    def __init__(self, writer: Writer, matcher: Matcher) -> None:
        self._writer = writer
        self._matcher = matcher
        self._memo: dict[str, int] = {}

    def _received_ms(self, iso: str) -> int:
        if iso not in self._memo:
            self._memo[iso] = epoch_ms(iso)
        return self._memo[iso]

    def write(self, columns: Sequence[str], data: Columns, *, token: str) -> int:
        covered = self._matcher.mask(columns, data, self._received_ms)
        erased = sum(covered)
        if not erased:
            return self._writer.write(columns, data, token=token)
        metrics.EVENTS_ERASED_AT_WRITE.inc(erased)
        kept: list[list[Any]] = [[v for v, gone in zip(values, covered, strict=True) if not gone] for values in data]
        return self._writer.write(columns, kept, token=token) if kept and kept[0] else 0
