"""The RQ internals worker/runner.py depends on, one test (or more) per item of the list in its
docstring: an RQ upgrade that renames, re-signs or changes one of them fails here, naming it,
instead of breaking retries, stops or recovery in production.

Signatures are compared without annotations (RQ's are strings that may be reworded). Most
behaviour runs on fakeredis; the scheduler's locks are Lua scripts, so that test needs a real
redis-server."""

# RQ's methods are not annotated.
# mypy: disable-error-code="no-untyped-call"

from __future__ import annotations

import inspect
import os
import signal
import textwrap
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any, cast

import fakeredis
import pytest
from redis import Redis
from rq import Queue, Retry
from rq.command import handle_shutdown_command
from rq.exceptions import StopRequested
from rq.executions import Execution, ExecutionRegistry
from rq.job import Job, JobStatus
from rq.scheduler import RQScheduler
from rq.timeouts import TimerDeathPenalty
from rq.worker import BaseWorker, SimpleWorker, WorkerStatus

from shared.queue.serializer import OrjsonSerializer
from worker.runner import EventWorker


def fail() -> None:
    """A job that raises (enqueued by its dotted name)."""
    raise ValueError("boom")


def succeed() -> str:
    return "ok"


def shape(function: Callable[..., Any]) -> str:
    """A signature without its annotations: names, kinds and defaults."""
    signature = inspect.signature(function)
    parameters = [p.replace(annotation=inspect.Parameter.empty) for p in signature.parameters.values()]
    return str(signature.replace(parameters=parameters, return_annotation=inspect.Signature.empty))


OVERRIDDEN = {
    "execute_job": "(self, job, queue)",
    "dequeue_job_and_maintain_ttl": "(self, timeout, max_idle_time=None)",
    "handle_exception": "(self, job, *exc_info)",
    "handle_job_failure": "(self, job, queue, started_job_registry=None, exc_string='', execution=None)",
    "_install_signal_handlers": "(self)",
    "request_stop": "(self, signum, frame)",
}
"""EventWorker's overrides of SimpleWorker's methods, with the signature RQ 3.0 gives them."""

CALLED: list[tuple[Callable[..., Any], str]] = [
    (SimpleWorker.prepare_execution, "(self, job)"),
    (SimpleWorker.perform_job, "(self, job, queue, execution)"),
    (SimpleWorker.set_state, "(self, state, pipeline=None)"),
    (Execution.__init__, "(self, id, job_id, connection, worker_name='')"),
    (Execution.heartbeat, "(self, started_job_registry, ttl, pipeline)"),
    (ExecutionRegistry.__init__, "(self, job_id, connection)"),
    (
        RQScheduler.__init__,
        "(self, queues, connection, interval=1, logging_level=20, date_format='%H:%M:%S', "
        "log_format='%(asctime)s %(message)s', serializer=None, name=None)",
    ),
    (RQScheduler.acquire_locks, "(self, auto_start=False)"),
    (RQScheduler.heartbeat, "(self)"),
    (RQScheduler.enqueue_scheduled_jobs, "(self)"),
    (RQScheduler.release_locks, "(self)"),
    (RQScheduler.get_locking_key, "(name)"),  # a classmethod: called on the class
]
"""The RQ methods worker/runner.py calls, with the signature it calls them by."""


@pytest.fixture
def redis() -> Redis:
    return fakeredis.FakeRedis()


@pytest.fixture
def queue(redis: Redis) -> Queue:
    return Queue("q", connection=redis, serializer=OrjsonSerializer)


@pytest.fixture(autouse=True)
def signal_handlers() -> Iterator[None]:
    """RQ installs its own SIGINT/SIGTERM handlers in the main thread: put pytest's back."""
    saved = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    yield
    for sig, handler in saved.items():
        signal.signal(sig, handler)


def worker_of(cls: type[SimpleWorker], queue: Queue) -> SimpleWorker:
    return cls([queue], connection=queue.connection, serializer=OrjsonSerializer)


# --- signatures ---


@pytest.mark.parametrize(("name", "expected"), OVERRIDDEN.items(), ids=list(OVERRIDDEN))
def test_what_event_worker_overrides_still_exists_with_our_signature(name: str, expected: str) -> None:
    assert name in vars(EventWorker), f"EventWorker no longer overrides {name}: update the docstring"
    theirs = getattr(SimpleWorker, name, None)
    assert theirs is not None, f"RQ's SimpleWorker has no {name} any more: EventWorker's override is dead"
    assert shape(theirs) == expected, f"RQ changed SimpleWorker.{name}'s signature"
    assert shape(getattr(EventWorker, name)) == shape(theirs)


@pytest.mark.parametrize(("function", "expected"), CALLED, ids=[f.__qualname__ for f, _ in CALLED])
def test_what_runner_calls_keeps_its_signature(function: Callable[..., Any], expected: str) -> None:
    assert shape(function) == expected, f"RQ changed {function.__qualname__}'s signature"


