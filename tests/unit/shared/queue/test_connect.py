"""Sentinel settings: validated at start-up, and what the processes are pointed at."""

from __future__ import annotations

import pytest
from pydantic import ValidationError
from redis.sentinel import SentinelConnectionPool

from shared.queue.connect import connect, describe_redis, redis_configured
from shared.settings import Settings


def test_sentinels_replace_the_redis_url() -> None:
    settings = Settings(redis_sentinels=["10.0.0.1:26379", "[::1]:26380"], redis_sentinel_master="events")
    assert redis_configured(settings)
    assert describe_redis(settings) == "redis+sentinel://10.0.0.1:26379,[::1]:26380/events/0"
    pool = connect(settings).connection_pool  # lazy: nothing is contacted yet
    assert isinstance(pool, SentinelConnectionPool) and pool.service_name == "events"
    assert [(c.connection_pool.connection_kwargs["host"], c.connection_pool.connection_kwargs["port"])
            for c in pool.sentinel_manager.sentinels] == [("10.0.0.1", 26379), ("::1", 26380)]  # fmt: skip


@pytest.mark.parametrize("bad", ["10.0.0.1", "host:port", ":26379", "h:0", "h:70000"])
def test_a_sentinel_is_host_and_port(bad: str) -> None:
    with pytest.raises(ValidationError, match="a Sentinel is host:port"):
        Settings(redis_sentinels=[bad])


def test_nothing_configured() -> None:
    settings = Settings()
    assert not redis_configured(settings)
    with pytest.raises(ValueError, match="TRACKHOUSE_REDIS_SENTINELS"):
        connect(settings)


def test_sentinel_password_is_a_secret() -> None:
    settings = Settings(redis_sentinels=["s:26379"], redis_sentinel_password="hunter2")
    assert "hunter2" not in repr(settings)


def test_the_nodes_password_reaches_the_primary_connections_only() -> None:
    settings = Settings(redis_sentinels=["s:26379"], redis_password="nodes-secret", redis_sentinel_password="")
    pool = connect(settings).connection_pool
    assert pool.connection_kwargs["password"] == "nodes-secret"
    assert pool.sentinel_manager.sentinels[0].connection_pool.connection_kwargs.get("password") is None
