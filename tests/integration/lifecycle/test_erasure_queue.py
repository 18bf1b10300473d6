"""Erasure reaches every place an acknowledged event can be: the store, a queued job, a job
merged into another's insert, a scheduled retry, a dead letter, a job a worker holds with its
insert in flight, and events acknowledged before the request but queued after it (real Redis,
real chDB, a real RQ worker; the runner is called here instead of from its thread)."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import pytest
from clickhouse_connect.driver.client import Client
from redis import Redis
from rq.registry import FailedJobRegistry, ScheduledJobRegistry

from shared.event.parse import RequestContext, parse_event
from shared.lifecycle.erasures import LOG, ErasureIn, ErasureStore
from shared.queue.jobs import enqueue_rows, events_queue, job_rows
from shared.queue.serializer import OrjsonSerializer
from shared.settings import Settings
from tests.support.audit import inserted, once_each
from tests.support.builders import basic_event
from tests.support.workers import FailingWriter, real_writer
from worker.jobs import JobContext, bind
from worker.lifecycle import ErasureRunner
from worker.runner import make_worker
from worker.tombstones import Tombstones
from worker.writer import Columns, Writer

pytestmark = pytest.mark.integration
SUBJECT = "alice@example.com"


def row(event_id: str, user: str, *, received: datetime | None = None, **fields: str) -> dict[str, object]:
    """A queued row of `user` (as user_id and user_email), in project p1 unless told."""
    context = RequestContext(received_at=received or datetime.now(UTC))
    fields = {"project_id": "p1", "user_email": user, **fields}
    return parse_event(basic_event(event_id=event_id, user_id=user, **fields), context)


def work(redis: Redis, settings: Settings, writer: Writer) -> None:
    """One burst of a real worker, with the writers' tombstone check as in production."""
    bind(JobContext.from_settings(writer, settings, Tombstones(redis, settings)))
    make_worker(redis, settings, in_thread=True).work(burst=True)


def erase(redis: Redis, settings: Settings, store: Client, **body: object) -> str:
    erasure = ErasureStore.for_settings(redis, settings).request(ErasureIn.model_validate(body))
    return erasure.id


def run(redis: Redis, settings: Settings, store: Client) -> ErasureRunner:
    runner = ErasureRunner(redis, settings, store)
    runner.run_open()
    return runner


def test_an_erasure_reaches_the_store_the_queue_retries_and_dead_letters(
    real_redis: Redis, migrated: Client, settings: Settings
) -> None:
    queue = events_queue(real_redis, settings)
    writer = real_writer(migrated, settings)
    enqueue_rows(queue, [row("stored-s", SUBJECT), row("stored-o", "bob")], settings)
    work(real_redis, settings, writer)

    retrying = settings.model_copy(update={"retry_intervals_seconds": [3600]})
    enqueue_rows(queue, [row("retry-s", SUBJECT), row("retry-o", "bob")], retrying)
    work(real_redis, retrying, FailingWriter(writer, 1))
    dying = settings.model_copy(update={"retry_intervals_seconds": []})
    enqueue_rows(queue, [row("dead-s", SUBJECT), row("dead-o", "carol")], dying)
    work(real_redis, dying, FailingWriter(writer, 1))
    scheduled, failed = ScheduledJobRegistry(queue=queue), FailedJobRegistry(queue=queue)
    assert (scheduled.count, failed.count) == (1, 1)
    queued = enqueue_rows(queue, [row("queued-s", SUBJECT), row("queued-o", "dave")], settings)
    only_subject = enqueue_rows(queue, [row("alone-s", SUBJECT)], settings)
    other_project = enqueue_rows(queue, [row("elsewhere-s", SUBJECT, project_id="p2")], settings)

    _register(real_redis, settings, "p1")  # scoped to p1: not p2's events
    erasure_id = erase(real_redis, settings, migrated, subject={"user_email": [SUBJECT]}, project_id="p1")
    runner = run(real_redis, settings, migrated)
    done = runner.store.get(erasure_id)
    assert done.status == "done", done
    assert (done.rows_deleted, done.queued_removed) == (1, 4)
    assert done.finished_at and done.started_at

    assert inserted(migrated, settings.clickhouse_database) == once_each(["stored-o"])
    left = {job.id: [r["event_id"] for r in job_rows(job)] for job in _jobs(real_redis, queue)}
    assert left[queued.id] == ["queued-o"] and only_subject.id not in left
    assert left[other_project.id] == ["elsewhere-s"]
    assert [left[i] for i in scheduled.get_job_ids()] == [["retry-o"]]
    assert [left[i] for i in failed.get_job_ids()] == [["dead-o"]]
    # The log holds the subject only as a keyed hash.
    assert SUBJECT.encode() not in b"".join(real_redis.hvals(LOG))
    assert not real_redis.keys("trackhouse:erasure:values:*")

    # What is left is stored once each, the retry and the dead letter included.
    for job_id in [*scheduled.get_job_ids(), *failed.get_job_ids()]:
        scheduled.remove(job_id)
        failed.remove(job_id)
        queue.enqueue_job(queue.fetch_job(job_id))
    work(real_redis, settings, writer)
    assert inserted(migrated, settings.clickhouse_database) == once_each(
        ["stored-o", "retry-o", "dead-o", "queued-o", "elsewhere-s"]
    )