def test_the_names_runner_imports_from_rq_exist() -> None:
    assert issubclass(StopRequested, Exception)
    assert hasattr(TimerDeathPenalty, "__enter__")
    assert WorkerStatus.IDLE.value == "idle"
    assert isinstance(inspect.getattr_static(RQScheduler, "acquired_locks"), property)
    assert isinstance(inspect.getattr_static(Queue, "started_job_registry"), property)


# --- execute_job: reimplemented ---

RQ_EXECUTE_JOB = '''\
def execute_job(self, job: Job, queue: Queue):
    """Execute job in same thread/process, do not fork()"""
    execution = self.prepare_execution(job)
    self.perform_job(job, queue, execution)
    self.set_state(WorkerStatus.IDLE)
'''


def test_simple_workers_execute_job_is_still_what_event_worker_reimplements() -> None:
    # EventWorker.execute_job copies this body (adding the refusal and the keep-alive): when RQ
    # changes it, port the change there, then update this copy.
    assert textwrap.dedent(inspect.getsource(SimpleWorker.execute_job)) == RQ_EXECUTE_JOB


# --- dequeue_job_and_maintain_ttl, StopRequested, _stop_requested ---


def test_dequeue_returns_none_once_max_idle_time_passes(queue: Queue) -> None:
    # EventWorker slices its blocking wait this way, to look at its stop flag every second.
    worker = worker_of(SimpleWorker, queue)
    started = time.monotonic()
    assert worker.dequeue_job_and_maintain_ttl(1, max_idle_time=1) is None
    assert time.monotonic() - started < 5


def test_dequeue_without_a_timeout_is_a_non_blocking_pop(queue: Queue) -> None:
    worker = worker_of(SimpleWorker, queue)
    started = time.monotonic()
    assert worker.dequeue_job_and_maintain_ttl(None) is None  # burst: nothing queued, no wait
    assert time.monotonic() - started < 2
    job = queue.enqueue(succeed)
    result = worker.dequeue_job_and_maintain_ttl(None)
    assert result is not None and result[0].id == job.id


def test_stop_requested_raised_from_dequeue_ends_work(queue: Queue) -> None:
    class Stopping(SimpleWorker):
        def dequeue_job_and_maintain_ttl(self, timeout: Any, max_idle_time: Any = None) -> Any:
            raise StopRequested()

    assert worker_of(Stopping, queue).work(burst=False) is False  # returned, nothing raised


def test_the_stop_flag_is_read_by_the_work_loop(queue: Queue) -> None:
    dequeued: list[object] = []

    class Flagged(SimpleWorker):
        def dequeue_job_and_maintain_ttl(self, timeout: Any, max_idle_time: Any = None) -> Any:
            dequeued.append(timeout)
            return None

    worker = worker_of(Flagged, queue)
    assert worker._stop_requested is False  # RQ's __init__ sets it
    worker._stop_requested = True  # what EventWorker.stop() does, from another thread
    worker.work(burst=False)
    assert dequeued == []  # the loop stopped before dequeuing


# --- handle_exception, handle_job_failure, job.retries_left ---


def test_a_failure_reaches_handle_exception_then_handle_job_failure_which_spends_the_retry(
    queue: Queue,
) -> None:
    calls: list[tuple[str, object]] = []

    class GivesBack(SimpleWorker):
        def handle_exception(self, job: Job, *exc_info: Any) -> None:
            calls.append(("handle_exception", exc_info[1]))
            super().handle_exception(job, *exc_info)

        def handle_job_failure(
            self,
            job: Job,
            queue: Queue,
            started_job_registry: Any = None,
            exc_string: str = "",
            execution: Execution | None = None,
        ) -> None:
            calls.append(("handle_job_failure", exc_string))
            job.retries_left = (job.retries_left or 0) + 1  # what EventWorker does on a Redis fault
            super().handle_job_failure(job, queue, started_job_registry, exc_string, execution)

    given_back = queue.enqueue(fail, retry=Retry(max=2, interval=600))
    worker_of(GivesBack, queue).work(burst=True)
    [(first, error), (second, text)] = calls
    assert (first, second) == ("handle_exception", "handle_job_failure")
    assert isinstance(error, ValueError)  # the exception itself, then only its text
    assert isinstance(text, str) and "ValueError: boom" in text
    job = Job.fetch(given_back.id, connection=queue.connection, serializer=OrjsonSerializer)
    assert (job.get_status(), job.retries_left) == (JobStatus.SCHEDULED, 2)  # retried, none spent

    spent = queue.enqueue(fail, retry=Retry(max=2, interval=600))
    worker_of(SimpleWorker, queue).work(burst=True)
    job = Job.fetch(spent.id, connection=queue.connection, serializer=OrjsonSerializer)
    assert (job.get_status(), job.retries_left) == (JobStatus.SCHEDULED, 1)  # RQ spends it inside


