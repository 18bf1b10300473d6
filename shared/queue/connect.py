"""Connecting to Redis: one URL, or the primary that Sentinel names, followed across failovers.

RQ works over any redis-py client, so the rest of the code never knows which it got. With
Sentinels, redis-py's `SentinelConnectionPool` asks them for the primary on every new
connection, and a connection to a demoted primary raises `ConnectionError` (redis-py turns
its READONLY answer into one), so a retried command lands on the new primary.

Two patience levels: the API fails an enqueue within about a second (the client gets a 500
and retries, as the contract says), while workers and their scheduler ride out a whole
failover (Sentinel promotes a replica ~2.5 s after the primary dies) inside redis-py's
retries, so a failover costs a job no attempt.
"""

from __future__ import annotations

from typing import Any, cast

from redis import Redis
from redis.backoff import ExponentialWithJitterBackoff
from redis.connection import SENTINEL as _UNSET  # type: ignore[attr-defined]
from redis.exceptions import TimeoutError
from redis.retry import Retry
from redis.sentinel import Sentinel, SentinelManagedConnection

from shared.settings import Settings

_API_RETRIES = 3
"""Under a second of retries: a blip is ridden out, an outage answers 500 quickly."""
_WORKER_RETRIES = 80
"""~20 s of retries (full jitter up to 0.5 s, ~0.25 s each): longer than a Sentinel failover
(~2.5 s here with `down-after-milliseconds 1000`, ~7 s with the compose cluster's 5000)."""


class _SentinelConnection(SentinelManagedConnection):
    """redis-py's Sentinel connection, minus one trap: unlike its plain `Connection`, it keeps a
    connection whose read was interrupted (RQ's SIGTERM handler or job timeout raising inside
    a blocking call), reply still unread, and the next command on it reads that stale reply
    (seen as "Wrong number of response items" when a worker stopped). Disconnect instead."""

    def read_response(
        self,
        disable_decoding: bool = False,
        *,
        timeout: float | object = _UNSET,
        disconnect_on_error: bool | None = True,
        push_request: bool | None = False,
    ) -> Any:
        return super().read_response(
            disable_decoding,
            timeout=timeout,
            disconnect_on_error=disconnect_on_error,
            push_request=push_request,
        )


def _options(retries: int) -> dict[str, Any]:
    # RQ stores zlib-compressed bytes: no decode_responses. health_check_interval
    # revalidates pooled connections that sat idle across a Redis restart.
    return {
        "health_check_interval": 30,
        "socket_connect_timeout": 2,
        "socket_timeout": 30,
        "retry": Retry(ExponentialWithJitterBackoff(base=0.05, cap=0.5), retries=retries),
    }


def connect_redis(url: str, *, patient: bool = False) -> Redis:
    """A client for one Redis at `url` (`redis://…`, `unix://…`)."""
    return Redis.from_url(url, **_options(_WORKER_RETRIES if patient else _API_RETRIES))


def redis_configured(settings: Settings) -> bool:
    """Whether the settings name a Redis (a URL or Sentinels); else `trackhouse up` starts one."""
    return bool(settings.redis_sentinels or settings.redis_url)


def describe_redis(settings: Settings) -> str:
    """Where the settings point, for logs, `trackhouse status` and the mounted rq-dashboard
    (which reads `redis+sentinel://` URLs); no Sentinel password."""
    if settings.redis_sentinels:
        return f"redis+sentinel://{','.join(settings.redis_sentinels)}/{settings.redis_sentinel_master}/0"
    return settings.redis_url or ""


def connect(settings: Settings, *, patient: bool = False) -> Redis:
    """The configured Redis: through the Sentinels when set, else `REDIS_URL`.
    `patient`: workers (retry through a failover) rather than the API (fail fast)."""
    if not settings.redis_sentinels:
        if not settings.redis_url:
            raise ValueError("no Redis configured: set TRACKHOUSE_REDIS_URL or TRACKHOUSE_REDIS_SENTINELS")
        return connect_redis(settings.redis_url, patient=patient)
    password, nodes = settings.redis_sentinel_password, settings.redis_password
    sentinel = Sentinel(  # type: ignore[no-untyped-call]
        [_host_port(address) for address in settings.redis_sentinels],
        password=nodes.get_secret_value() if nodes else None,
        sentinel_kwargs={
            "password": password.get_secret_value() if password else None,
            "socket_connect_timeout": 0.5,
            "socket_timeout": 0.5,
        },
        **_options(_WORKER_RETRIES if patient else _API_RETRIES),
    )
    return cast(
        Redis,
        sentinel.master_for(  # type: ignore[no-untyped-call]
            settings.redis_sentinel_master, redis_class=Redis, connection_class=_SentinelConnection
        ),
    )


class ReplicasBehind(TimeoutError):
    """Fewer replicas than required confirmed the writes in time: not acknowledged (yet)."""

    def __init__(self, acknowledged: int, wanted: int) -> None:
        super().__init__(f"event queue not replicated in time ({acknowledged} of {wanted} replicas)")


REPLICATION_BARRIER = "trackhouse:replication-barrier"


def require_replicas(redis: Redis, replicas: int, timeout_ms: int) -> None:
    """Return once `replicas` replicas hold every write this client made so far; raise
    `ReplicasBehind` if they do not within `timeout_ms`.

    `WAIT` vouches for the writes of the connection it runs on, and a pool may hand it
    another connection than the one that wrote. So it writes a marker first, in the same
    pipeline (one connection): the replication stream is ordered, so a replica that holds
    the marker holds everything the primary had acknowledged before it."""
    with redis.pipeline(transaction=False) as pipe:
        pipe.incr(REPLICATION_BARRIER)
        pipe.wait(replicas, timeout_ms)
        _, acknowledged = pipe.execute()
    if int(acknowledged) < replicas:
        raise ReplicasBehind(int(acknowledged), replicas)


def _host_port(address: str) -> tuple[str, int]:
    host, _, port = address.rpartition(":")
    return host.strip("[]"), int(port)
