"""Visitor and session ids without cookies, as Plausible and Umami derive them.

- `DailySalt`: 32 random bytes per UTC day, shared by every process through Redis and gone
  from it at the end of the next day. Without the salt nobody can recompute a visitor id
  from an IP address, and ids of different days cannot be linked.
- `visitor_id`: keyed BLAKE2b of (IP, user agent, scope) under the day's salt, UUID-shaped.
- `assign_sessions`: 30-minute idle sessions (Umami's rule) for one job's visits, in one
  Redis round trip (a Lua script), atomic across workers.
"""

from __future__ import annotations

import hashlib
import os
import threading
from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime, time, timedelta

from redis import Redis
from redis.exceptions import NoScriptError

from shared.ids import new_uuid

SALT_BYTES = 32
SESSION_IDLE_SECONDS = 30 * 60
_SALT_KEY = "trackhouse:salt:"
_SESSION_KEY = "trackhouse:session:"


def salt_key(day: date) -> str:
    return f"{_SALT_KEY}{day.isoformat()}"


def session_key(visitor: str) -> str:
    return f"{_SESSION_KEY}{visitor}"


def _utc_now() -> datetime:
    return datetime.now(UTC)


class DailySalt:
    """The salt of each UTC day, created by whichever process asks first (SET NX).

    A day's salt expires at the end of the following day (a TTL of at most 2 days): jobs
    that cross midnight or wait in retries still find yesterday's salt, and older salts
    are gone for good. Each process keeps the salts it fetched in memory until that same
    deadline, so the hot path costs one Redis round trip per process per day.
    """

    def __init__(self, redis: Redis, *, clock: Callable[[], datetime] = _utc_now) -> None:
        self._redis = redis
        self._clock = clock
        self._lock = threading.Lock()
        self._cache: dict[date, tuple[bytes, datetime]] = {}  # day -> (salt, expires at)

    def for_day(self, day: date) -> bytes:
        """Raises ValueError for a day whose salt has expired: its ids can no longer be made."""
        now = self._clock()
        with self._lock:
            cached = self._cache.get(day)
            if cached is not None and now < cached[1]:
                return cached[0]
            expires_at = datetime.combine(day + timedelta(days=2), time(), UTC)
            ttl = int((expires_at - now).total_seconds())
            if ttl <= 0:
                raise ValueError(f"the salt of {day.isoformat()} has expired")
            salt = self._fetch(day, ttl)
            self._cache = {d: entry for d, entry in self._cache.items() if now < entry[1]}
            self._cache[day] = (salt, expires_at)
            return salt

    def _fetch(self, day: date, ttl_seconds: int) -> bytes:
        # Hex, so a client with decode_responses=True reads it too. MULTI: the first process
        # to ask sets it, every other one reads that same value, in one round trip.
        with self._redis.pipeline(transaction=True) as pipe:
            pipe.set(salt_key(day), os.urandom(SALT_BYTES).hex(), nx=True, ex=ttl_seconds)
            pipe.get(salt_key(day))
            _, stored = pipe.execute()
        return bytes.fromhex(_text(stored))


def visitor_id(salt: bytes, ip: str, user_agent: str, scope: str) -> str:
    """Same salt (day), IP, user agent and scope (project or team id) give the same id.

    Fields are length-prefixed, so no choice of characters in one field can shift the
    boundary to the next ("a|b", "c" vs "a", "b|c"). The result carries the version-8
    (custom) UUID bits, so it is a valid UUID wherever one goes.
    """
    digest = hashlib.blake2b(key=salt, digest_size=16)
    for field in (ip, user_agent, scope):
        data = field.encode("utf-8", "surrogatepass")
        digest.update(len(data).to_bytes(4, "big"))
        digest.update(data)
    raw = bytearray(digest.digest())
    raw[6] = (raw[6] & 0x0F) | 0x80  # version 8
    raw[8] = (raw[8] & 0x3F) | 0x80  # RFC 9562 variant
    h = raw.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


