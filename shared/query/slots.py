"""Where a read waits for the engine. Queries and exports have pools of their own (a slow
export never takes a query's slot), one tenant holds at most `per_tenant` of each pool (one
read-key holder cannot take every slot from the others), and nobody waits longer than
`wait_seconds`: then QueryBusy, answered 429 + Retry-After.

A tenant is the project a read key sees; the admin token's reads (tenant None) have no
per-tenant cap. In `trackhouse up` these slots live in the store process, the one every API
process reads through, so the caps hold across all of them.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Literal

from shared.query.errors import QueryBusy
from shared.settings import Settings

Kind = Literal["rows", "stream"]


class ReadSlots:
    def __init__(self, *, queries: int, exports: int, per_tenant: int, wait_seconds: float) -> None:
        self._free: dict[Kind, int] = {"rows": queries, "stream": exports}
        self._held: dict[Kind, Counter[str]] = {"rows": Counter(), "stream": Counter()}
        self._per_tenant = per_tenant
        self._wait = wait_seconds
        self._changed = threading.Condition()

    def _may_start(self, kind: Kind, tenant: str | None) -> bool:
        return self._free[kind] > 0 and (tenant is None or self._held[kind][tenant] < self._per_tenant)

    @contextmanager
    def hold(self, kind: Kind, tenant: str | None) -> Iterator[None]:
        with self._changed:
            if not self._changed.wait_for(lambda: self._may_start(kind, tenant), timeout=self._wait):
                what = "exports" if kind == "stream" else "queries"
                raise QueryBusy("query", f"too many {what} at once: retry shortly")
            self._free[kind] -= 1
            if tenant is not None:
                self._held[kind][tenant] += 1
        try:
            yield
        finally:
            with self._changed:
                self._free[kind] += 1
                if tenant is not None:
                    self._held[kind][tenant] -= 1
                    if not self._held[kind][tenant]:
                        del self._held[kind][tenant]
                self._changed.notify_all()


def one_slot() -> ReadSlots:
    """One query and one export at a time, for tools and tests: a slot never released shows
    as QueryBusy on the next call, within seconds."""
    return ReadSlots(queries=1, exports=1, per_tenant=1, wait_seconds=2)


def read_slots(settings: Settings) -> ReadSlots:
    return ReadSlots(
        queries=settings.query_concurrency,
        exports=settings.export_concurrency,
        per_tenant=settings.read_tenant_concurrency,
        wait_seconds=settings.query_wait_seconds,
    )
