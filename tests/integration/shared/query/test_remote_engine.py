"""Reads through the store socket (RemoteEngine → socket_server → ClientEngine on real chDB)
give what the engine gives in-process: the same rows and types, the same bytes, the same
errors; a reader that hangs up gives the engine back; no store process is a 503, not a hang."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import uvicorn

from shared.query.engine import ClientEngine
from shared.query.errors import QueryError, StoreUnavailable
from shared.query.slots import one_slot
from shared.query.sql import Statement
from shared.store.client import open_client
from shared.store_process.remote import RemoteEngine
from shared.store_process.socket_server import prepare_socket, read_app
from tests.support.markers import server_fixture
from tests.support.processes import wait_for

pytestmark = pytest.mark.integration

TYPED = Statement(
    "SELECT toDateTime64('2026-01-02 03:04:05.678', 3, 'UTC') AS t, toDate('2299-12-31') AS d, "
    "[{a:String}, 'b'] AS arr, CAST(NULL AS Nullable(String)) AS n, 'é\"<x>' AS s, 42 AS i, 1.5 AS f, "
    "{since:DateTime64(3)} AS p, has({vs:Array(String)}, 'y') AS h",
    {"a": "a'; DROP TABLE x --", "since": "2026-01-01 00:00:00.000", "vs": ["x", "y"]},
)


@server_fixture("integration")
def engines(short_dir: Path, chdb_url: str) -> Iterator[tuple[ClientEngine, RemoteEngine]]:
    # A client per slot, as the store process opens them; one slot of each kind: a leaked one
    # makes the next read of its kind QueryBusy.
    local = ClientEngine(lambda: open_client(chdb_url), one_slot())
    path = prepare_socket(short_dir / "run")
    server = uvicorn.Server(uvicorn.Config(read_app(local, stream_seconds=60, idle_seconds=30), uds=str(path), log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    remote = RemoteEngine(path, timeout_seconds=30)
    wait_for(remote.ping, timeout_seconds=30, what="the read socket")
    yield local, remote
    server.should_exit = True
    thread.join(timeout=10)


def test_rows_and_their_types_are_the_engines(engines: tuple[ClientEngine, RemoteEngine]) -> None:
    local, remote = engines
    expected = [list(row) for row in local.rows(TYPED)]
    got = remote.rows(TYPED)
    assert got == expected and [type(v) for v in got[0]] == [type(v) for v in expected[0]]


def test_a_stream_is_the_same_bytes(engines: tuple[ClientEngine, RemoteEngine]) -> None:
    local, remote = engines
    statement = Statement("SELECT number, toString(number * 7) FROM numbers(200000)")
    assert b"".join(remote.stream(statement, "CSVWithNames")) == b"".join(
        local.stream(statement, "CSVWithNames")
    )


def test_a_query_error_keeps_its_class_and_field(engines: tuple[ClientEngine, RemoteEngine]) -> None:
    _, remote = engines
    bad = Statement("SELECT match('x', {p:String})", {"p": "(("})
    with pytest.raises(QueryError) as raised:
        remote.rows(bad)
    assert raised.value.field == "filters"
    with pytest.raises(QueryError):
        list(remote.stream(bad, "CSV"))


def test_a_reader_that_hangs_up_gives_the_engine_back(engines: tuple[ClientEngine, RemoteEngine]) -> None:
    _, remote = engines
    for _ in range(3):  # with one export slot, any leak would make the next stream busy
        chunks = remote.stream(Statement("SELECT number FROM numbers(50000000)"), "CSV")
        assert next(chunks)
        chunks.close()
        assert b"".join(wait_for_stream(remote)) == b"1\n"
        assert remote.rows(Statement("SELECT 1")) == [[1]]


def wait_for_stream(remote: RemoteEngine) -> list[bytes]:
    """The next stream, once the store has closed the one hung up on (it notices the hang-up
    at its next write): within the slot wait, never QueryBusy."""
    return list(remote.stream(Statement("SELECT 1"), "CSV"))


def test_no_store_process_is_unavailable(short_dir: Path) -> None:
    remote = RemoteEngine(short_dir / "nobody.sock", timeout_seconds=5)
    assert not remote.ping()
    with pytest.raises(StoreUnavailable):
        remote.rows(Statement("SELECT 1"))
    with pytest.raises(StoreUnavailable):
        list(remote.stream(Statement("SELECT 1"), "CSV"))
