"""Job functions RQ calls by dotted path (`shared.queue.INSERT_EVENTS`).

RQ gives a job function nothing but its arguments, so each worker thread binds its
writer here before it starts working (`bind_writer`).
"""

from __future__ import annotations

import threading
from typing import Any

from rq import get_current_job

from worker.writer import Writer

_bound = threading.local()


def bind_writer(writer: Writer) -> None:
    """Make `writer` the one this thread's jobs write through."""
    _bound.writer = writer


def insert_events(rows: list[dict[str, Any]]) -> int:
    """Store one job's rows. The job id is the deduplication token: every retry of this
    job carries the same rows and the same token, so ClickHouse stores them once."""
    writer: Writer | None = getattr(_bound, "writer", None)
    if writer is None:
        raise RuntimeError("no writer bound in this worker thread (see worker.jobs.bind_writer)")
    job = get_current_job()
    if job is None:
        raise RuntimeError("insert_events must run inside an RQ job")
    return writer.write(rows, token=job.id)
