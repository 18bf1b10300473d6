"""Merging queued jobs into one insert when the queue is deep.

ClickHouse wants few large inserts (chDB pays ~8 ms per insert whatever its size), while
the API's group commit makes jobs only as large as the traffic allows. So a worker running
job A claims the *fresh* jobs waiting at the head of the queue (never started, so never
partly stored) up to `insert_max_rows` events, and stores them all in A's insert.

The claim is what keeps retries idempotent. It is made once, atomically (Lua), and
recorded under A's id before anything is inserted; every later attempt of A (a retry, a
recovery after a crash, a requeue from the dashboard) finds the record and rebuilds the
very same rows, so the insert carries the same deduplication token (A's id) and
ClickHouse drops it if an earlier attempt got through. Claimed jobs leave the queue but
keep their hashes until A succeeds; if A ends in the FailedJobRegistry, they wait with it
(listed in A's meta, `merged`) and are stored when A is requeued.
"""

from __future__ import annotations

import hashlib
from typing import Any

from redis import Redis
from rq import Queue
from rq.job import Job
from rq.registry import FailedJobRegistry

from shared import stats
from shared.queue.columnar import unpack
from shared.queue.serializer import OrjsonSerializer
from worker.allowlist import refusal

CLAIM_PREFIX = "trackhouse:merge:"

OWNER_PREFIX = CLAIM_PREFIX + "by:"
"""`<prefix><id>` -> the id of the job that claimed job <id> (lives as long as its claim)."""

STORED_PREFIX = "trackhouse:stored:"
"""`<prefix><id>`: job <id> was stored (alone or merged). A late second entry of it, from an
enqueue that Redis ran but whose reply a restart lost and that redis-py retried after the first
copy was stored, is then dropped instead of stored again under another token."""

STORED_TTL_SECONDS = 300
"""Far longer than the API's enqueue retries (under a second) or a reply's socket timeout."""

# KEYS[1] queue list, KEYS[2] claim record of the running job, KEYS[3] its owner marker.
# ARGV[1] events budget, ARGV[2] job key prefix, ARGV[3] claim key prefix, ARGV[4] record TTL,
# ARGV[5] the running job's id, ARGV[6] owner marker prefix, ARGV[7] stored marker prefix.
# Takes ids from the head while they are fresh (no claim record of their own: a job that
# ran before may have stored its rows under its own token) and fit the budget.
# An id can be queued twice: redis-py retries an enqueue whose reply a Redis restart lost,
# after Redis had run it. So a second entry of the running job or of a job claimed by anyone
# is dropped, and a running job that another one claimed returns '@<owner>' (its rows are
# the owner's to store).
_CLAIM = """
if redis.call('EXISTS', ARGV[7] .. ARGV[5]) == 1 then return '!' end
local owner = redis.call('GET', KEYS[3])
if owner and owner ~= ARGV[5] then return '@' .. owner end
local existing = redis.call('GET', KEYS[2])
if existing then return existing end
local budget = tonumber(ARGV[1])
local ttl = tonumber(ARGV[4])
local claimed = {}
while budget > 0 do
  local id = redis.call('LINDEX', KEYS[1], 0)
  if not id then break end
  if id == ARGV[5] or redis.call('EXISTS', ARGV[6] .. id) == 1 or redis.call('EXISTS', ARGV[7] .. id) == 1 then
    redis.call('LPOP', KEYS[1])  -- a second entry of a job some insert holds or stored
  else
    if redis.call('EXISTS', ARGV[3] .. id) == 1 then break end
    local n = tonumber(string.match(id, '%-n(%d+)$')) or 1
    if n > budget then break end
    redis.call('LPOP', KEYS[1])
    if redis.call('EXISTS', ARGV[2] .. id) == 1 then
      -- A claimed job lives as long as the record naming it, never longer (no orphans).
      redis.call('EXPIRE', ARGV[2] .. id, ttl)
      redis.call('SET', ARGV[6] .. id, ARGV[5], 'EX', ttl)
      claimed[#claimed + 1] = id
      budget = budget - n
    end
  end
end
local record = table.concat(claimed, ',')
redis.call('SET', KEYS[2], record, 'EX', ttl)
return record
"""


