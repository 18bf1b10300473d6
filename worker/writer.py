"""The one seam between the workers and ClickHouse: `EventWriter.write(columns, data, token=…)`.

`data` is column-oriented, one list of values per column, as jobs carry it.
A write is idempotent per token: the table keeps a deduplication window
(`non_replicated_deduplication_window`), so a retried insert carrying the same
`insert_deduplication_token` is dropped by ClickHouse instead of stored twice. The
token must never be reused for other rows (ClickHouse would drop those silently).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from typing import Any, Protocol

from clickhouse_connect.driver.client import Client

from shared import metrics
from shared.event.times import epoch_ms as epoch_ms  # where the workers import it from
from shared.store.schema import TIME_COLUMNS

log = logging.getLogger(__name__)

Columns = Sequence[Sequence[Any]]


class Writer(Protocol):
    def write(self, columns: Sequence[str], data: Columns, *, token: str) -> int: ...


def _ticks(values: Sequence[str | None]) -> list[int | None]:
    """ISO-8601 UTC strings to DateTime64(3) ticks (ms since the epoch), which
    clickhouse-connect writes as they are instead of converting each datetime in Python.
    Memoised per column: a job's events share their receive time, often their link's dates."""
    memo: dict[str, int] = {}
    return [None if v is None else memo[v] if v in memo else memo.setdefault(v, epoch_ms(v)) for v in values]


class EventWriter:
    """Writes queue data into `<database>.events`, one insert per call."""

    def __init__(self, client: Client, database: str) -> None:
        self._client = client
        self._table = f"{database}.events"

    def write(self, columns: Sequence[str], data: Columns, *, token: str) -> int:
        rows = len(data[0]) if data else 0
        if not rows:
            return 0
        prepared = [
            _ticks(values) if name in TIME_COLUMNS else values
            for name, values in zip(columns, data, strict=True)
        ]
        started = time.perf_counter()
        self._client.insert(
            self._table,
            prepared,
            column_names=list(columns),
            column_oriented=True,
            # A backfill batch may span more months (partitions) than ClickHouse's default
            # guard of 100 per insert; the parts it makes are the same split or not.
            settings={"insert_deduplication_token": token, "max_partitions_per_insert_block": 0},
        )
        elapsed = time.perf_counter() - started
        metrics.observe_insert(rows, elapsed)
        ms = round(elapsed * 1000, 1)
        job_id = token.split(":", 1)[0]  # tokens are "<job id>:<claim digest>:<part>"
        log.info(
            "inserted %d rows in %.1f ms (job %s)",
            rows,
            ms,
            job_id,
            extra={"rows": rows, "ms": ms, "job_id": job_id},
        )
        return rows
