"""The one seam between the workers and ClickHouse: `EventWriter.write(rows, token=…)`.

A write is idempotent per token: the table keeps a deduplication window
(`non_replicated_deduplication_window`), so a retried insert carrying the same
`insert_deduplication_token` is dropped by ClickHouse instead of stored twice. The
token must never be reused for other rows (ClickHouse would drop those silently).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from datetime import datetime
from typing import Any, Protocol

from clickhouse_connect.driver.client import Client

from shared.schema import EVENT_COLUMNS, TIME_COLUMNS

log = logging.getLogger(__name__)


class Writer(Protocol):
    def write(self, rows: Sequence[dict[str, Any]], *, token: str) -> int: ...


def _time(value: str | None) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value)


class EventWriter:
    """Writes queue rows into `<database>.events`, column-oriented, one insert per call."""

    def __init__(self, client: Client, database: str) -> None:
        self._client = client
        self._table = f"{database}.events"

    def write(self, rows: Sequence[dict[str, Any]], *, token: str) -> int:
        if not rows:
            return 0
        columns: list[list[Any]] = []
        for name in EVENT_COLUMNS:
            values = [row[name] for row in rows]
            columns.append([_time(v) for v in values] if name in TIME_COLUMNS else values)
        started = time.perf_counter()
        self._client.insert(
            self._table,
            columns,
            column_names=list(EVENT_COLUMNS),
            column_oriented=True,
            settings={"insert_deduplication_token": token},
        )
        log.info(
            "inserted %d rows in %.1f ms (token %s)", len(rows), (time.perf_counter() - started) * 1000, token
        )
        return len(rows)
