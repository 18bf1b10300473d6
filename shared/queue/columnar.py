"""The queue's column-oriented payload: one entry per column, as ClickHouse takes them.

An entry is the column's list of values, or, when every event of the job holds the same
value (absent fields, the request's receive time, a batch's shared project), the value
once: `{"repeat": n, "value": v}`. Workers decode every queued value, so values that
travel once are decoded once; the API compresses less, and Redis holds less.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

Entry = list[Any] | dict[str, Any]


def pack(rows: Sequence[dict[str, Any]], columns: Sequence[str]) -> list[Entry]:
    """Rows (mappings) to one entry per column of `columns`, in that order."""
    count = len(rows)
    keys = tuple(columns)
    if all(tuple(row) == keys for row in rows):  # rows in column order: transpose in C
        transposed = zip(*(row.values() for row in rows), strict=True)
    else:
        transposed = zip(*([row[column] for column in columns] for row in rows), strict=True)
    entries: list[Entry] = []
    for values in map(list, transposed):
        if count > 1 and values.count(values[0]) == count:  # one C-level scan
            entries.append({"repeat": count, "value": values[0]})
        else:
            entries.append(values)
    return entries


def unpack(entry: Entry) -> list[Any]:
    if isinstance(entry, dict):
        return [entry["value"]] * int(entry["repeat"])
    return entry
