"""Running RQ workers: as their own process (`trackhouse worker`) or as threads inside the
process that owns the chDB engine (`trackhouse up`).

Workers are `SimpleWorker`s: the job runs in the worker itself, not in a forked horse,
so one long-lived ClickHouse client (and, with chDB, the one engine) serves every job.

Retries: jobs carry `Retry(max, interval)`, which parks a failed job in the scheduled
registry; a scheduler must move it back when due. RQ's own scheduler forks a process,
which is unsafe in a process running chDB's threads, so `SchedulerThread` runs the same
RQScheduler steps in a thread instead. One scheduler per queue holds the lock; every
worker process runs one, so retries keep flowing as long as any worker is alive.

RQ internals this module depends on (written against RQ 3.0; `rq>=3.0,<4` in pyproject).
Each has a test in tests/unit/worker/test_rq_internals.py that fails when an RQ upgrade
changes it: the signature of every method below (and, for an override, that ours still
matches it), and the behaviour relied on. Review this list on every RQ upgrade.

Overridden in `EventWorker`:
- `SimpleWorker.execute_job(job, queue)`: reimplemented, not extended (RQ's body:
  `prepare_execution`, `perform_job`, `set_state(IDLE)`), to refuse a job not of ours unrun and
  run the job inside `Keepalive`. Its source is pinned: a change upstream must be ported.
- `BaseWorker.dequeue_job_and_maintain_ttl(timeout, max_idle_time=None)`: cut into
  `_POLL_SECONDS` slices, relying on RQ returning None once `max_idle_time` passes idle, on
  `timeout=None` meaning burst, and on `work()` treating `StopRequested` raised from it as a stop.
- `BaseWorker.handle_exception(job, *exc_info)` and `BaseWorker.handle_job_failure(job, queue,
  started_job_registry=None, exc_string='', execution=None)`: RQ calls the first with the
  exception, then the second with its text only (so the first records whether it was a Redis
  fault); the second decides the retry from `job.retries_left`, which ours raises by one first
  to give the attempt back.
- `BaseWorker._install_signal_handlers()` (private): skipped in a thread (signal handlers exist
  only in the main thread); RQ's installs `request_stop` for SIGINT and SIGTERM.
- `BaseWorker.request_stop(signum, frame)`: RQ's warm stop (StopRequested when idle), kept in the
  main thread. RQ's pub/sub "shutdown" command does not call it: it SIGINTs the process.
Attributes:
- `BaseWorker._stop_requested` (private): set by `stop()` from another thread; RQ's `work()` loop
  and our dequeue both read it.
- `BaseWorker.death_penalty_class`: `TimerDeathPenalty` in a thread (SIGALRM is main-thread
  only), set before RQ's `__init__`, which keeps it; `perform_job` applies the job timeout with it.
Called:
- `BaseWorker.prepare_execution(job)`, `perform_job(job, queue, execution)`, `set_state(state)`.
- `ExecutionRegistry(job_id, connection).key` and `Execution(id, job_id, connection).key`
  (`_forget_dead_executions`): a job's executions sorted set, whose entries outlive each
  execution's record by 60 s.
- `Execution.heartbeat(started_job_registry, ttl, pipeline)` with `Queue.started_job_registry`
  (`Keepalive`): sets the record's TTL and the started registry's score to now + ttl.
- `RQScheduler(queues, connection=, interval=, serializer=)` with `acquired_locks`,
  `acquire_locks()`, `heartbeat()`, `enqueue_scheduled_jobs()`, `release_locks()`, `name` and
  `RQScheduler.get_locking_key(queue)` (`SchedulerThread`): the lock's value is the scheduler's
  name, which `_shorten_locks` checks before shortening it.
- `rq.exceptions.StopRequested`, `rq.timeouts.TimerDeathPenalty`, `rq.worker.WorkerStatus`.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from redis import Redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ReadOnlyError
from redis.exceptions import TimeoutError as RedisTimeoutError
from rq import Queue
from rq.exceptions import StopRequested
from rq.executions import Execution, ExecutionRegistry
from rq.job import Job
from rq.scheduler import RQScheduler
from rq.timeouts import TimerDeathPenalty
from rq.worker import SimpleWorker, WorkerStatus

from shared import metrics
from shared.queue.connect import ReplicasBehind
from shared.queue.jobs import events_queue
from shared.queue.serializer import OrjsonSerializer
from shared.settings import Settings
from shared.store.client import open_client
from worker.allowlist import dead_letter_refused, refusal
from worker.jobs import JobContext, bind
from worker.lifecycle import LifecycleThread
from worker.recovery import reclaim_at_startup, recover_abandoned, recover_stranded
from worker.tombstones import Tombstones
from worker.writer import EventWriter, Writer

log = logging.getLogger(__name__)

_POLL_SECONDS = 1
"""Longest an idle worker blocks on Redis before it looks at its stop flag again."""

REDIS_FAULTS = (RedisConnectionError, RedisTimeoutError, ReadOnlyError)
"""Redis going away or failing over (a demoted primary answers READONLY): the queue's fault,
never the job's, so such a failure does not spend one of the job's retries. A refusal for want
of replicas (`ReplicasBehind`, a redis TimeoutError) is one too, for REDIS_REPLICA_WAIT_SECONDS;
past that worker.replicas raises `ReplicaWaitExhausted`, no Redis fault: it spends attempts."""


class EventWorker(SimpleWorker):
    """A SimpleWorker that can be stopped from another thread.

    RQ's stop path goes through signal handlers, which exist only in the main thread,
    and an idle worker blocks on Redis for `worker_ttl - 15` seconds. Here the blocking
    dequeue is cut into `_POLL_SECONDS` slices so `stop()` takes effect within one.
    """

    def __init__(
        self, *args: Any, in_thread: bool = False, failure_ttl_seconds: int = 30 * 86_400, **kwargs: Any
    ) -> None:
        self._failure_ttl_seconds = failure_ttl_seconds
        if in_thread:  # SIGALRM-based job timeouts only work in the main thread
            self.death_penalty_class = TimerDeathPenalty
        super().__init__(*args, **kwargs)
        self._in_thread = in_thread
        self._redis_fault = False
        self._replicas_behind = False

    def stop(self) -> None:
        """Warm stop: finish the current job, take no new one."""
        self._stop_requested = True

    def execute_job(self, job: Job, queue: Queue) -> None:
        """SimpleWorker's execute_job, with a keep-alive beside the job (see `Keepalive`).
        A job that is not one of ours is refused unrun (`worker.allowlist`)."""
        if (reason := refusal(job)) is not None:
            dead_letter_refused(job, queue, reason, failure_ttl=self._failure_ttl_seconds)
            return
        self._forget_dead_executions(job)
        execution = self.prepare_execution(job)
        with Keepalive(self, queue, execution):
            self.perform_job(job, queue, execution)
        self.set_state(WorkerStatus.IDLE)

    def _forget_dead_executions(self, job: Job) -> None:
        """Drop executions of earlier, dead attempts whose record has expired but which RQ still
        lists (its list outlives the record by 60 s): finishing the job would trip on them."""
        registry = ExecutionRegistry(job.id, self.connection)
        ids = [
            i.decode() if isinstance(i, bytes) else str(i)
            for i in self.connection.zrange(registry.key, 0, -1)
        ]
        if not ids:
            return
        with self.connection.pipeline(transaction=False) as pipe:
            for execution_id in ids:
                pipe.exists(Execution(execution_id, job.id, self.connection).key)
            alive = pipe.execute()
        dead = [execution_id for execution_id, exists in zip(ids, alive, strict=True) if not exists]
        if dead:
            self.connection.zrem(registry.key, *dead)

    def handle_exception(self, job: Job, *exc_info: Any) -> None:
        # RQ calls this with the exception, then handle_job_failure with its text only.
        self._redis_fault = isinstance(exc_info[1], REDIS_FAULTS)
        self._replicas_behind = isinstance(exc_info[1], ReplicasBehind)
        super().handle_exception(job, *exc_info)

    def handle_job_failure(
        self,
        job: Job,
        queue: Queue,
        started_job_registry: Any = None,
        exc_string: str = "",
        execution: Execution | None = None,
    ) -> None:
        if self._redis_fault and job.retries_left is not None:
            # Redis failed over mid-job (the patient client's retries ran out): give the attempt
            # back, so the retry RQ schedules now is not counted against the job.
            job.retries_left += 1
            if self._replicas_behind:
                log.warning("job %s: replicas behind; retrying without spending an attempt", job.id)
            else:
                log.warning("job %s lost Redis mid-job; retrying without spending an attempt", job.id)
        self._redis_fault = self._replicas_behind = False
        super().handle_job_failure(job, queue, started_job_registry, exc_string, execution)

    def _install_signal_handlers(self) -> None:
        if not self._in_thread:
            super()._install_signal_handlers()

    def request_stop(self, signum: Any, frame: Any) -> None:
        if self._in_thread:  # a direct call: RQ installs no handler in a thread (see the docstring)
            self.stop()
        else:
            super().request_stop(signum, frame)

    def dequeue_job_and_maintain_ttl(
        self, timeout: int | None, max_idle_time: int | None = None
    ) -> tuple[Job, Queue] | None:
        if timeout is None:  # burst mode: a non-blocking pop, nothing to slice
            return super().dequeue_job_and_maintain_ttl(timeout, max_idle_time)
        while not self._stop_requested:
            result = super().dequeue_job_and_maintain_ttl(_POLL_SECONDS, max_idle_time=_POLL_SECONDS)
            if result is not None:
                return result
        raise StopRequested()


class Keepalive:
    """While a job runs, renew its execution heartbeat every `BEAT_SECONDS` with a short TTL.

    A SimpleWorker runs its job in its own thread, so RQ renews nothing meanwhile and a job
    of a SIGKILLed worker stays "started" for the job timeout plus a minute, then waits for
    some worker's maintenance pass (every 10 minutes by default): 400-800 s in all. Renewed
    from this thread instead, the registry entry of a dead worker lapses within
    `TTL_SECONDS`, and the scheduler threads' `recover_abandoned` retries it right after.
    """

    BEAT_SECONDS = 2
    TTL_SECONDS = 10

    def __init__(self, worker: EventWorker, queue: Queue, execution: Execution) -> None:
        self._worker = worker
        self._queue = queue
        self._execution = execution
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._run, name="rq-keepalive", daemon=True)

    def _beat(self) -> None:
        with self._worker.connection.pipeline() as pipe:
            self._execution.heartbeat(self._queue.started_job_registry, self.TTL_SECONDS, pipe)
            pipe.execute()

    def _run(self) -> None:
        while True:
            try:
                self._beat()
            except Exception:  # Redis away: the job's own calls will fail and tell
                log.warning("job keep-alive failed", exc_info=True)
            if self._done.wait(self.BEAT_SECONDS):
                return

    def __enter__(self) -> Keepalive:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._done.set()
        self._thread.join(timeout=5)


class SchedulerThread(threading.Thread):
    """Moves due retries (RQ's scheduled registry) back onto the queue, in a thread."""

    def __init__(self, redis: Redis, settings: Settings) -> None:
        super().__init__(name="rq-scheduler", daemon=True)
        self._scheduler = RQScheduler(
            [settings.queue_name],
            connection=redis,
            interval=settings.scheduler_interval_seconds,
            serializer=OrjsonSerializer,
        )
        self._interval = settings.scheduler_interval_seconds
        self._redis = redis
        self._settings = settings
        self._stopping = threading.Event()

    @property
    def lock_ttl_seconds(self) -> int:
        return max(10, 5 * self._interval)

    def run(self) -> None:
        scheduler = self._scheduler
        while not self._stopping.is_set():
            try:
                recover_abandoned(self._redis, self._settings)
                recover_stranded(self._redis, self._settings)
                # RQ retries a lock held by another scheduler every 10 minutes only, and its lock
                # outlives a SIGKILLed holder by 60 s: retries would wait that long after a worker
                # crash. So: try every pass, and keep our lock short (renewed every pass).
                if not scheduler.acquired_locks:
                    scheduler.acquire_locks()
                else:
                    scheduler.heartbeat()
                if scheduler.acquired_locks:
                    self._shorten_locks()
                    scheduler.enqueue_scheduled_jobs()
            except Exception:  # Redis away: keep trying, the workers log the outage too
                log.warning("scheduler pass failed; retrying", exc_info=True)
            self._stopping.wait(self._interval)
        try:
            scheduler.release_locks()
        except Exception:
            log.warning("could not release scheduler locks", exc_info=True)

    def _shorten_locks(self) -> None:
        name = self._scheduler.name.encode()
        for queue in self._scheduler.acquired_locks:
            key = RQScheduler.get_locking_key(queue)
            if self._redis.get(key) == name:
                self._redis.expire(key, self.lock_ttl_seconds)

    def stop(self) -> None:
        self._stopping.set()


def make_writer(settings: Settings) -> EventWriter:
    # A cluster's events table is Distributed: acknowledge an insert only once the shards have it.
    cluster = {"distributed_foreground_insert": 1} if settings.clickhouse_cluster else {}
    return EventWriter(open_client(settings.store_url, **cluster), settings.clickhouse_database)


def make_worker(redis: Redis, settings: Settings, *, in_thread: bool, name: str | None = None) -> EventWorker:
    return EventWorker(
        [events_queue(redis, settings)],
        connection=redis,
        serializer=OrjsonSerializer,
        worker_ttl=settings.worker_ttl_seconds,
        in_thread=in_thread,
        failure_ttl_seconds=settings.failure_ttl_seconds,
        name=name,
    )


def run_worker_process(
    redis: Redis, settings: Settings, *, burst: bool = False, writer: Writer | None = None
) -> None:
    """`trackhouse worker`: one worker in the main thread (RQ's signal handling: SIGTERM
    finishes the current job, a second one abandons it to be retried), plus a scheduler.
    `writer`: the store seam (the chaos harness wraps the real one to inject faults)."""
    bind(JobContext.from_settings(writer or make_writer(settings), settings, Tombstones(redis, settings)))
    reclaim_at_startup(redis, settings, sole_worker=False)  # jobs of workers found dead
    if settings.worker_metrics_port:
        metrics.start_worker_server(settings.worker_metrics_port, settings.worker_metrics_host)
    scheduler = SchedulerThread(redis, settings)
    scheduler.start()
    lifecycle = LifecycleThread(redis, settings)
    lifecycle.start()
    try:
        make_worker(redis, settings, in_thread=False).work(burst=burst, logging_level=settings.log_level)
    finally:
        scheduler.stop()
        lifecycle.stop()
        scheduler.join(timeout=5)
        lifecycle.join(timeout=5)


class WorkerThreads:
    """`trackhouse up`'s store process: N workers as its threads, sharing its chDB engine."""

    def __init__(self, redis: Redis, settings: Settings, *, writer_factory: Any = None) -> None:
        self._redis = redis
        self._settings = settings
        self._writer_factory = writer_factory or make_writer
        self._workers: list[EventWorker] = []
        self._threads: list[threading.Thread] = []
        self._scheduler = SchedulerThread(redis, settings)
        self._tombstones = Tombstones(redis, settings)
        self._lifecycle = LifecycleThread(redis, settings)

    def _run(self, worker: EventWorker, writer: Writer) -> None:
        bind(JobContext.from_settings(writer, self._settings, self._tombstones))
        worker.work(logging_level=self._settings.log_level)

    def start(self) -> None:
        for index in range(self._settings.embedded_workers):
            worker = make_worker(self._redis, self._settings, in_thread=True)
            writer = self._writer_factory(self._settings)
            thread = threading.Thread(
                target=self._run, args=(worker, writer), name=f"rq-worker-{index}", daemon=True
            )
            self._workers.append(worker)
            self._threads.append(thread)
            thread.start()
        self._scheduler.start()
        self._lifecycle.start()
        log.info("started %d worker thread(s) on queue %s", len(self._threads), self._settings.queue_name)

    def stop(self) -> None:
        """Warm stop: running jobs finish (bounded by the job timeout), queued ones stay queued.
        A worker stuck reconnecting to an absent Redis is left behind (daemon thread): its
        job, if any, is still in Redis and is recovered as abandoned."""
        self._scheduler.stop()
        self._lifecycle.stop()
        for worker in self._workers:
            worker.stop()
        deadline = time.monotonic() + self._settings.job_timeout_seconds + 5
        for thread in self._threads:
            thread.join(timeout=max(0.0, deadline - time.monotonic()))
        self._scheduler.join(timeout=5)
        self._lifecycle.join(timeout=5)
        log.info("worker threads stopped")
