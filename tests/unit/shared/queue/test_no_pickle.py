"""No pickle anywhere: a job whose payload is a pickle is refused by the worker without being
unpickled, so whoever can write to Redis cannot run code in the workers that way.

The payload is live: unpickling it creates a marker file (checked below with pickle itself).
RQ's default serializer is pickle, so a job queued through a plain `rq.Queue` is exactly what
an attacker, or a stray producer, would push onto trackhouse's queue."""

from __future__ import annotations

import ast
import pickle
import uuid
import zlib
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

import pytest
from redis import Redis
from rq import Queue
from rq.job import Job, JobStatus
from rq.registry import FailedJobRegistry

from shared.event.parse import RequestContext, parse_event
from shared.queue.jobs import INSERT_EVENTS, enqueue_rows, events_queue
from shared.queue.serializer import OrjsonSerializer
from shared.settings import Settings
from tests.support.builders import basic_event
from tests.support.workers import drain
from worker.runner import SchedulerThread, make_worker
from worker.writer import Columns

ROOT = Path(__file__).parents[4]


class Exploit:
    """Unpickling this opens (creates) `marker`: arbitrary code, harmlessly."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, tuple[str, str]]:
        return (open, (str(self.marker), "w"))


class RecordingWriter:
    def __init__(self) -> None:
        self.rows = 0

    def write(self, columns: Sequence[str], data: Columns, *, token: str) -> int:
        self.rows += len(data[0])
        return len(data[0])


@pytest.fixture
def marker(short_dir: Path) -> Path:
    return short_dir / "unpickled"


def test_the_payload_is_live(marker: Path) -> None:
    pickle.loads(pickle.dumps(Exploit(marker)))  # what RQ's default serializer would do
    assert marker.exists()


def queue_pickled_job(redis: Redis, settings: Settings, marker: Path, job_id: str | None = None) -> Job:
    # RQ's default serializer: the job hash's `data` is zlib(pickle((func, None, args, kwargs))).
    job = Queue(settings.queue_name, connection=redis).enqueue(INSERT_EVENTS, Exploit(marker), job_id=job_id)
    assert zlib.decompress(redis.hget(f"rq:job:{job.id}", "data")).startswith(b"\x80")  # type: ignore[arg-type]
    return job


def failed_ids(redis: Redis, settings: Settings) -> list[str]:
    return FailedJobRegistry(settings.queue_name, connection=redis, serializer=OrjsonSerializer).get_job_ids()


def test_worker_refuses_a_pickled_job(fake_redis: Redis, settings: Settings, marker: Path) -> None:
    job = queue_pickled_job(fake_redis, settings, marker)
    writer = RecordingWriter()
    drain(fake_redis, settings, writer)
    assert not marker.exists()
    assert writer.rows == 0
    assert failed_ids(fake_redis, settings) == [job.id]  # a dead letter, not a retry loop
    fetched = Job.fetch(job.id, connection=fake_redis, serializer=OrjsonSerializer)
    assert fetched.get_status() == JobStatus.FAILED
    result = fetched.latest_result()
    assert result is not None and "DeserializationError" in (result.exc_string or "")


@pytest.mark.integration
def test_a_pickled_meta_is_not_unpickled(real_redis: Redis, settings: Settings, marker: Path) -> None:
    # RQ reads `meta` with the job's serializer too. (The job runs: worker.merge needs real Lua.)
    rows = [parse_event(basic_event(), RequestContext(received_at=datetime.now(UTC)))]
    job = enqueue_rows(events_queue(real_redis, settings), rows, settings)
    real_redis.hset(f"rq:job:{job.id}", "meta", pickle.dumps({"note": Exploit(marker)}))
    writer = RecordingWriter()
    drain(real_redis, settings, writer)
    assert not marker.exists()
    assert writer.rows == 1  # the job's own data is fine: it is stored


@pytest.mark.integration
def test_a_pickled_job_merged_behind_a_good_one_is_not_unpickled(
    real_redis: Redis, settings: Settings, marker: Path
) -> None:
    # The worker running the good job claims the jobs queued behind it (worker.merge, Lua: a
    # real Redis) and reads their data: the pickled one must not be unpickled there either.
    rows = [parse_event(basic_event(), RequestContext(received_at=datetime.now(UTC)))]
    enqueue_rows(events_queue(real_redis, settings), rows, settings)
    queue_pickled_job(real_redis, settings, marker, job_id=f"{uuid.uuid4().hex}-n1")
    drain(real_redis, settings, RecordingWriter())
    assert not marker.exists()


@pytest.mark.integration
def test_a_pickled_job_behind_a_good_one_does_not_take_it_down(
    real_redis: Redis, settings: Settings, marker: Path
) -> None:
    rows = [parse_event(basic_event(), RequestContext(received_at=datetime.now(UTC)))]
    enqueue_rows(events_queue(real_redis, settings), rows, settings)
    queue_pickled_job(real_redis, settings, marker, job_id=f"{uuid.uuid4().hex}-n1")
    writer = RecordingWriter()
    drain(real_redis, settings, writer)
    assert writer.rows == 1


def test_every_rq_object_uses_the_json_serializer(fake_redis: Redis, settings: Settings) -> None:
    assert events_queue(fake_redis, settings).serializer is OrjsonSerializer
    assert make_worker(fake_redis, settings, in_thread=True).serializer is OrjsonSerializer
    assert SchedulerThread(fake_redis, settings)._scheduler.serializer is OrjsonSerializer


PICKLE_MODULES = {"pickle", "cPickle", "_pickle", "dill", "cloudpickle", "shelve", "marshal", "jsonpickle"}


@pytest.mark.parametrize("package", ["api", "worker", "shared", "cli"])
def test_no_module_imports_pickle_or_a_pickling_serializer(package: str) -> None:
    for path in sorted((ROOT / package).rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [node.module or "", *(f"{node.module}.{alias.name}" for alias in node.names)]
            for name in names:
                assert name.split(".")[0] not in PICKLE_MODULES, f"{path}: imports {name}"
                # RQ's pickle-based serializers, by name.
                assert name not in {"rq.serializers.DefaultSerializer", "rq.serializers.PickleSerializer"}, (
                    f"{path}: imports {name}"
                )
