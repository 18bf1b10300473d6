"""Where an event waits, read defensively: forged or broken jobs in RQ's registries (anyone who
can write to Redis can leave one) never turn `GET /api/events/{id}` into a 500, and never hide
a real dead letter behind them."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import pytest
from clickhouse_connect.driver.client import Client
from redis import Redis
from rq.job import Job
from rq.registry import FailedJobRegistry

from shared.event.parse import RequestContext, parse_event
from shared.queue.jobs import INSERT_EVENTS, enqueue_rows, events_queue
from shared.queue.locate import locate
from shared.queue.serializer import OrjsonSerializer
from shared.settings import Settings
from tests.support.apps import api_client
from tests.support.builders import basic_event
from tests.support.workers import FailingWriter, drain, real_writer

pytestmark = pytest.mark.integration
AUTH = {"Authorization": "Bearer test-admin-token"}


def _forge(redis: Redis, settings: Settings) -> None:
    """Dead letters of every wrong shape, ahead of the real one in the registry."""
    queue = events_queue(redis, settings)
    registry = FailedJobRegistry(queue=queue)
    later = time.time() + 3600
    shapes: list[tuple[object, ...]] = [("only-one",), (), ("a", "b", "c"), (["event_id"], "not entries")]
    shapes.append((["no_such_column"], [[1]]))
    for i, args in enumerate(shapes):
        job = Job.create(INSERT_EVENTS, args=args, connection=redis, serializer=OrjsonSerializer, id=f"forged-{i}")
        job.meta = {"merged": "not-a-list"}
        job.save()
        redis.zadd(registry.key, {job.id: later - 100})
    redis.hset("rq:job:forged-garbage", mapping={"data": b"\x00not zlib", "status": "failed", "meta": b"\xff"})
    redis.zadd(registry.key, {"forged-garbage": later - 50, "forged-dangling": later - 40})
    redis.zadd(registry.key, {"forged:bad:id": later - 30})
    queue.connection.rpush(queue.key, "forged-garbage")  # and one on the queue itself


def test_forged_dead_letters_are_skipped_and_the_real_one_found(
    real_redis: Redis, migrated: Client, settings: Settings
) -> None:
    context = RequestContext(received_at=datetime.now(UTC))
    row = parse_event(basic_event(event_id="real-1"), context)
    enqueue_rows(events_queue(real_redis, settings), [row], settings)
    drain(real_redis, settings, FailingWriter(real_writer(migrated, settings), failures=100))
    _forge(real_redis, settings)

    where = locate(real_redis, settings, "real-1")
    assert where is not None and where.status == "failed"
    assert locate(real_redis, settings, "never-sent") is None

    client = api_client(settings, real_redis, migrated)
    assert client.get("/api/events/never-sent", headers=AUTH).status_code == 404
    answer = client.get("/api/events/real-1", headers=AUTH)
    assert answer.status_code == 200 and answer.json()["status"] == "failed"