def test_the_writer_refuses_what_was_acknowledged_before_the_request_and_queued_after(
    real_redis: Redis, migrated: Client, settings: Settings
) -> None:
    """The API's group commit may queue an event some milliseconds after answering it: such
    an event, and any requeued by hand later, is left out at the insert. An event received
    after the request is a new event, stored (without `suppress`)."""
    queue = events_queue(real_redis, settings)
    before = datetime.now(UTC) - timedelta(seconds=1)
    erasure_id = erase(real_redis, settings, migrated, subject={"user_id": ["u-1", "u-2"]})
    after = datetime.now(UTC) + timedelta(seconds=1)
    enqueue_rows(
        queue,
        [row("late-1", "u-1", received=before), row("late-2", "u-2", received=before), row("keep", "u-3", received=before),
         row("new-1", "u-1", received=after)],
        settings,
    )
    work(real_redis, settings, real_writer(migrated, settings))
    assert inserted(migrated, settings.clickhouse_database) == once_each(["keep", "new-1"])
    run(real_redis, settings, migrated)
    assert ErasureStore.for_settings(real_redis, settings).get(erasure_id).status == "done"


class HeldWriter:
    """Holds its first write (an insert in flight) until released."""

    def __init__(self, inner: Writer) -> None:
        self.inner = inner
        self.entered = threading.Event()
        self.release = threading.Event()

    def write(self, columns: Sequence[str], data: Columns, *, token: str) -> int:
        self.entered.set()
        assert self.release.wait(60), "never released"
        return self.inner.write(columns, data, token=token)


def test_an_insert_in_flight_when_the_erasure_arrives_does_not_bring_the_subject_back(
    real_redis: Redis, migrated: Client, settings: Settings
) -> None:
    """The worker read the tombstones before the request and is inside its insert: the runner
    waits for that job to leave the worker before it deletes, so the row it lands is deleted,
    and nobody else's event is lost."""
    queue = events_queue(real_redis, settings)
    enqueue_rows(queue, [row("held-s", SUBJECT), row("held-o", "bob")], settings)
    held = HeldWriter(real_writer(migrated, settings))
    worker = threading.Thread(target=work, args=(real_redis, settings, held))
    worker.start()
    try:
        assert held.entered.wait(60)
        erasure_id = erase(real_redis, settings, migrated, subject={"user_email": [SUBJECT]})
        runner = threading.Thread(target=run, args=(real_redis, settings, migrated))
        runner.start()
        store = ErasureStore.for_settings(real_redis, settings)
        _wait(lambda: store.get(erasure_id).status == "running")
        assert runner.is_alive() and store.get(erasure_id).status == "running"  # waiting for the held job
    finally:
        held.release.set()
        worker.join(60)
    runner.join(120)
    done = store.get(erasure_id)
    assert done.status == "done" and done.rows_deleted == 1, done
    assert inserted(migrated, settings.clickhouse_database) == once_each(["held-o"])


def _wait(condition: object, seconds: float = 30) -> None:
    import time

    deadline = time.monotonic() + seconds
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, "condition never held"
        time.sleep(0.02)


def _jobs(redis: Redis, queue: object) -> list[object]:
    from rq.job import Job

    from shared.lifecycle.erase_queue import job_ids

    return [j for j in Job.fetch_many(list(job_ids(redis)), connection=redis, serializer=OrjsonSerializer) if j]


def _register(redis: Redis, settings: Settings, project_id: str) -> None:
    from shared.registry.connect import registry_store
    from shared.registry.model import ProjectIn, TeamIn

    store = registry_store(redis, settings)
    store.create_team(TeamIn(team_id="t-erase", name="T"))
    store.create_project(ProjectIn(project_id=project_id, team_id="t-erase", name="P"))


def test_a_suppressing_erasure_refuses_later_events_until_lifted(
    real_redis: Redis, migrated: Client, settings: Settings
) -> None:
    """An API process learns of a suppression up to a poll later and may queue the subject's
    event meanwhile: the writers refuse it too. Once lifted, new events are stored again."""
    queue = events_queue(real_redis, settings)
    store = ErasureStore.for_settings(real_redis, settings)
    erasure = store.request(ErasureIn.model_validate({"subject": {"user_id": ["u-1"]}, "suppress": True}))
    enqueue_rows(queue, [row("window-1", "u-1", received=datetime.now(UTC) + timedelta(seconds=1))], settings)
    work(real_redis, settings, real_writer(migrated, settings))
    assert inserted(migrated, settings.clickhouse_database) == once_each([])
    assert erasure.suppression_id is not None
    store.lift(erasure.suppression_id)
    enqueue_rows(queue, [row("after-lift", "u-1", received=datetime.now(UTC) + timedelta(seconds=1))], settings)
    work(real_redis, settings, real_writer(migrated, settings))
    run(real_redis, settings, migrated)
    assert store.get(erasure.id).status == "done"
    assert inserted(migrated, settings.clickhouse_database) == once_each(["after-lift"])
