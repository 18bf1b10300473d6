"""Rate limits per client IP and per write key, against a real redis-server (the Lua report)."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from prometheus_client import REGISTRY
from redis import Redis

from api.rate_limit import KEY_PREFIX, RateLimiter
from shared.queue.connect import connect_redis
from shared.queue.redis_server import free_port
from shared.settings import Settings
from tests.support.apps import api_client
from tests.support.builders import basic_event

pytestmark = pytest.mark.integration

TRACK = "/api/events/track"
BATCH = "/api/events/batch"
BURST = 3


@pytest.fixture
def limited(settings: Settings) -> Settings:
    return settings.model_copy(
        update={
            "rate_limit_ip_per_second": 2.0,
            "rate_limit_ip_burst": BURST,
            "trusted_proxies": ["10.0.0.0/8"],
        }
    )


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def app_for(settings: Settings, redis: Redis, clock: FakeClock | None = None) -> FastAPI:
    """The app, its limiter on a clock that stands still unless the test moves it (so no bucket
    refills while a slow machine sends the requests: the sequences below are exact)."""
    app = api_client(settings, redis).app
    assert isinstance(app, FastAPI)
    limiter = app.state.trackhouse.limiter
    if limiter is not None:
        limiter._clock = clock or FakeClock()  # the limiter's own seam (RateLimiter(clock=...))
    return app


def client_at(app: FastAPI, ip: str) -> TestClient:
    return TestClient(app, client=(ip, 50000), raise_server_exceptions=False)


def limiter_of(app: FastAPI) -> RateLimiter:
    limiter = app.state.trackhouse.limiter
    assert isinstance(limiter, RateLimiter)
    return limiter


def statuses(client: TestClient, n: int, path: str = TRACK, **kwargs: Any) -> list[int]:
    body: Any = basic_event() if path == TRACK else [basic_event()]
    return [client.post(path, json=body, **kwargs).status_code for _ in range(n)]


def test_burst_beyond_the_limit_gets_429_then_passes_after_retry_after(
    limited: Settings, real_redis: Redis
) -> None:
    clock = FakeClock()
    client = client_at(app_for(limited, real_redis, clock), "203.0.113.7")
    labels = {"endpoint": "track", "reason": "rate_limited"}
    counted = REGISTRY.get_sample_value("trackhouse_events_rejected_total", labels) or 0.0
    assert statuses(client, BURST) == [201] * BURST
    refused = client.post(TRACK, json=basic_event(), headers={"Origin": "https://shop.example"})
    assert refused.status_code == 429
    assert set(refused.json()) == {"error"}
    retry_after = int(refused.headers["retry-after"])
    assert 1 <= retry_after <= 1  # one token at 2/s: half a second, rounded up
    # The page can read it: CORS headers and Retry-After exposed on the 429 too.
    assert refused.headers["access-control-allow-origin"] == "*"
    assert "retry-after" in refused.headers["access-control-expose-headers"].lower()
    assert REGISTRY.get_sample_value("trackhouse_events_rejected_total", labels) == counted + 1
    assert statuses(client, 1, BATCH) == [429]  # one budget for both endpoints
    clock.now += retry_after
    assert statuses(client, 1) == [201]


def test_two_ips_are_limited_independently(limited: Settings, real_redis: Redis) -> None:
    app = app_for(limited, real_redis)
    first, second = client_at(app, "203.0.113.7"), client_at(app, "198.51.100.9")
    assert statuses(first, BURST + 2) == [201] * BURST + [429, 429]
    assert statuses(second, BURST) == [201] * BURST
    assert statuses(second, 1) == [429]


def test_spoofed_forwarded_for_from_an_untrusted_peer_does_not_evade(
    limited: Settings, real_redis: Redis
) -> None:
    client = client_at(app_for(limited, real_redis), "203.0.113.7")  # not in TRUSTED_PROXIES
    codes = [
        client.post(
            TRACK,
            json=basic_event(),
            headers={"X-Forwarded-For": f"192.0.2.{i}", "X-Real-IP": f"192.0.2.{i}"},
        ).status_code
        for i in range(BURST + 3)
    ]
    assert codes == [201] * BURST + [429] * 3


def test_behind_a_trusted_proxy_each_forwarded_client_has_its_own_budget(
    limited: Settings, real_redis: Redis
) -> None:
    proxy = client_at(app_for(limited, real_redis), "10.0.0.2")
    alice, bob = {"X-Forwarded-For": "192.0.2.1"}, {"X-Forwarded-For": "192.0.2.2"}
    assert statuses(proxy, BURST + 1, headers=alice) == [201] * BURST + [429]
    assert statuses(proxy, BURST, headers=bob) == [201] * BURST
    # A client prepending a fake hop is still itself: XFF is read from the right.
    assert statuses(proxy, 1, headers={"X-Forwarded-For": "6.6.6.6, 192.0.2.1"}) == [429]


def test_a_client_line_before_the_proxys_own_does_not_evade(limited: Settings, real_redis: Redis) -> None:
    # The reported bypass: HAProxy appends its own X-Forwarded-For line; the client's came first
    # and was the only one read, so a fresh fake address each time passed 6 of 6 after a 429.
    proxy = client_at(app_for(limited, real_redis), "10.0.0.2")
    alice = [("X-Forwarded-For", "192.0.2.1")]
    assert statuses(proxy, BURST + 1, headers=alice) == [201] * BURST + [429]
    codes = [
        proxy.post(TRACK, json=basic_event(), headers=[("X-Forwarded-For", f"6.6.6.{i}"), *alice]).status_code
        for i in range(6)
    ]
    assert codes == [429] * 6


def test_ipv6_clients_are_limited_per_64(limited: Settings, real_redis: Redis) -> None:
    app = app_for(limited, real_redis)
    codes = [
        client_at(app, f"2001:db8:0:1::{i}").post(TRACK, json=basic_event()).status_code for i in range(1, 6)
    ]
    assert codes == [201] * BURST + [429, 429]
    assert statuses(client_at(app, "2001:db8:0:2::1"), 1) == [201]


def test_processes_share_one_budget_through_redis(limited: Settings, real_redis: Redis) -> None:
    # Two apps on one Redis stand for two API processes behind a load balancer.
    one, two = app_for(limited, real_redis), app_for(limited, real_redis)
    assert statuses(client_at(one, "203.0.113.7"), BURST) == [201] * BURST
    limiter_of(one).flush()
    other = client_at(two, "203.0.113.7")
    # `two` has not heard of this client yet: its first request passes on the local bucket
    # (no request waits for Redis), and its report brings back the shared balance.
    assert statuses(other, 1) == [201]
    limiter_of(two).flush()
    assert statuses(other, 2) == [429, 429]
    [key] = real_redis.keys(f"{KEY_PREFIX}ip:*")
    assert 0 < real_redis.pttl(key) <= 5000  # forgotten once it would be full again


def test_write_key_limit_spans_ips(limited: Settings, real_redis: Redis) -> None:
    settings = limited.model_copy(
        update={
            "rate_limit_ip_per_second": 0.0,
            "write_keys": {"wk_abc": "proj789", "wk_other": "proj000"},
            "rate_limit_key_per_second": 1.0,
            "rate_limit_key_burst": 2,
        }
    )
    app = app_for(settings, real_redis)
    key = {"X-Write-Key": "wk_abc"}
    assert statuses(client_at(app, "203.0.113.7"), 1, headers=key) == [201]
    assert statuses(client_at(app, "198.51.100.9"), 1, headers=key) == [201]
    assert statuses(client_at(app, "192.0.2.1"), 1, headers=key) == [429]
    assert statuses(client_at(app, "192.0.2.1"), 1, headers={"X-Write-Key": "wk_other"}) == [201]
    # Without a valid key: 401, and no bucket is made for it.
    assert statuses(client_at(app, "192.0.2.1"), 1, headers={"X-Write-Key": "nope"}) == [401]
    limiter_of(app).flush()
    names = [n.decode() if isinstance(n, bytes) else n for n in real_redis.keys(f"{KEY_PREFIX}*")]
    assert len(names) == 2 and not any("wk_" in name for name in names)  # labels, never keys


def test_redis_down_fails_open_to_the_local_limit(caplog: pytest.LogCaptureFixture) -> None:
    dead = connect_redis(f"redis://127.0.0.1:{free_port()}/0")
    limiter = RateLimiter(dead, ip=(2.0, BURST), key=None)
    with caplog.at_level(logging.WARNING, logger="api.rate_limit"):
        waits = [limiter.take_ip("203.0.113.7") for _ in range(BURST + 1)]
        limiter.flush()
    assert waits[:BURST] == [0.0] * BURST and waits[BURST] > 0
    assert "rate limit report to Redis failed" in caplog.text
    limiter.close()
    dead.close()


def test_off_by_default(settings: Settings, real_redis: Redis) -> None:
    app = app_for(settings, real_redis)
    assert app.state.trackhouse.limiter.ip is None and app.state.trackhouse.limiter.key is None
    assert statuses(client_at(app, "203.0.113.7"), 20) == [201] * 20


def test_quiet_clients_cost_redis_nothing(real_redis: Redis) -> None:
    limiter = RateLimiter(real_redis, ip=(1.0, 100), key=None)  # reported after 10 tokens
    for i in range(50):
        assert limiter.take_ip(f"192.0.2.{i}") == 0.0
    limiter.flush()
    assert real_redis.keys(f"{KEY_PREFIX}*") == []
    for _ in range(10):
        limiter.take_ip("192.0.2.200")
    limiter.flush()
    assert real_redis.keys(f"{KEY_PREFIX}*") == [f"{KEY_PREFIX}ip:192.0.2.200".encode()]
    limiter.close()


def test_idle_buckets_are_forgotten(real_redis: Redis) -> None:
    clock = FakeClock()
    limiter = RateLimiter(real_redis, ip=(10.0, 20), key=None, clock=clock)
    for i in range(100):
        limiter.take_ip(f"192.0.2.{i}")
    assert limiter.ip is not None and len(limiter.ip.buckets) == 100
    clock.now += 20 / 10  # full again: nothing left to remember
    limiter.take_ip("198.51.100.1")
    assert list(limiter.ip.buckets) == ["198.51.100.1"]
    limiter.close()
