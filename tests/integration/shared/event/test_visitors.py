"""Sessions (a Lua script) and daily salts against a real redis-server."""

from __future__ import annotations

import threading
from datetime import UTC, date, datetime

import pytest
from redis import Redis

from shared.event.visitors import DailySalt, assign_sessions, session_key
from shared.queue.connect import connect_redis
from shared.queue.redis_server import RedisServer

pytestmark = pytest.mark.integration

T0 = 1_900_000_000_000  # ms
MINUTE = 60_000


class Ids:
    """Deterministic candidates (`s1`, `s2`, ...), so a test can name the session it expects."""

    def __init__(self, prefix: str = "s") -> None:
        self.prefix, self.drawn = prefix, 0

    def __call__(self) -> str:
        self.drawn += 1
        return f"{self.prefix}{self.drawn}"


def command_calls(redis: Redis) -> dict[str, int]:
    stats = redis.info("commandstats")
    return {name.removeprefix("cmdstat_"): int(stat["calls"]) for name, stat in stats.items()}


def commands_sent(redis: Redis, before: dict[str, int]) -> dict[str, int]:
    after = command_calls(redis)
    sent = {name: calls - before.get(name, 0) for name, calls in after.items() if name != "info"}
    return {name: calls for name, calls in sent.items() if calls}


def test_visits_within_the_idle_window_share_a_session(real_redis: Redis) -> None:
    visits = [("v", T0), ("v", T0 + 10 * MINUTE), ("v", T0 + 40 * MINUTE), ("v", T0 + 70 * MINUTE)]
    # Each gap is 30 minutes or less from the previous event, though the last is 70 from the first.
    assert assign_sessions(real_redis, visits, new_id=Ids()) == ["s1"] * 4


def test_a_gap_longer_than_the_window_starts_a_session(real_redis: Redis) -> None:
    visits = [("v", T0), ("v", T0 + 30 * MINUTE), ("v", T0 + 61 * MINUTE), ("v", T0 + 62 * MINUTE)]
    assert assign_sessions(real_redis, visits, new_id=Ids()) == ["s1", "s1", "s2", "s2"]


def test_visits_are_ordered_by_time_within_a_call(real_redis: Redis) -> None:
    visits = [("v", T0 + 40 * MINUTE), ("v", T0), ("v", T0 + 20 * MINUTE), ("v", T0 + 90 * MINUTE)]
    sessions = assign_sessions(real_redis, visits, new_id=Ids())
    assert sessions[0] == sessions[1] == sessions[2] != sessions[3]


def test_interleaved_visitors_get_their_own_sessions(real_redis: Redis) -> None:
    visits = [("a", T0), ("b", T0 + 1), ("a", T0 + MINUTE), ("b", T0 + MINUTE + 1), ("c", T0 + 2)]
    sessions = assign_sessions(real_redis, visits)
    assert sessions[0] == sessions[2] and sessions[1] == sessions[3]
    assert len({sessions[0], sessions[1], sessions[4]}) == 3


def test_the_next_job_continues_the_session(real_redis: Redis) -> None:
    first = assign_sessions(real_redis, [("v", T0), ("w", T0)])
    second = assign_sessions(real_redis, [("v", T0 + 29 * MINUTE), ("w", T0 + 31 * MINUTE)])
    assert second[0] == first[0]
    assert second[1] != first[1]
    third = assign_sessions(real_redis, [("w", T0 + 35 * MINUTE)])
    assert third == [second[1]]


def test_state_expires_after_the_idle_window(real_redis: Redis) -> None:
    assign_sessions(real_redis, [("v", T0)])
    assert 0 < real_redis.ttl(session_key("v")) <= 1800
    assign_sessions(real_redis, [("w", T0)], idle_seconds=60)
    assert 0 < real_redis.ttl(session_key("w")) <= 60


