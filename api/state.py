"""What the routes need from the process, built once by the entry point and stored on the app."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

from fastapi import Request
from redis import Redis

from api.backpressure import Backpressure
from api.client import ClientResolver
from api.group_commit import GroupCommitter
from api.lockout import Lockout
from api.rate_limit import RateLimiter
from api.suppressions import SuppressionCheck
from api.write_access import WriteAccess
from shared.event.enrich import Enricher
from shared.settings import Settings


@dataclass
class AppState:
    settings: Settings
    redis: Redis
    committer: GroupCommitter
    resolver: ClientResolver
    enricher: Enricher
    access: WriteAccess
    """Who may send events for which project (api.write_access): registry and environment keys."""
    suppressions: SuppressionCheck | None = None
    """Erased subjects whose later events are dropped (api.suppressions)."""
    limiter: RateLimiter | None = None
    """Ingestion rate limits (api.rate_limit)."""
    backpressure: Backpressure | None = None
    admin_lockout: Lockout = field(default_factory=Lockout)
    """Failed admin-token attempts per client (api.auth)."""
    readiness: tuple[float, dict[str, str]] | None = None
    """The last /readyz check (monotonic time, checks), answered again for a second."""
    readiness_lock: threading.Lock = field(default_factory=threading.Lock)


def app_state(request: Request) -> AppState:
    state: AppState = request.app.state.trackhouse
    return state
