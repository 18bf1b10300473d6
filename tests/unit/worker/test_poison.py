"""Splitting rejected events out of a batch (worker.poison), against a scripted writer."""

from __future__ import annotations

from collections.abc import Sequence

import pytest
from clickhouse_connect.driver.exceptions import DatabaseError, DataError, OperationalError

from worker import poison
from worker.writer import Columns

COLUMNS = ("event_id", "value")


class RejectingWriter:
    """Stores rows in memory; a write holding a row whose value is "bad" fails like the driver."""

    def __init__(self) -> None:
        self.stored: dict[str, list[str]] = {}
        self.tokens: list[str] = []

    def write(self, columns: Sequence[str], data: Columns, *, token: str) -> int:
        self.tokens.append(token)
        if "bad" in data[1]:
            raise ValueError("could not convert string to float: 'bad'")
        if token not in self.stored:  # ClickHouse drops a repeated token
            self.stored[token] = list(data[0])
        return len(data[0])


def batch(values: list[str]) -> list[list[str]]:
    return [[f"e{i}" for i in range(len(values))], values]


def stored_ids(writer: RejectingWriter) -> list[str]:
    return sorted(event_id for ids in writer.stored.values() for event_id in ids)


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (ValueError("could not convert"), True),
        (TypeError("bad operand"), True),
        (DataError("Invalid None value in non-Nullable column"), True),
        (DatabaseError("Code: 53. DB::Exception: Type mismatch"), True),
        (DatabaseError("Code: 241. DB::Exception: Memory limit exceeded"), False),
        (DatabaseError("Code: 252. DB::Exception: Too many parts"), False),
        (OperationalError("Error HTTPConnectionPool: connection refused"), False),
        (ConnectionError("store down"), False),
        (TimeoutError(), False),
    ],
)
def test_only_errors_about_the_data_count_as_poison(error: Exception, expected: bool) -> None:
    assert poison.is_data_error(error) is expected


def test_a_clean_batch_is_one_write() -> None:
    writer = RejectingWriter()
    stored, rejected = poison.write_isolating(writer, COLUMNS, batch(["1", "2", "3"]), token="t")
    assert (stored, rejected.count, writer.tokens) == (3, 0, ["t"])


def test_the_poison_events_are_split_out_and_the_rest_stored() -> None:
    values = ["1"] * 100
    values[17] = values[80] = "bad"
    writer = RejectingWriter()
    stored, rejected = poison.write_isolating(writer, COLUMNS, batch(values), token="t")
    assert stored == 98
    assert rejected.data[0] == ["e17", "e80"]
    assert rejected.error == "ValueError: could not convert string to float: 'bad'"
    assert stored_ids(writer) == sorted(f"e{i}" for i in range(100) if i not in (17, 80))
    assert len(writer.tokens) < 30  # halving: about 2 log2(100) writes per poison event, not 100


def test_a_repeated_attempt_splits_the_same_way_so_nothing_is_stored_twice() -> None:
    values = ["1"] * 40
    values[5] = "bad"
    writer = RejectingWriter()
    poison.write_isolating(writer, COLUMNS, batch(values), token="t")
    first = list(writer.tokens)
    writer.tokens.clear()
    stored, _ = poison.write_isolating(writer, COLUMNS, batch(values), token="t")
    assert writer.tokens == first  # same halves, same tokens: ClickHouse drops the repeats
    assert len(stored_ids(writer)) == 39


def test_a_store_fault_is_not_split_but_raised_for_rq_to_retry() -> None:
    class DownWriter:
        calls = 0

        def write(self, columns: Sequence[str], data: Columns, *, token: str) -> int:
            self.calls += 1
            raise OperationalError("connection refused")

    writer = DownWriter()
    with pytest.raises(OperationalError):
        poison.write_isolating(writer, COLUMNS, batch(["1"] * 10), token="t")
    assert writer.calls == 1


def test_a_batch_rejected_whole_fails_the_job_instead_of_splitting_every_row() -> None:
    writer = RejectingWriter()
    with pytest.raises(poison.TooManyPoisonEvents):
        poison.write_isolating(writer, COLUMNS, batch(["bad"] * 1000), token="t")
    assert len(writer.tokens) < 400  # stopped after MAX_POISON_PER_JOB events, not 2,000 writes
