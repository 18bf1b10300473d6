"""Rate limits on the ingestion endpoints: per client IP and per write key (token buckets).

Design: the decision is local, the accounting is shared. At ~7,000 requests/s a Redis round
trip per request would cost the event loop about a third of a request's CPU (redis.asyncio
EVALSHA: ~50 us measured, against ~140 us per /track request) and add a round trip of latency
to every 201; with per-IP buckets nearly every request names a key the process has not seen,
so "lease tokens from Redis on a miss" would still be a round trip per request. Instead each process keeps its own token buckets (a dict lookup and a few float
operations per request, no I/O) and, at most every `SYNC_SECONDS`, reports the tokens it took
since the last report to Redis in ONE Lua call made from a background thread. The script
debits the shared bucket of every key reported (Redis's clock, so processes' clocks need not
agree) and returns each one's balance; the process then lowers its local bucket to that
balance. So:
- one process enforces its limits exactly;
- N processes share one budget per key, within what they admit before the next report:
  at most N x burst at first sight of a key, then N x (rate x SYNC_SECONDS + burst / 10);
- a bucket is reported only once it has taken a tenth of its burst, so the many clients
  that send a few events cost Redis nothing;
- Redis down: the reports fail (logged), the local limits still hold (fail open globally,
  never closed: an outage of the limiter must not refuse events).
Buckets idle long enough to be full again are forgotten (in Redis by TTL, locally from the
front of an LRU), so memory follows the number of active clients.
"""

from __future__ import annotations

import ipaddress
import itertools
import logging
import math
import time
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field

from redis import Redis
from starlette.responses import Response

from api.responses import error
from shared.settings import Settings

log = logging.getLogger(__name__)

KEY_PREFIX = "trackhouse:ratelimit:"
SYNC_SECONDS = 0.1
"""How often a process reports to Redis: bounds the cross-process overshoot (see above)."""
MAX_KEYS_PER_SYNC = 5000
"""Keeps one script call short (Redis runs it atomically); the rest go in the next report."""

# KEYS: bucket hashes. ARGV: rate, burst, tokens taken, for each key in turn.
# Returns each bucket's balance (a string: Lua numbers would reach the client as integers).
# The balance may go negative when several processes overshoot together; the debt is capped at
# one burst so a stampede cannot lock a client out for long.
_SYNC = """
local now_parts = redis.call('TIME')
local now = tonumber(now_parts[1]) + tonumber(now_parts[2]) / 1e6
local balances = {}
for i, key in ipairs(KEYS) do
  local rate = tonumber(ARGV[3 * i - 2])
  local burst = tonumber(ARGV[3 * i - 1])
  local taken = tonumber(ARGV[3 * i])
  local stored = redis.call('HMGET', key, 'tokens', 'at')
  local tokens = tonumber(stored[1]) or burst
  local at = tonumber(stored[2]) or now
  tokens = math.max(-burst, math.min(burst, tokens + math.max(0, now - at) * rate) - taken)
  redis.call('HSET', key, 'tokens', tostring(tokens), 'at', tostring(now))
  -- Gone once it would be full again: an absent bucket is a full one.
  redis.call('PEXPIRE', key, math.ceil((burst - tokens) / rate * 1000) + 1000)
  balances[i] = tostring(tokens)
end
return balances
"""


@dataclass(slots=True)
class _Bucket:
    tokens: float
    updated: float
    unreported: int = 0


