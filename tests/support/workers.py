"""Running a real RQ worker in the test process, and writers with injected faults.

Fault writers wrap the real EventWriter at the writer seam: the store stays real."""

from __future__ import annotations

from collections.abc import Sequence

from clickhouse_connect.driver.client import Client
from redis import Redis

from shared.settings import Settings
from worker.jobs import JobContext, bind
from worker.runner import make_worker
from worker.writer import Columns, EventWriter, Writer


def drain(redis: Redis, settings: Settings, writer: Writer) -> None:
    """Work the queue until it is empty (retries with interval 0 come straight back)."""
    bind(JobContext.from_settings(writer, settings))
    make_worker(redis, settings, in_thread=True).work(burst=True)


class StoreDown(ConnectionError):
    pass


class FailingWriter:
    """Fails the first `failures` writes before (or, with `after_insert`, after) writing."""

    def __init__(self, inner: Writer, failures: int, *, after_insert: bool = False) -> None:
        self.inner = inner
        self.failures = failures
        self.after_insert = after_insert
        self.calls = 0

    def write(self, columns: Sequence[str], data: Columns, *, token: str) -> int:
        self.calls += 1
        if self.calls > self.failures:
            return self.inner.write(columns, data, token=token)
        if self.after_insert:  # stored, but the acknowledgement is lost: the job will retry
            self.inner.write(columns, data, token=token)
        raise StoreDown(f"injected store failure #{self.calls}")


def real_writer(store: Client, settings: Settings) -> EventWriter:
    return EventWriter(store, settings.clickhouse_database)


def count_rows(store: Client, settings: Settings, *, final: bool = False) -> int:
    """Rows of the test's events table: every insert that landed (its merges are frozen, see
    tests.support.audit), or, with `final`, rows as reads see them. Per id: audit.inserted."""
    table = f"{settings.clickhouse_database}.events{' FINAL' if final else ''}"
    return int(str(store.command(f"SELECT count() FROM {table}")))
