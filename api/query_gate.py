"""At most QUERY_CONCURRENCY reads at once per process; the rest wait up to
QUERY_WAIT_SECONDS for a slot, then get 429 + Retry-After. Ingestion never waits here."""

from __future__ import annotations

import asyncio

from shared.query.errors import QueryBusy


class QueryGate:
    def __init__(self, concurrency: int, wait_seconds: float) -> None:
        self._slots = asyncio.Semaphore(concurrency)
        self._wait = wait_seconds

    async def acquire(self) -> None:
        try:
            await asyncio.wait_for(self._slots.acquire(), timeout=self._wait)
        except TimeoutError:
            raise QueryBusy("query", "too many queries at once: retry shortly") from None

    def release(self) -> None:
        self._slots.release()