# KEYS[i]: visitor i's state, "<session id>:<last event ms>".
# ARGV: idle ms, state TTL s, then per visitor: n, its n event times (ascending), n candidate ids.
# Returns one session id per visit, in ARGV order.
_SESSIONS_LUA = """
local idle = tonumber(ARGV[1])
local ttl = ARGV[2]
local out = {}
local a = 3
for i = 1, #KEYS do
  local n = tonumber(ARGV[a])
  local sid, last_s, last = nil, nil, nil
  local state = redis.call('GET', KEYS[i])
  if state then
    sid, last_s = string.match(state, '^(.*):(%d+)$')
    last = tonumber(last_s)
  end
  local old_sid, old_last = nil, nil
  for j = 1, n do
    local t_s = ARGV[a + j]
    local t = tonumber(t_s)
    local candidate = ARGV[a + n + j]
    if not sid then
      sid, last_s, last = candidate, t_s, t
      out[#out + 1] = sid
    elseif t >= last then
      if t - last > idle then sid = candidate end
      last_s, last = t_s, t
      out[#out + 1] = sid
    elseif last - t <= idle then
      out[#out + 1] = sid
    else
      -- Far older than the stored session: a session of its own (chained with other such
      -- visits of this batch); the stored state does not move back.
      if not old_sid or t - old_last > idle then old_sid = candidate end
      old_last = t
      out[#out + 1] = old_sid
    end
  end
  redis.call('SET', KEYS[i], sid .. ':' .. last_s, 'EX', ttl)
  a = a + 1 + 2 * n
end
return out
"""
_SESSIONS_SHA = hashlib.sha1(_SESSIONS_LUA.encode()).hexdigest()


def assign_sessions(
    redis: Redis,
    visits: Sequence[tuple[str, int]],
    *,
    idle_seconds: int = SESSION_IDLE_SECONDS,
    new_id: Callable[[], str] = new_uuid,
) -> list[str]:
    """A session id per (visitor id, event time in ms), in input order; one Redis round trip.

    A visitor's event within `idle_seconds` after their previous one continues its session;
    a longer gap starts a new one. The last session and event time of each visitor live in
    Redis for `idle_seconds` after their latest job, so the next job continues from there,
    and the script runs atomically, so two workers seeing one visitor cannot split a session.

    Late events: one no more than `idle_seconds` before the stored last event joins that
    session; one further back gets a session of its own (shared with other such events of
    the call that are close together) and leaves the stored state alone: moving it back would
    end the live session early.
    """
    if not visits:
        return []
    by_visitor: dict[str, list[tuple[int, int]]] = {}
    for index, (visitor, event_ms) in enumerate(visits):
        by_visitor.setdefault(visitor, []).append((event_ms, index))
    idle_ms = idle_seconds * 1000
    keys: list[str] = []
    args: list[str | int] = [idle_ms, idle_seconds]
    order: list[int] = []  # input index of each visit, in the order the script answers
    for visitor, group in by_visitor.items():
        group.sort(key=lambda visit: visit[0])  # stable: equal times keep input order
        keys.append(session_key(visitor))
        args.append(len(group))
        args.extend(int(event_ms) for event_ms, _ in group)
        # The script takes a candidate only for a visit that can open a session: the visitor's
        # first of the call, or one more than `idle` after the previous. (Any other visit is
        # within `idle` of its predecessor, so it continues that visit's session, whatever the
        # stored state says.) The rest travel as "": a busy visitor costs no ids, no bytes.
        previous: int | None = None
        for event_ms, _ in group:
            args.append(new_id() if previous is None or event_ms - previous > idle_ms else "")
            previous = event_ms
        order.extend(index for _, index in group)
    try:
        answer = redis.evalsha(_SESSIONS_SHA, len(keys), *keys, *args)
    except NoScriptError:  # first call on this server, or after SCRIPT FLUSH; EVAL caches it
        answer = redis.eval(_SESSIONS_LUA, len(keys), *keys, *args)
    sessions = [""] * len(visits)
    for index, session in zip(order, answer, strict=True):
        sessions[index] = _text(session)
    return sessions


def _text(value: object) -> str:
    if isinstance(value, bytes):
        return value.decode()
    if isinstance(value, str):
        return value
    raise TypeError(f"unexpected reply from Redis: {value!r}")
