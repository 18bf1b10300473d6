"""The registry store as every process builds it from the settings."""

from __future__ import annotations

from redis import Redis

from shared.registry.store import RegistryStore
from shared.settings import Settings


def registry_store(redis: Redis, settings: Settings) -> RegistryStore:
    """A change is answered once as many replicas hold it as hold an acknowledged event."""
    return RegistryStore(
        redis,
        min_replicas=settings.redis_min_replicas_ack,
        replica_timeout_ms=settings.redis_replica_ack_timeout_ms,
    )
