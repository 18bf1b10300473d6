"""Group commit: events from concurrent requests share one queued job.

Each request hands its rows to `GroupCommitter.submit` and is answered only when the job
holding them has been acknowledged by Redis. There is no timer: a lone request is flushed
at once; while one enqueue is in flight, the requests that arrive meanwhile form the next
job (bounded by `job_max_events` and `job_max_bytes`). Under load, jobs grow by
themselves and the Redis cost per event falls; when idle, latency is one round trip.

The enqueue runs in a worker thread so the event loop never waits on Redis.

With `redis_min_replicas_ack` > 0, a job counts as acknowledged only once `WAIT` confirms
that many replicas hold it (a failover then cannot lose it); short of them, within
`redis_replica_ack_timeout_ms`, its requests fail with `shared.queue.connect.ReplicasBehind`
(503 + Retry-After).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from rq import Queue
from rq.job import Job

from shared import metrics
from shared.queue.connect import require_replicas
from shared.queue.jobs import enqueue_rows
from shared.settings import Settings

log = logging.getLogger(__name__)


@dataclass(slots=True)
class _Pending:
    rows: list[dict[str, Any]]
    size_bytes: int
    done: asyncio.Future[None] = field(default_factory=lambda: asyncio.get_running_loop().create_future())


class GroupCommitter:
    def __init__(
        self,
        queue: Queue,
        settings: Settings,
        *,
        enqueue: Callable[[Queue, list[dict[str, Any]], Settings], Job] = enqueue_rows,
    ) -> None:
        self._queue = queue
        self._settings = settings
        self._enqueue = enqueue
        self._pending: deque[_Pending] = deque()
        self._flusher: asyncio.Task[None] | None = None
        # One thread: one enqueue in flight at a time is what lets the next group form.
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="enqueue")
        self.jobs_enqueued = 0
        self.events_enqueued = 0

    async def submit(self, rows: list[dict[str, Any]], size_bytes: int) -> None:
        """Resolve once `rows` are in a job Redis acknowledged; raise what the enqueue raised."""
        pending = _Pending(rows, size_bytes)
        self._pending.append(pending)
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.create_task(self._flush())
        await asyncio.shield(pending.done)  # a client hanging up must not cancel the others' job

    def _take_group(self) -> list[_Pending]:
        group = [self._pending.popleft()]  # always at least one, however large
        events, size = len(group[0].rows), group[0].size_bytes
        while self._pending:
            nxt = self._pending[0]
            if events + len(nxt.rows) > self._settings.job_max_events:
                break
            if size + nxt.size_bytes > self._settings.job_max_bytes:
                break
            group.append(self._pending.popleft())
            events += len(nxt.rows)
            size += nxt.size_bytes
        return group

    async def _flush(self) -> None:
        loop = asyncio.get_running_loop()
        while self._pending:
            group = self._take_group()
            rows = [row for pending in group for row in pending.rows]
            started = time.perf_counter()
            try:
                await loop.run_in_executor(self._executor, self._enqueue_acknowledged, rows)
            except Exception as exc:  # every request of the group learns the enqueue failed
                for pending in group:
                    pending.done.set_exception(exc)
                    pending.done.exception()  # mark retrieved: a departed client must not log a warning
                continue
            metrics.observe_enqueue(len(rows), time.perf_counter() - started)
            self.jobs_enqueued += 1
            self.events_enqueued += len(rows)
            for pending in group:
                pending.done.set_result(None)

    def _enqueue_acknowledged(self, rows: list[dict[str, Any]]) -> None:
        self._enqueue(self._queue, rows, self._settings)
        if replicas := self._settings.redis_min_replicas_ack:
            require_replicas(self._queue.connection, replicas, self._settings.redis_replica_ack_timeout_ms)

    def close(self) -> None:
        self._executor.shutdown(wait=True)
