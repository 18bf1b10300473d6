"""Poison events: the few a write rejects for their data must not hold back their batch.

An insert that fails because of a value in it (the driver cannot serialise it, or the server
says the data is malformed) fails the same way on every retry. So the batch is split in
halves and each half written again, down to the single events that still fail; those go to
the FailedJobRegistry as a job of their own, with the error as its reason, and the rest is
stored. Each half carries a token derived from its place in the batch, so a later attempt of
the job (after a crash) splits the same way and ClickHouse drops the halves already stored.

Faults of the store itself (refused connections, timeouts, memory, too many parts) are not
data errors: they propagate, and RQ retries the whole job with backoff.
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from clickhouse_connect.driver.exceptions import DatabaseError, DataError
from rq import Queue
from rq.job import Job, JobStatus
from rq.registry import FailedJobRegistry
from rq.results import Result

from shared import metrics
from shared.queue.jobs import INSERT_EVENTS
from shared.queue.serializer import OrjsonSerializer
from worker.writer import Writer

log = logging.getLogger(__name__)

MAX_POISON_PER_JOB = 64
"""More rejected events than this in one job is not a few bad events but a fault (a schema
out of step, a bug): the job fails whole and RQ retries it, instead of splitting every row."""

# ClickHouse error codes that name the data, not the server: CANNOT_PARSE_TEXT,
# CANNOT_PARSE_QUOTED_STRING, CANNOT_PARSE_INPUT_ASSERTION_FAILED, CANNOT_PARSE_DATE,
# CANNOT_PARSE_DATETIME, TYPE_MISMATCH, ARGUMENT_OUT_OF_BOUND, CANNOT_CONVERT_TYPE,
# CANNOT_PARSE_NUMBER, INCORRECT_DATA, CANNOT_READ_ARRAY_FROM_TEXT, TOO_LARGE_STRING_SIZE,
# VALUE_IS_OUT_OF_RANGE_OF_DATA_TYPE, CANNOT_INSERT_NULL_IN_ORDINARY_COLUMN.
_DATA_ERROR_CODES = frozenset({6, 26, 27, 38, 41, 53, 69, 70, 72, 117, 130, 131, 321, 349})
_CODE = re.compile(r"\bCode:\s*(\d+)")


def is_data_error(error: BaseException) -> bool:
    """True when `error` is about the rows written, so writing them again cannot help."""
    if isinstance(error, DataError):  # the driver refused a value (e.g. None in a non-Nullable column)
        return True
    if isinstance(error, DatabaseError):
        match = _CODE.search(str(error))
        return match is not None and int(match[1]) in _DATA_ERROR_CODES
    # Raised while the driver serialises a value of the wrong type or range.
    return isinstance(error, ValueError | TypeError | AttributeError | OverflowError)


class TooManyPoisonEvents(Exception):
    pass


@dataclass(slots=True)
class Rejected:
    """Events a write rejected, one list of values per column, with the first error."""

    columns: Sequence[str]
    data: list[list[Any]] = field(default_factory=list)
    error: str = ""

    def add(self, row: list[Any], error: BaseException) -> None:
        if not self.data:
            self.data = [[] for _ in self.columns]
            self.error = f"{type(error).__name__}: {error}"
        for values, value in zip(self.data, row, strict=True):
            values.append(value)

    @property
    def count(self) -> int:
        return len(self.data[0]) if self.data else 0


def _slice(data: Sequence[Sequence[Any]], start: int, stop: int) -> list[list[Any]]:
    return [list(values[start:stop]) for values in data]


def write_isolating(
    writer: Writer, columns: Sequence[str], data: Sequence[Sequence[Any]], *, token: str
) -> tuple[int, Rejected]:
    """Write `data`; rows rejected for their data are returned instead of failing the rest."""
    rejected = Rejected(columns)
    stored = _write(writer, columns, data, token, rejected)
    return stored, rejected


def _write(
    writer: Writer, columns: Sequence[str], data: Sequence[Sequence[Any]], token: str, rejected: Rejected
) -> int:
    try:
        return writer.write(columns, data, token=token)
    except Exception as error:
        if not is_data_error(error):
            raise
        rows = len(data[0])
        if rows == 1:
            if rejected.count >= MAX_POISON_PER_JOB:
                raise TooManyPoisonEvents(
                    f"more than {MAX_POISON_PER_JOB} events rejected in one job; first: {rejected.error}"
                ) from error
            rejected.add([values[0] for values in data], error)
            return 0
        half = rows // 2
        return _write(writer, columns, _slice(data, 0, half), f"{token}/0", rejected) + _write(
            writer, columns, _slice(data, half, rows), f"{token}/1", rejected
        )


def dead_letter(queue: Queue, rejected: Rejected, *, token: str, failure_ttl: int) -> Job:
    """The rejected events as one failed job (listed by `trackhouse failed` and rq-dashboard,
    requeued or purged like any other). Its id comes from `token`: a repeated attempt of the
    job that found them writes the same letter again instead of a second one."""
    digest = hashlib.blake2b(token.encode(), digest_size=16).hexdigest()
    reason = f"trackhouse: ClickHouse rejected {rejected.count} event(s): {rejected.error}"
    job = Job.create(
        INSERT_EVENTS,
        args=(list(rejected.columns), rejected.data),  # one list per column: the queue's format
        connection=queue.connection,
        serializer=OrjsonSerializer,
        id=f"poison{digest}-n{rejected.count}",
        origin=queue.name,
        description=f"rejected {rejected.count} event(s)",  # a count: never client text (XSS)
        failure_ttl=failure_ttl,
        meta={"rejected_by": token.split(":", 1)[0], "reason": reason},
    )
    now = datetime.now(UTC)
    job.ended_at = now
    with queue.connection.pipeline() as pipe:
        job.set_status(JobStatus.FAILED, pipeline=pipe)
        FailedJobRegistry(queue=queue).add(job, ttl=failure_ttl, exc_string=reason, pipeline=pipe)
        Result.create_failure(job, failure_ttl, reason, pipeline=pipe, execution_ended_at=now)
        pipe.execute()
    metrics.EVENTS_REJECTED_BY_STORE.inc(rejected.count)
    log.warning("%s; dead-lettered as %s", reason, job.id, extra={"job_id": job.id})
    return job
