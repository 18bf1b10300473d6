"""Store errors become the client answers the README promises (408, 400), never a 500; a
store that cannot be opened is a 503. The messages are ClickHouse's own (as chDB raised them
here); the read-cap case also runs against real chDB in
tests/integration/api/query/test_query_keys.py."""

from __future__ import annotations

import pytest
from clickhouse_connect.driver.client import Client

from shared.query.engine import ClientEngine, translate
from shared.query.errors import QueryError, QueryTimeout, QueryTooLarge, StoreUnavailable
from shared.query.slots import one_slot
from shared.query.sql import Statement


@pytest.mark.parametrize(
    ("message", "kind", "status"),
    [
        (
            "Code: 159. DB::Exception: Timeout exceeded: elapsed 10.2 seconds. (TIMEOUT_EXCEEDED)",
            QueryTimeout,
            408,
        ),
        (
            "Code: 158. DB::Exception: Limit for rows exceeded, max rows: 1.00. (TOO_MANY_ROWS)",
            QueryTooLarge,
            400,
        ),
        ("Code: 307. DB::Exception: Limit for bytes exceeded. (TOO_MANY_BYTES)", QueryTooLarge, 400),
        (
            "Code: 241. DB::Exception: Memory limit (total) exceeded. (MEMORY_LIMIT_EXCEEDED)",
            QueryTooLarge,
            400,
        ),
        ("Code: 427. DB::Exception: OptimizedRegularExpression: cannot compile re2: ((", QueryError, 400),
    ],
)
def test_store_errors_become_client_answers(message: str, kind: type[QueryError], status: int) -> None:
    translated = translate(RuntimeError(message))
    assert type(translated) is kind
    assert isinstance(translated, QueryError) and translated.status == status


def test_other_store_errors_are_unavailable() -> None:
    translated = translate(ConnectionError("Code: 210. Connection refused"))
    assert isinstance(translated, StoreUnavailable) and translated.status == 503


def test_a_store_that_cannot_be_opened_is_unavailable() -> None:
    def refuse() -> Client:
        raise OSError("Cannot lock file status. Another server instance in same directory is already running")

    engine = ClientEngine(refuse, one_slot())
    with pytest.raises(StoreUnavailable):
        engine.rows(Statement("SELECT 1"))
    with pytest.raises(StoreUnavailable):  # the slot was given back: a second call is refused the same way
        list(engine.stream(Statement("SELECT 1"), "CSV"))