@dataclass(slots=True)
class _Limit:
    """One kind of limit (per IP, per write key): its rate, burst and this process's buckets."""

    name: str
    rate: float
    burst: int
    buckets: OrderedDict[str, _Bucket] = field(default_factory=OrderedDict)
    """Least recently used first, so idle buckets are forgotten from the front."""
    unreported: dict[str, _Bucket] = field(default_factory=dict)
    """Buckets due in the next report."""
    report_after: int = field(init=False)
    """Tokens a bucket takes before it is reported. Most clients (a visitor sending a few
    events) never get there, so they cost Redis nothing; the price is at most this many
    tokens per process left uncounted by the shared bucket."""

    def __post_init__(self) -> None:
        self.report_after = max(1, self.burst // 10)

    def take(self, key: str, now: float) -> float:
        """0.0 when the request may go (a token taken), else the seconds until it may."""
        bucket = self.buckets.get(key)
        if bucket is None:
            bucket = self.buckets[key] = _Bucket(float(self.burst), now)
        else:
            self.buckets.move_to_end(key)
            bucket.tokens = min(self.burst, bucket.tokens + (now - bucket.updated) * self.rate)
            bucket.updated = now
        if bucket.tokens < 1:
            return (1 - bucket.tokens) / self.rate
        bucket.tokens -= 1
        bucket.unreported += 1
        if bucket.unreported >= self.report_after:
            self.unreported[key] = bucket
        return 0.0

    def forget_idle(self, now: float) -> None:
        buckets = self.buckets
        while buckets:
            key, bucket = next(iter(buckets.items()))
            if (
                bucket.unreported >= self.report_after
                or bucket.tokens + (now - bucket.updated) * self.rate < self.burst
            ):
                break  # due in a report, or not full yet
            del buckets[key]


class RateLimiter:
    def __init__(
        self,
        redis: Redis,
        *,
        ip: tuple[float, int] | None,
        key: tuple[float, int] | None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """`ip` / `key`: (requests per second, burst), or None for no such limit."""
        self.ip = _Limit("ip", *ip) if ip else None
        self.key = _Limit("key", *key) if key else None
        self._own_rates: dict[float, _Limit] = {}
        """Registry keys with a rate of their own, one limit per distinct rate."""
        self._clock = clock
        self._script = redis.register_script(_SYNC)
        # One thread: one report in flight at a time, made off the event loop.
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ratelimit")
        self._in_flight: tuple[Future[list[bytes]], list[_Bucket]] | None = None
        self._last_report = -math.inf
        self._failing = False
        self._closed = False

    @classmethod
    def from_settings(cls, redis: Redis, settings: Settings) -> RateLimiter:
        ip = settings.rate_limit_ip_per_second
        key = settings.rate_limit_key_per_second
        return cls(
            redis,
            ip=(ip, settings.rate_limit_ip_burst) if ip else None,
            key=(key, settings.rate_limit_key_burst) if key else None,
        )

    def take_ip(self, ip: str) -> float:
        """0.0 when a request from `ip` may go, else the seconds until it may. Never waits on Redis."""
        return self._take(self.ip, ip_bucket(ip)) if self.ip is not None else 0.0

    def take_key(self, label: str, rate: float | None = None) -> float:
        """The same for the write key labelled `label` (api.write_access.WriteGrant.label), at
        the key's own `rate` (a burst of one second's worth), else RATE_LIMIT_KEY_PER_SECOND."""
        if rate is not None:
            limit = self._own_rates.get(rate)
            if limit is None:
                limit = self._own_rates[rate] = _Limit("key", rate, max(1, math.ceil(rate)))
            return self._take(limit, label)
        return self._take(self.key, label) if self.key is not None else 0.0

    def _take(self, limit: _Limit, name: str) -> float:
        now = self._clock()
        wait = limit.take(name, now)
        self._report(now)
        return wait

    def _report(self, now: float) -> None:
        if self._in_flight is not None:
            if not self._in_flight[0].done():
                return
            self._settle(*self._in_flight)
            self._in_flight = None
        if now - self._last_report < SYNC_SECONDS or self._closed:
            return
        self._last_report = now
        buckets: list[_Bucket] = []
        keys: list[str] = []
        args: list[float] = []
        for limit in (self.ip, self.key, *self._own_rates.values()):
            if limit is None:
                continue
            limit.forget_idle(now)
            pending = limit.unreported
            room = MAX_KEYS_PER_SYNC - len(keys)
            if len(pending) <= room:
                taken = list(pending.items())
                limit.unreported = {}
            else:  # (popping the first key one by one would be quadratic in CPython's dict)
                taken = list(itertools.islice(pending.items(), room))
                for name, _ in taken:
                    del pending[name]
            for name, bucket in taken:
                buckets.append(bucket)
                keys.append(f"{KEY_PREFIX}{limit.name}:{name}")
                args += (limit.rate, limit.burst, bucket.unreported)
                bucket.unreported = 0
        if keys:
            self._in_flight = (self._executor.submit(self._script, keys, args), buckets)

    def _settle(self, future: Future[list[bytes]], buckets: list[_Bucket]) -> None:
        try:
            balances = future.result()
        except Exception as exc:  # Redis away: local limits still hold
            if not self._failing:
                log.warning("rate limit report to Redis failed (local limits still apply): %s", exc)
            self._failing = True
            return
        self._failing = False
        for bucket, balance in zip(buckets, balances, strict=True):
            # Tokens taken since the report went out are not in Redis's balance yet.
            bucket.tokens = min(bucket.tokens, float(balance) - bucket.unreported)

    def flush(self) -> None:
        """Report now and wait for the answer (tests; a request never waits)."""
        if self._in_flight is not None:
            self._in_flight[0].exception()  # waits
        self._last_report = -math.inf
        self._report(self._clock())
        if self._in_flight is not None:
            self._in_flight[0].exception()
            self._settle(*self._in_flight)
            self._in_flight = None

    def close(self) -> None:
        self._closed = True  # a straggling request must not submit to a shut executor
        self._executor.shutdown(wait=False, cancel_futures=True)


def ip_bucket(ip: str) -> str:
    """The bucket of a client address: IPv6 by /64, the block one subscriber gets (a client
    with a /64 could otherwise take a fresh address, and a fresh bucket, per request)."""
    if ":" not in ip:
        return ip
    try:
        address = ipaddress.IPv6Address(ip)
    except ValueError:
        return ip
    if address.ipv4_mapped is not None:
        return str(address.ipv4_mapped)
    return str(ipaddress.IPv6Network((address, 64), strict=False))


def too_many_requests(wait_seconds: float) -> Response:
    retry_after = max(1, math.ceil(wait_seconds))
    return error(429, "Too many requests: slow down", headers={"Retry-After": str(retry_after)})
