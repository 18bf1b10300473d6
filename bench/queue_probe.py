"""What the bench asks Redis: memory in use, and whether a queue has drained.

"Drained" means nothing queued, nothing running and no retry parked (RQ's queue, started
and scheduled registries). The worker may still be finishing a job it popped just before;
the harness stops workers with SIGTERM (a warm stop) before it reads ClickHouse, which
lets that job finish.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from redis import Redis
from rq import Queue, Worker
from rq.serializers import JSONSerializer


def used_memory(redis: Redis) -> int:
    return int(redis.info("memory")["used_memory"])


def backlog(redis: Redis, queue_name: str) -> int:
    queue = Queue(queue_name, connection=redis, serializer=JSONSerializer)
    return int(queue.count + queue.started_job_registry.count + queue.scheduled_job_registry.count)


def failed(redis: Redis, queue_name: str) -> int:
    queue = Queue(queue_name, connection=redis, serializer=JSONSerializer)
    return int(queue.failed_job_registry.count)


def wait_worker(redis: Redis, *, timeout_seconds: float, check_alive: Callable[[], None]) -> float:
    """Wait until an RQ worker has registered (it does so right before its first dequeue, after
    opening ClickHouse and migrating). Returns that moment (time.monotonic())."""
    deadline = time.monotonic() + timeout_seconds
    while not Worker.count(connection=redis):
        check_alive()
        if time.monotonic() > deadline:
            raise TimeoutError(f"no RQ worker registered within {timeout_seconds:.0f} s")
        time.sleep(0.01)
    return time.monotonic()


def wait_drained(
    redis: Redis, queue_name: str, *, timeout_seconds: float, check_alive: Callable[[], None]
) -> tuple[int, float]:
    """Wait (bounded) until the queue is empty. Returns (jobs left, when: time.monotonic())."""
    deadline = time.monotonic() + timeout_seconds
    left = backlog(redis, queue_name)
    while left and time.monotonic() < deadline:
        check_alive()
        time.sleep(0.02)  # fine-grained: the drain phase's duration is measured with this
        left = backlog(redis, queue_name)
    return left, time.monotonic()