def test_late_events_within_the_window_join_the_session(real_redis: Redis) -> None:
    [live] = assign_sessions(real_redis, [("v", T0 + 60 * MINUTE)])
    late = assign_sessions(real_redis, [("v", T0 + 35 * MINUTE), ("v", T0 + 59 * MINUTE)])
    assert late == [live, live]
    assert real_redis.get(session_key("v")) == f"{live}:{T0 + 60 * MINUTE}".encode()


def test_much_older_events_get_their_own_session_and_leave_the_state(real_redis: Redis) -> None:
    [live] = assign_sessions(real_redis, [("v", T0 + 120 * MINUTE)], new_id=Ids("live"))
    late = assign_sessions(
        real_redis,
        [("v", T0), ("v", T0 + 5 * MINUTE), ("v", T0 + 60 * MINUTE), ("v", T0 + 100 * MINUTE)],
        new_id=Ids("old"),
    )
    # Two old sessions (55 minutes apart), then one within 30 minutes of the live session.
    assert late == ["old1", "old1", "old2", live]
    assert real_redis.get(session_key("v")) == f"{live}:{T0 + 120 * MINUTE}".encode()
    assert assign_sessions(real_redis, [("v", T0 + 125 * MINUTE)]) == [live]


def test_one_round_trip_per_call(real_redis: Redis) -> None:
    visits = [(f"v{i % 300}", T0 + i * 1000) for i in range(1000)]
    assign_sessions(real_redis, visits[:1])  # the first call also loads the script
    before = command_calls(real_redis)
    assign_sessions(real_redis, visits)
    # The counts include the script's own GET and SET of each of the 300 visitors.
    assert commands_sent(real_redis, before) == {"evalsha": 1, "get": 300, "set": 300}
    before = command_calls(real_redis)
    assign_sessions(real_redis, [(f"x{i}", T0) for i in range(1000)])
    assert commands_sent(real_redis, before) == {"evalsha": 1, "get": 1000, "set": 1000}


def test_a_flushed_script_cache_is_reloaded(real_redis: Redis) -> None:
    [first] = assign_sessions(real_redis, [("v", T0)])
    real_redis.script_flush()
    assert assign_sessions(real_redis, [("v", T0 + MINUTE)]) == [first]


def test_concurrent_jobs_do_not_split_a_session(redis_server: RedisServer, real_redis: Redis) -> None:
    # Two workers, each with its own connection, see events of the same visitors at once.
    workers = [connect_redis(redis_server.url) for _ in range(2)]
    visitors = [f"v{i}" for i in range(200)]
    results: list[list[str]] = [[], []]
    barrier = threading.Barrier(2)

    def work(worker: int) -> None:
        barrier.wait()
        for visitor in visitors:
            [session] = assign_sessions(workers[worker], [(visitor, T0 + worker * 1000)])
            results[worker].append(session)

    threads = [threading.Thread(target=work, args=(worker,)) for worker in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for client in workers:
        client.close()
    assert results[0] == results[1]
    assert len(set(results[0])) == len(visitors)


def test_decoding_clients_get_the_same_answers(redis_server: RedisServer, real_redis: Redis) -> None:
    decoding = Redis.from_url(redis_server.url, decode_responses=True)
    try:
        [session] = assign_sessions(real_redis, [("v", T0)])
        assert assign_sessions(decoding, [("v", T0 + MINUTE)]) == [session]
        day = date(2030, 5, 17)
        salts = [
            DailySalt(client, clock=lambda: datetime(2030, 5, 17, 12, tzinfo=UTC))
            for client in (decoding, real_redis)
        ]
        assert salts[0].for_day(day) == salts[1].for_day(day)
    finally:
        decoding.close()


def test_salt_is_shared_and_expires_on_a_real_server(redis_server: RedisServer, real_redis: Redis) -> None:
    day = datetime.now(UTC).date()
    other = connect_redis(redis_server.url)
    try:
        assert DailySalt(real_redis).for_day(day) == DailySalt(other).for_day(day)
    finally:
        other.close()
    assert 0 < real_redis.ttl(f"trackhouse:salt:{day.isoformat()}") <= 2 * 86400
