"""The one seam for "run a read query": `ReadEngine`. Today `ClientEngine` runs it on
clickhouse-connect clients in this process (chDB in the embedded topology, where the engine
lives; a ClickHouse server otherwise); moving the engine elsewhere means another ReadEngine.

Calls block: callers run them off the event loop. Each call holds one client of a small pool
for its duration (a chDB client serialises its calls, and a stream holds it until closed),
and one slot of its kind (shared.query.slots: queries and exports apart, per tenant, a
bounded wait). `ping` takes neither: a readiness probe never queues behind reads.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import queue
import re
import threading
from collections.abc import Callable, Generator, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import IO, Any, Protocol, cast

from clickhouse_connect.driver.client import Client

from shared.query.errors import QueryError, QueryTimeout, QueryTooLarge, StoreUnavailable
from shared.query.parquet import parquet_chunks
from shared.query.slots import Kind, ReadSlots
from shared.query.sql import AnswerTooLarge, Statement

_CODE = re.compile(r"Code: (\d+)")
_TOO_LARGE = {158, 307, 241}  # TOO_MANY_ROWS, TOO_MANY_BYTES, MEMORY_LIMIT_EXCEEDED
_ANSWER_TOO_LARGE = {396}  # TOO_MANY_ROWS_OR_BYTES: only the result limits (max_result_bytes) raise it
_TIMEOUT = {159}  # TIMEOUT_EXCEEDED
_BAD_REGEXP = {427}  # CANNOT_COMPILE_REGEXP
_BAD_TIMEZONE = {1000}  # POCO_EXCEPTION: an unknown zone in ClickHouse's own tz data


class ReadEngine(Protocol):
    def rows(self, statement: Statement) -> Sequence[Sequence[Any]]:
        """Every row of a (small, aggregated) result."""
        ...

    def stream(self, statement: Statement, fmt: str) -> Generator[bytes, None, None]:
        """The result in ClickHouse format `fmt`, in chunks, never held whole. Close the
        iterator (or exhaust it) to release the engine."""
        ...

    def ping(self) -> bool:
        """Whether the store answers, without taking a read slot."""
        ...


@dataclass(frozen=True, slots=True)
class TenantEngine:
    """An engine as one tenant reads through it: every statement carries the tenant, which the
    engine's slots cap (shared.query.slots)."""

    engine: ReadEngine
    tenant: str | None

    def rows(self, statement: Statement) -> Sequence[Sequence[Any]]:
        return self.engine.rows(dataclasses.replace(statement, tenant=self.tenant))

    def stream(self, statement: Statement, fmt: str) -> Generator[bytes, None, None]:
        return self.engine.stream(dataclasses.replace(statement, tenant=self.tenant), fmt)

    def ping(self) -> bool:
        return self.engine.ping()


def translate(exc: Exception) -> Exception:
    """A store error as the client error it stands for, or StoreUnavailable."""
    match = _CODE.search(str(exc))
    code = int(match[1]) if match else None
    if code in _TIMEOUT:
        return QueryTimeout("query", "took longer than QUERY_TIMEOUT_SECONDS: narrow the range or filters")
    if code in _ANSWER_TOO_LARGE:
        return AnswerTooLarge("query", "the answer is over QUERY_MAX_ANSWER_BYTES: ask for fewer rows or dimensions")
    if code in _TOO_LARGE:
        return QueryTooLarge("query", "reads more than the configured caps: narrow the range or filters")
    if code in _BAD_REGEXP:
        return QueryError("filters", "not a valid re2 regular expression")
    if code in _BAD_TIMEZONE:
        return QueryError("timezone", "unknown to the store")
    return StoreUnavailable(f"store unavailable ({type(exc).__name__}{f', code {code}' if code else ''})")


class ClientEngine:
    def __init__(self, open_client: Callable[[], Client], slots: ReadSlots) -> None:
        self._open = open_client
        self._idle: queue.LifoQueue[Client] = queue.LifoQueue()
        self._slots = slots
        self._probe: Client | None = None
        self._probe_lock = threading.Lock()

    def _opened(self) -> Client:
        try:
            return self._open()
        except Exception as exc:
            raise StoreUnavailable(f"store unavailable ({type(exc).__name__})") from exc

    @contextmanager
    def _client(self, kind: Kind, statement: Statement) -> Iterator[Client]:
        with self._slots.hold(kind, statement.tenant):
            try:
                client = self._idle.get_nowait()
            except queue.Empty:
                client = self._opened()
            try:
                yield client
            finally:
                self._idle.put(client)

    def ping(self) -> bool:
        with self._probe_lock:  # its own client: never one a read holds
            try:
                if self._probe is None:
                    self._probe = self._opened()
                return self._probe.ping()
            except Exception:
                return False

    def rows(self, statement: Statement) -> Sequence[Sequence[Any]]:
        with self._client("rows", statement) as client:
            try:
                return client.query(statement.sql, parameters=statement.parameters).result_rows
            except Exception as exc:
                raise translate(exc) from exc

    def stream(self, statement: Statement, fmt: str) -> Generator[bytes, None, None]:
        if fmt == "Parquet" and _has_pyarrow():
            yield from self._parquet(statement)
            return
        with self._client("stream", statement) as client:
            try:
                source = cast(
                    IO[bytes], client.raw_stream(statement.sql, parameters=statement.parameters, fmt=fmt)
                )
            except Exception as exc:
                raise translate(exc) from exc
            try:
                while chunk := source.read(1 << 16):
                    yield chunk
            except Exception as exc:
                raise translate(exc) from exc
            finally:
                source.close()

    def _parquet(self, statement: Statement) -> Generator[bytes, None, None]:
        with self._client("stream", statement) as client:
            try:
                with client.query_column_block_stream(
                    statement.sql, parameters=statement.parameters
                ) as blocks:
                    yield from parquet_chunks(statement.columns, blocks)
            except (QueryError, StoreUnavailable):
                raise
            except Exception as exc:
                raise translate(exc) from exc


def _has_pyarrow() -> bool:
    return importlib.util.find_spec("pyarrow") is not None
