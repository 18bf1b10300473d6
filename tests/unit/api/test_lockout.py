"""The failed-key lockout counts a client as the ingestion limiter does: IPv6 by /64."""

from __future__ import annotations

from api.lockout import MAX_FAILURES, WINDOW_SECONDS, Lockout


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_guesses_from_addresses_of_one_ipv6_64_share_one_count() -> None:
    lockout = Lockout(Clock())
    addresses = [f"2001:db8:1:2::{i:x}" for i in range(1, 5)]  # four addresses of one /64
    for i in range(MAX_FAILURES):
        assert lockout.retry_after(addresses[i % 4]) is None
        lockout.failed(addresses[i % 4])
    assert all(lockout.retry_after(a) is not None for a in addresses)
    assert lockout.retry_after("2001:db8:1:2:ffff:ffff:ffff:ffff") is not None  # the rest of it too
    assert lockout.retry_after("2001:db8:1:3::1") is None  # the next /64 is another client


def test_ipv4_clients_are_counted_apart_and_the_window_ends() -> None:
    clock = Clock()
    lockout = Lockout(clock)
    for _ in range(MAX_FAILURES):
        lockout.failed("203.0.113.7")
    assert lockout.retry_after("203.0.113.7") is not None
    assert lockout.retry_after("203.0.113.8") is None
    assert lockout.retry_after("::ffff:203.0.113.7") is not None  # the same host, IPv4-mapped
    clock.now += WINDOW_SECONDS
    assert lockout.retry_after("203.0.113.7") is None


def test_one_failure_short_of_the_limit_is_not_locked() -> None:
    lockout = Lockout(Clock())
    for _ in range(MAX_FAILURES - 1):
        lockout.failed("2001:db8::1")
    assert lockout.retry_after("2001:db8::2") is None
