"""A job written straight into Redis runs only if it is `worker.jobs.insert_events(columns, data)`.

The reported attack: a JSON job (no pickle) naming `os.mkdir` ran in the worker (`Job OK`,
the directory existed). Each case forges a job as an attacker with Redis access would, runs a
real worker over a real redis-server, and checks nothing ran and the job is a dead letter."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from clickhouse_connect.driver.client import Client
from redis import Redis
from rq import Callback, Queue
from rq.job import Job
from rq.registry import FailedJobRegistry

from shared.queue.columnar import pack
from shared.queue.jobs import INSERT_EVENTS, enqueue_rows, events_queue
from shared.queue.serializer import OrjsonSerializer
from shared.settings import Settings
from shared.store.schema import EVENT_COLUMNS
from tests.support.builders import queue_row
from tests.support.workers import drain, real_writer

pytestmark = pytest.mark.integration

CALLED: list[Any] = []


def callback(*args: Any) -> None:
    """Stands for any importable function a forged job names as its callback."""
    CALLED.append(args)


class NeverWriter:
    def write(self, *args: Any, **kwargs: Any) -> int:
        raise AssertionError("a refused job reached the store")


def forge(queue: Queue, func: str, args: list[Any], **options: Any) -> Job:
    job = Job.create(func, args=args, connection=queue.connection, serializer=OrjsonSerializer, **options)
    return queue.enqueue_job(job)


def refused(redis: Redis, settings: Settings, job: Job) -> str:
    queue = events_queue(redis, settings)
    assert job.id in FailedJobRegistry(queue=queue).get_job_ids()
    assert queue.count == 0
    result = Job.fetch(job.id, connection=redis, serializer=OrjsonSerializer).latest_result()
    assert result is not None and result.exc_string is not None
    return result.exc_string


def test_a_job_naming_another_function_never_runs(
    real_redis: Redis, settings: Settings, tmp_path: Path
) -> None:
    target = tmp_path / "pwned"
    job = forge(events_queue(real_redis, settings), "os.mkdir", [str(target)])
    drain(real_redis, settings, NeverWriter())
    assert not target.exists()
    assert "'os.mkdir' is not allowed" in refused(real_redis, settings, job)


@pytest.mark.parametrize("hook", ["on_success", "on_failure", "on_stopped"])
def test_a_job_naming_a_callback_never_runs_it(real_redis: Redis, settings: Settings, hook: str) -> None:
    CALLED.clear()
    options = {hook: Callback(f"{__name__}.callback")}
    job = forge(events_queue(real_redis, settings), INSERT_EVENTS, [["event_id"], [[]]], **options)
    drain(real_redis, settings, NeverWriter())
    assert CALLED == []
    assert "callbacks are not allowed" in refused(real_redis, settings, job)


@pytest.mark.parametrize(
    ("args", "kwargs"), [([["event_id"]], {}), ([["event_id"], [[]]], {"extra": 1})]
)
def test_our_function_with_another_signature_is_refused(
    real_redis: Redis, settings: Settings, args: list[Any], kwargs: dict[str, Any]
) -> None:
    job = forge(events_queue(real_redis, settings), INSERT_EVENTS, args, kwargs=kwargs)
    drain(real_redis, settings, NeverWriter())
    assert "takes exactly (columns, data)" in refused(real_redis, settings, job)


def test_a_forged_job_queued_behind_a_good_one_is_not_merged_into_its_insert(
    real_redis: Redis, migrated: Client, settings: Settings
) -> None:
    # Merging reads the jobs queued behind the running one as data: a job naming another
    # function, even with insert-shaped arguments, is dead-lettered instead of stored.
    queue = events_queue(real_redis, settings)
    enqueue_rows(queue, [queue_row("good-1")], settings)
    forged = Job.create(
        "os.mkdir",
        args=[list(EVENT_COLUMNS), pack([queue_row("forged-1")], EVENT_COLUMNS)],
        connection=real_redis,
        serializer=OrjsonSerializer,
        id="forged-n1",
    )
    queue.enqueue_job(forged)
    drain(real_redis, settings, real_writer(migrated, settings))
    ids = migrated.query(f"SELECT event_id FROM {settings.clickhouse_database}.events").result_rows
    assert ids == [("good-1",)]
    assert forged.id in FailedJobRegistry(queue=queue).get_job_ids()
