"""Daily salts and visitor ids against fakeredis. Sessions need Lua, which fakeredis runs only
with `lupa` installed: they are tested against a real Redis in tests/integration/test_visitors.py."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any

import fakeredis
import pytest
from redis import Redis

from shared.event.visitors import DailySalt, assign_sessions, salt_key, visitor_id

DAY = date(2030, 5, 17)
NOON = datetime(2030, 5, 17, 12, tzinfo=UTC)


def fixed(moment: datetime) -> Callable[[], datetime]:
    return lambda: moment


def count_round_trips(redis: Redis, monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Counts commands and pipelines sent through `redis` (each one a round trip)."""
    count = [0]

    def counted(method: Callable[..., Any]) -> Callable[..., Any]:
        def call(*args: Any, **kwargs: Any) -> Any:
            count[0] += 1
            return method(*args, **kwargs)

        return call

    monkeypatch.setattr(redis, "execute_command", counted(redis.execute_command))
    monkeypatch.setattr(redis, "pipeline", counted(redis.pipeline))
    return count


def test_salt_is_stable_within_a_day(fake_redis: Redis) -> None:
    morning = DailySalt(fake_redis, clock=fixed(NOON - timedelta(hours=11)))
    evening = DailySalt(fake_redis, clock=fixed(NOON + timedelta(hours=11)))
    salt = morning.for_day(DAY)
    assert len(salt) == 32
    assert morning.for_day(DAY) == evening.for_day(DAY) == salt


def test_salt_differs_across_days(fake_redis: Redis) -> None:
    salts = DailySalt(fake_redis, clock=fixed(NOON))
    assert salts.for_day(DAY) != salts.for_day(DAY + timedelta(days=1))
    assert salts.for_day(DAY) != salts.for_day(DAY - timedelta(days=1))


def test_processes_share_the_first_salt_set(fake_redis: Redis) -> None:
    first, second = DailySalt(fake_redis, clock=fixed(NOON)), DailySalt(fake_redis, clock=fixed(NOON))
    assert first.for_day(DAY) == second.for_day(DAY)
    assert fake_redis.get(salt_key(DAY)) == first.for_day(DAY).hex().encode()


def test_salt_expires_at_the_end_of_the_next_day(fake_redis: Redis) -> None:
    DailySalt(fake_redis, clock=fixed(NOON)).for_day(DAY)
    # Noon of its day: 12 h left of it, then all of the next day.
    assert fake_redis.ttl(salt_key(DAY)) == 36 * 3600
    DailySalt(fake_redis, clock=fixed(datetime(2030, 5, 18, tzinfo=UTC))).for_day(DAY + timedelta(days=1))
    assert 0 < fake_redis.ttl(salt_key(DAY + timedelta(days=1))) <= 2 * 86400


def test_expired_salts_cannot_be_recreated(fake_redis: Redis) -> None:
    salts = DailySalt(fake_redis, clock=fixed(NOON))
    assert salts.for_day(DAY - timedelta(days=1))  # yesterday: still there for late jobs
    with pytest.raises(ValueError, match="2030-05-15"):
        salts.for_day(DAY - timedelta(days=2))
    assert fake_redis.get(salt_key(DAY - timedelta(days=2))) is None


def test_salt_is_fetched_once_per_day(fake_redis: Redis, monkeypatch: pytest.MonkeyPatch) -> None:
    round_trips = count_round_trips(fake_redis, monkeypatch)
    now = [NOON]
    salts = DailySalt(fake_redis, clock=lambda: now[0])
    today = salts.for_day(DAY)
    assert all(salts.for_day(DAY) == today for _ in range(1000))
    assert round_trips[0] == 1
    now[0] += timedelta(days=1)  # the next day: one fetch for it, yesterday's still cached
    salts.for_day(DAY + timedelta(days=1))
    assert salts.for_day(DAY) == today
    assert round_trips[0] == 2


def test_cached_salt_is_dropped_when_it_expires(fake_redis: Redis) -> None:
    now = [NOON]
    salts = DailySalt(fake_redis, clock=lambda: now[0])
    salts.for_day(DAY)
    now[0] += timedelta(days=2)
    with pytest.raises(ValueError):
        salts.for_day(DAY)


def test_salt_from_many_threads_is_one_value(fake_redis: Redis, monkeypatch: pytest.MonkeyPatch) -> None:
    round_trips = count_round_trips(fake_redis, monkeypatch)
    salts = DailySalt(fake_redis, clock=fixed(NOON))
    seen: list[bytes] = []
    barrier = threading.Barrier(8)

    def draw() -> None:
        barrier.wait()
        seen.extend(salts.for_day(DAY) for _ in range(100))

    threads = [threading.Thread(target=draw) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(seen) == 800 and len(set(seen)) == 1
    assert round_trips[0] == 1


def test_salt_reads_with_a_decoding_client() -> None:
    salts = DailySalt(fakeredis.FakeRedis(decode_responses=True), clock=fixed(NOON))
    assert len(salts.for_day(DAY)) == 32


SALT = bytes(range(32))


def test_visitor_id_is_a_uuid() -> None:
    value = visitor_id(SALT, "203.0.113.7", "Mozilla/5.0", "proj789")
    parsed = uuid.UUID(value)
    assert str(parsed) == value and parsed.version == 8 and parsed.variant == uuid.RFC_4122


def test_visitor_id_is_stable_for_the_same_inputs() -> None:
    assert visitor_id(SALT, "203.0.113.7", "Mozilla/5.0", "proj789") == visitor_id(
        bytes(range(32)), "203.0.113.7", "Mozilla/5.0", "proj789"
    )


@pytest.mark.parametrize(
    ("ip", "user_agent", "scope"),
    [
        ("203.0.113.8", "Mozilla/5.0", "proj789"),  # another address
        ("203.0.113.7", "curl/8.0", "proj789"),  # another browser
        ("203.0.113.7", "Mozilla/5.0", "team456"),  # another project or team
    ],
)
def test_visitor_id_changes_with_each_input(ip: str, user_agent: str, scope: str) -> None:
    assert visitor_id(SALT, ip, user_agent, scope) != visitor_id(
        SALT, "203.0.113.7", "Mozilla/5.0", "proj789"
    )


def test_visitor_id_changes_with_the_day() -> None:
    other_day = bytes(reversed(range(32)))
    assert visitor_id(SALT, "203.0.113.7", "Mozilla/5.0", "p") != visitor_id(
        other_day, "203.0.113.7", "Mozilla/5.0", "p"
    )


def test_visitor_id_fields_cannot_bleed_into_each_other() -> None:
    ids = {
        visitor_id(SALT, "1.2.3.4", "a|b", "c"),
        visitor_id(SALT, "1.2.3.4", "a", "b|c"),
        visitor_id(SALT, "1.2.3.4", "a\x00", "c"),
        visitor_id(SALT, "1.2.3.4", "a", "\x00c"),
        visitor_id(SALT, "1.2.3.4a", "", "c"),
    }
    assert len(ids) == 5


def test_no_visits_cost_no_round_trip(fake_redis: Redis, monkeypatch: pytest.MonkeyPatch) -> None:
    round_trips = count_round_trips(fake_redis, monkeypatch)
    assert assign_sessions(fake_redis, []) == []
    assert round_trips[0] == 0