# --- signals: _install_signal_handlers, request_stop ---


def test_rq_installs_request_stop_for_sigint_and_sigterm(queue: Queue) -> None:
    worker = worker_of(SimpleWorker, queue)
    worker._install_signal_handlers()
    assert signal.getsignal(signal.SIGINT) == worker.request_stop
    assert signal.getsignal(signal.SIGTERM) == worker.request_stop


def test_request_stop_of_an_idle_worker_raises_stop_requested(queue: Queue) -> None:
    worker = worker_of(SimpleWorker, queue)
    worker.set_state(WorkerStatus.IDLE)
    with pytest.raises(StopRequested):
        worker.request_stop(signal.SIGTERM, None)


def test_the_shutdown_command_signals_the_process_not_request_stop(monkeypatch: pytest.MonkeyPatch) -> None:
    # So in a thread (`trackhouse up`'s store process) RQ's "shutdown" reaches the process's own
    # SIGINT handler, never EventWorker.request_stop.
    sent: list[tuple[int, int]] = []
    monkeypatch.setattr(os, "kill", lambda pid, sig: sent.append((pid, sig)))
    worker = worker_of(SimpleWorker, Queue("q", connection=fakeredis.FakeRedis()))
    handle_shutdown_command(worker)
    assert sent == [(os.getpid(), signal.SIGINT)]


# --- death_penalty_class ---


def test_the_death_penalty_class_set_before_init_is_kept_and_applied(redis: Redis) -> None:
    assert "death_penalty_class" in vars(BaseWorker)
    worker = EventWorker([Queue("q", connection=redis)], connection=redis, in_thread=True)
    assert worker.death_penalty_class is TimerDeathPenalty  # RQ's __init__ left it alone
    assert "self.death_penalty_class(" in inspect.getsource(BaseWorker.perform_job)


# --- executions: ExecutionRegistry, Execution, heartbeat ---


def test_a_jobs_executions_outlive_their_records_by_60_seconds(queue: Queue) -> None:
    # EventWorker._forget_dead_executions drops the ids whose record has expired meanwhile.
    job = queue.enqueue(succeed)
    worker = worker_of(SimpleWorker, queue)
    execution = worker.prepare_execution(job)
    ttl = worker.get_heartbeat_ttl(job)
    redis = queue.connection
    registry_key = ExecutionRegistry(job.id, redis).key
    assert [i.decode() for i in cast(list[bytes], redis.zrange(registry_key, 0, -1))] == [execution.id]
    record_key = Execution(execution.id, job.id, redis).key
    assert 0 < redis.ttl(record_key) <= ttl
    overhang = cast(float, redis.zscore(registry_key, execution.id)) - (time.time() + ttl)
    assert 55 < overhang <= 60


def test_an_execution_heartbeat_sets_its_ttl_and_the_started_registry_score(queue: Queue) -> None:
    # Keepalive beats with a short TTL, so a dead worker's job lapses from "started" quickly.
    job = queue.enqueue(succeed)
    execution = worker_of(SimpleWorker, queue).prepare_execution(job)
    redis = queue.connection
    with redis.pipeline() as pipe:
        execution.heartbeat(queue.started_job_registry, 10, pipe)
        pipe.execute()
    assert 0 < redis.ttl(execution.key) <= 10
    entries = redis.zrange(queue.started_job_registry.key, 0, -1, withscores=True)
    [(member, score)] = cast(list[tuple[bytes, float]], entries)
    assert job.id in member.decode() and abs(score - (time.time() + 10)) < 5


# --- the scheduler's locks (Lua: a real redis-server) ---


@pytest.mark.integration
def test_the_scheduler_lock_holds_its_name_and_due_jobs_are_enqueued(real_redis: Redis) -> None:
    queue = Queue("q", connection=real_redis, serializer=OrjsonSerializer)
    job = queue.enqueue_at(datetime.now(UTC) - timedelta(seconds=1), succeed)
    scheduler = RQScheduler(["q"], connection=real_redis, interval=1, serializer=OrjsonSerializer)
    assert scheduler.acquired_locks == set()
    scheduler.acquire_locks()
    assert scheduler.acquired_locks == {"q"}
    key = RQScheduler.get_locking_key("q")
    assert real_redis.get(key) == scheduler.name.encode()  # SchedulerThread._shorten_locks checks it
    scheduler.heartbeat()
    assert scheduler.acquired_locks == {"q"} and real_redis.get(key) == scheduler.name.encode()
    scheduler.enqueue_scheduled_jobs()
    assert queue.job_ids == [job.id]
    scheduler.release_locks()
    assert real_redis.get(key) is None and scheduler.acquired_locks == set()
