"""Replica acknowledgements against a real redis-server that has no replica: the API must not
answer 201 for a job no replica holds, and must say so in the contract's shape."""

from __future__ import annotations

import pytest
from redis import Redis

from shared.queue.connect import ReplicasBehind, require_replicas
from shared.queue.jobs import events_queue
from shared.settings import Settings
from tests.support.apps import api_client
from tests.support.builders import basic_event

pytestmark = pytest.mark.integration


def test_no_replica_means_not_acknowledged(real_redis: Redis) -> None:
    require_replicas(real_redis, 0, 10)  # nothing asked, nothing to wait for
    with pytest.raises(ReplicasBehind, match="0 of 1 replicas"):
        require_replicas(real_redis, 1, 20)


def test_track_answers_503_when_no_replica_confirms(real_redis: Redis, settings: Settings) -> None:
    settings = settings.model_copy(update={"redis_min_replicas_ack": 1, "redis_replica_ack_timeout_ms": 20})
    client = api_client(settings, real_redis)
    response = client.post("/api/events/track", json=basic_event(event_id="unreplicated"))
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "1"
    assert response.json() == {"error": "event queue not replicated in time (0 of 1 replicas)"}
    # The job did reach the primary: a retry with the same event_id collapses in the store.
    assert len(events_queue(real_redis, settings)) == 1

    batch = client.post("/api/events/batch", json=[basic_event(), basic_event()])
    assert batch.status_code == 503 and "not replicated" in batch.json()["error"]


def test_track_answers_201_without_replica_acknowledgements(real_redis: Redis, settings: Settings) -> None:
    assert settings.redis_min_replicas_ack == 0  # the default: the primary's word is enough
    assert api_client(settings, real_redis).post("/api/events/track", json=basic_event()).status_code == 201
