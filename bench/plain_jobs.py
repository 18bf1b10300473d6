"""The plain design's job function: one EventWriter insert per job (one event), token = job id.

RQ hands a job function only its arguments, so bench/plain_worker.py binds the writer here
before it starts working.
"""

from __future__ import annotations

from typing import Any

from rq import get_current_job

from bench.rows import write_rows
from worker.writer import EventWriter

INSERT_EVENT = "bench.plain_jobs.insert_event"
_writer: EventWriter | None = None


def bind(writer: EventWriter) -> None:
    global _writer
    _writer = writer


def insert_event(row: dict[str, Any]) -> int:
    job = get_current_job()
    if _writer is None or job is None:
        raise RuntimeError("insert_event must run in bench.plain_worker")
    return write_rows(_writer, [row], token=job.id)
