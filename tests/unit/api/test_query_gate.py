"""The read gate: at most N reads at once; the next waits, then gets QueryBusy (429)."""

from __future__ import annotations

import asyncio

import pytest

from api.query_gate import QueryGate
from shared.query.errors import QueryBusy


def test_a_read_beyond_the_limit_is_refused_after_waiting() -> None:
    async def scenario() -> None:
        gate = QueryGate(concurrency=2, wait_seconds=0.01)
        await gate.acquire()
        await gate.acquire()
        with pytest.raises(QueryBusy) as busy:
            await gate.acquire()
        assert busy.value.status == 429
        gate.release()
        await gate.acquire()  # a released slot is taken at once

    asyncio.run(scenario())
