"""Group commit: concurrent requests share jobs; nobody is answered before Redis acknowledged."""

from __future__ import annotations

import asyncio
import threading
from datetime import UTC, datetime
from typing import Any

import pytest
from redis import Redis
from redis.exceptions import ConnectionError as RedisConnectionError
from rq import Queue
from rq.job import Job

from api.group_commit import GroupCommitter
from shared.event.parse import RequestContext, parse_event
from shared.queue.jobs import enqueue_rows, events_queue, job_rows
from shared.settings import Settings
from tests.support.builders import basic_event


class GatedEnqueue:
    """Records each job's rows; the first enqueue waits for `release` (a slow Redis)."""

    def __init__(self, fail: bool = False) -> None:
        self.jobs: list[list[dict[str, Any]]] = []
        self.first_started = threading.Event()
        self.release = threading.Event()
        self.fail = fail

    def __call__(self, queue: Queue, rows: list[dict[str, Any]], settings: Settings) -> Job:
        if not self.jobs:
            self.first_started.set()
            self.release.wait(5)
        self.jobs.append(rows)
        if self.fail:
            raise RedisConnectionError("injected")
        return enqueue_rows(queue, rows, settings)


def rows(n: int, count: int = 1) -> list[dict[str, Any]]:
    context = RequestContext(received_at=datetime.now(UTC))
    return [parse_event(basic_event(event_id=f"e{n}-{i}"), context) for i in range(count)]


async def burst(committer: GroupCommitter, gate: GatedEnqueue, count: int) -> list[BaseException | None]:
    first = asyncio.create_task(committer.submit(rows(0), 100))
    await asyncio.to_thread(gate.first_started.wait, 5)  # the first enqueue is in flight...
    submitted = asyncio.Event()
    started = 0

    async def submit(n: int) -> None:
        nonlocal started
        started += 1
        if started == count - 1:
            submitted.set()  # wakes the waiter on a later turn of the loop: after this submit queued
        await committer.submit(rows(n), 100)  # queues its rows before its first await

    others = [asyncio.create_task(submit(i)) for i in range(1, count)]
    await asyncio.wait_for(submitted.wait(), 5)  # ...the others have queued their rows...
    assert not any(task.done() for task in others)  # ...and nobody else is answered yet
    gate.release.set()
    return await asyncio.gather(first, *others, return_exceptions=True)


def test_requests_arriving_during_an_enqueue_share_the_next_job(
    settings: Settings, fake_redis: Redis
) -> None:
    gate = GatedEnqueue()
    committer = GroupCommitter(events_queue(fake_redis, settings), settings, enqueue=gate)
    outcomes = asyncio.run(burst(committer, gate, 10))
    assert outcomes == [None] * 10
    assert [len(job) for job in gate.jobs] == [1, 9]  # a lone request goes at once; the rest group
    assert events_queue(fake_redis, settings).count == 2


def test_groups_are_bounded_by_events_and_bytes(settings: Settings, fake_redis: Redis) -> None:
    gate = GatedEnqueue()
    bounded = settings.model_copy(update={"job_max_events": 4})
    asyncio.run(burst(GroupCommitter(events_queue(fake_redis, bounded), bounded, enqueue=gate), gate, 10))
    assert [len(job) for job in gate.jobs] == [1, 4, 4, 1]

    gate = GatedEnqueue()
    bounded = settings.model_copy(update={"job_max_bytes": 1024})  # 100 bytes per submit
    asyncio.run(burst(GroupCommitter(events_queue(fake_redis, bounded), bounded, enqueue=gate), gate, 12))
    assert [len(job) for job in gate.jobs] == [1, 10, 1]


def test_a_failed_enqueue_fails_every_request_of_its_group(settings: Settings, fake_redis: Redis) -> None:
    gate = GatedEnqueue(fail=True)
    committer = GroupCommitter(events_queue(fake_redis, settings), settings, enqueue=gate)
    outcomes = asyncio.run(burst(committer, gate, 5))
    assert all(isinstance(outcome, RedisConnectionError) for outcome in outcomes)


def test_an_oversized_submit_still_goes_alone(settings: Settings, fake_redis: Redis) -> None:
    bounded = settings.model_copy(update={"job_max_events": 2})
    committer = GroupCommitter(events_queue(fake_redis, bounded), bounded)
    asyncio.run(committer.submit(rows(0, count=5), 10))
    [job] = events_queue(fake_redis, bounded).get_jobs()
    assert len(job_rows(job)) == 5 and job.id.endswith("-n5")


@pytest.mark.parametrize("count", [1, 3])
def test_job_ids_carry_their_event_count(settings: Settings, fake_redis: Redis, count: int) -> None:
    job = enqueue_rows(events_queue(fake_redis, settings), rows(0, count), settings)
    assert job.id.endswith(f"-n{count}")
