"""Writing `parse_event` rows through trackhouse's `EventWriter`, whichever shape it takes.

The baselines reuse trackhouse's writer so they pay the same insert cost. Its signature
is `write(rows, *, token)` (row dicts) or `write(columns, data, *, token)` (column
lists, as newer jobs carry them); this adapts once per process instead of pinning one.
"""

from __future__ import annotations

import inspect
from typing import Any

from shared.store.schema import EVENT_COLUMNS
from worker.writer import EventWriter


def write_rows(writer: EventWriter, rows: list[dict[str, Any]], *, token: str) -> int:
    write: Any = writer.write
    if "columns" in inspect.signature(write).parameters:
        columns = list(EVENT_COLUMNS)
        return int(write(columns, [[row[c] for row in rows] for c in columns], token=token))
    return int(write(rows, token=token))