class AlreadyStored(Exception):
    """The running job's id was queued again after its rows were stored: nothing to do."""


class ClaimedElsewhere(Exception):
    """The running job's id was queued twice and another job claimed it: that one stores it."""

    def __init__(self, owner: str) -> None:
        super().__init__(f"claimed by job {owner}")
        self.owner = owner


def insert_token(job: Job, merged_ids: list[str]) -> str:
    """The deduplication token of `job`'s insert. It names the claimed set too: should a claim
    record ever expire and a later attempt claim other jobs, the token differs, so ClickHouse
    cannot mistake new rows for a repeat and drop them."""
    digest = hashlib.blake2b(",".join(merged_ids).encode(), digest_size=8).hexdigest()
    return f"{job.id}:{digest}"


def claim(job: Job, queue_key: str, budget_events: int, ttl_seconds: int) -> list[str]:
    """Ids of the jobs merged into `job`: claimed now, or as recorded by an earlier attempt.
    Raises ClaimedElsewhere when another job's insert holds `job` (a second queue entry)."""
    redis: Redis = job.connection
    record = redis.eval(
        _CLAIM,
        3,
        queue_key,
        CLAIM_PREFIX + job.id,
        OWNER_PREFIX + job.id,
        max(budget_events, 0),
        Job.redis_job_namespace_prefix,
        CLAIM_PREFIX,
        ttl_seconds,
        job.id,
        OWNER_PREFIX,
        STORED_PREFIX,
    )
    text = record.decode() if isinstance(record, bytes) else str(record)
    if text == "!":
        raise AlreadyStored(job.id)
    if text.startswith("@"):
        raise ClaimedElsewhere(text[1:])
    return list(dict.fromkeys(job_id for job_id in text.split(",") if job_id and job_id != job.id))


Batches = dict[tuple[str, ...], list[list[Any]]]
"""Column set -> one list of values per column."""


def gather(job: Job, merged_ids: list[str]) -> tuple[Batches, list[Job]]:
    """`job`'s data and the merged jobs' data, grouped by column set (one insert each:
    jobs queued by another release may name other columns), and the merged jobs whose data
    cannot be read (not our JSON: e.g. written by something else into our queue)."""
    batches: Batches = {}
    unreadable: list[Job] = []
    jobs = [job, *Job.fetch_many(merged_ids, connection=job.connection, serializer=OrjsonSerializer)]
    for each in jobs:
        if each is None:  # deleted meanwhile (e.g. by hand from the dashboard)
            continue
        try:
            columns, entries = each.args
        except Exception:  # never unpickled: the serializer only reads JSON
            if each is job:
                raise  # the running job itself: RQ records the failure
            unreadable.append(each)
            continue
        if each is not job and refusal(each) is not None:  # not ours (worker.allowlist): not stored
            unreadable.append(each)
            continue
        into = batches.setdefault(tuple(columns), [[] for _ in columns])
        for values, entry in zip(into, entries, strict=True):
            values.extend(unpack(entry))
    return batches, unreadable


def dead_letter(queue: Queue, jobs: list[Job]) -> None:
    """Merged jobs that cannot be read go to the FailedJobRegistry, with the reason, instead
    of failing the insert of every readable job merged with them."""
    registry = FailedJobRegistry(queue=queue)
    for unreadable in jobs:
        registry.add(
            unreadable,
            exc_string="trackhouse: job data is not readable JSON or not an insert job; not stored",
        )


def release(job: Job, merged_ids: list[str], stored_rows: int) -> None:
    """After A's insert succeeded: the merged jobs are done; drop them and the record, and
    mark A and them stored (see STORED_PREFIX)."""
    with job.connection.pipeline(transaction=False) as pipe:
        pipe.set(STORED_PREFIX + job.id, 1, ex=STORED_TTL_SECONDS)
        for job_id in merged_ids:
            pipe.delete(Job.redis_job_namespace_prefix + job_id, OWNER_PREFIX + job_id)
            pipe.set(STORED_PREFIX + job_id, 1, ex=STORED_TTL_SECONDS)
        pipe.delete(CLAIM_PREFIX + job.id)
        stats.record_stored(pipe, stored_rows)
        pipe.execute()
