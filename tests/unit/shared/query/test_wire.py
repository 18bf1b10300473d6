"""What crosses the store socket comes back as what was sent: values, types, error classes."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone

import pytest

from shared.query.errors import QueryBusy, QueryError, QueryTimeout, QueryTooLarge, StoreUnavailable
from shared.query.sql import Statement
from shared.store_process import wire


def test_rows_keep_their_types() -> None:
    rows = [
        [datetime(2026, 1, 2, 3, 4, 5, 678000, tzinfo=UTC), date(2026, 1, 2), None, "x", 42, 1.5],
        [datetime(1901, 12, 31, 23, 59), date(2299, 12, 31), ["a", "b"], "", -1, 0.0],
        [datetime(2026, 6, 1, 12, tzinfo=timezone(timedelta(hours=-5))), {"k": [1, 2]}, [], "é", 0, -2.25],
    ]
    back = wire.loads(wire.dumps(rows))
    assert back == rows
    assert [type(v) for v in back[1]] == [type(v) for v in rows[1]]
    assert back[2][0].utcoffset() == timedelta(hours=-5)


def test_a_statement_and_its_format_cross_whole() -> None:
    statement = Statement(
        "SELECT {a:String} WHERE t >= {_start:DateTime64(3)} AND has({fv0:Array(String)}, x)",
        {"a": "{'$datetime': 'no'}", "_start": datetime(2026, 1, 1, tzinfo=UTC), "fv0": ["a", "$date"]},
        ("a", "b"),
    )
    assert wire.statement_from_wire(wire.statement_to_wire(statement, "Parquet")) == (statement, "Parquet")


@pytest.mark.parametrize(
    "exc",
    [
        QueryError("filters", "not a valid re2 regular expression"),
        QueryTooLarge("query", "reads more than the configured caps"),
        QueryTimeout("query", "took longer than QUERY_TIMEOUT_SECONDS"),
        QueryBusy("query", "no slot"),
        StoreUnavailable("store unavailable (OperationalError)"),
    ],
)
def test_errors_come_back_as_the_same_answer(exc: QueryError | StoreUnavailable) -> None:
    back = wire.error_from_wire(wire.error_to_wire(exc))
    assert type(back) is type(exc) and str(back) == str(exc) and back.status == exc.status


@pytest.mark.parametrize("garbage", [b"Internal Server Error", b"{}", b'{"kind": "QueryError"}', b"[1]"])
def test_an_unreadable_error_is_the_store_being_unavailable(garbage: bytes) -> None:
    assert isinstance(wire.error_from_wire(garbage), StoreUnavailable)
