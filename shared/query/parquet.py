"""Parquet, written row group by row group from the store's column blocks, so an export never
holds the whole result: chDB streams only formats without a footer, and Parquet has one.
Needs pyarrow (installed with chDB, the embedded extra)."""

from __future__ import annotations

import io
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from shared.store.schema import BOOL_COLUMNS, TIME_COLUMNS

_FLOATS = {"time_spent_sec", "conversion_value"}
_BOOLS = set(BOOL_COLUMNS)


def _schema(columns: Sequence[str]) -> Any:
    import pyarrow as pa

    def field(name: str) -> Any:
        if name in TIME_COLUMNS or name == "inserted_at":
            return pa.field(name, pa.timestamp("ms", tz="UTC"))
        if name == "link_tags":
            return pa.field(name, pa.list_(pa.string()))
        if name in _FLOATS:
            return pa.field(name, pa.float64())
        if name in _BOOLS:
            return pa.field(name, pa.bool_())
        return pa.field(name, pa.string())

    return pa.schema([field(name) for name in columns])


class _Sink(io.RawIOBase):
    """Collects what the writer wrote since the last `take`."""

    def __init__(self) -> None:
        self._parts: list[bytes] = []

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        self._parts.append(bytes(data))
        return len(data)

    def take(self) -> bytes:
        out, self._parts = b"".join(self._parts), []
        return out


def parquet_chunks(columns: Sequence[str], blocks: Iterable[Sequence[Sequence[Any]]]) -> Iterator[bytes]:
    """`blocks`: column-oriented blocks (one list per column, in `columns` order)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    schema = _schema(columns)
    sink = _Sink()
    with pq.ParquetWriter(sink, schema, compression="zstd") as writer:
        for block in blocks:
            writer.write_batch(pa.record_batch(list(block), schema=schema))
            if chunk := sink.take():
                yield chunk
    if chunk := sink.take():
        yield chunk
