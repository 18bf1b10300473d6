"""Jobs a dead worker left behind, given back within seconds instead of RQ's 10 minutes.

A worker takes a job in two steps: it moves the id from the queue to the queue's
*intermediate* list (BLMOVE), then registers it as started and removes it from that list. Killed
after the first step, it leaves the job in neither the queue nor the StartedJobRegistry; killed
after the second, it leaves a started entry nobody renews. RQ finds both only in a worker's
maintenance pass (every 10 minutes), and counts the first as a failed attempt a minute later.
Every worker's scheduler thread runs these each pass (`worker.runner.SchedulerThread`).
"""

from __future__ import annotations

import logging
import time

from redis import Redis
from rq.registry import StartedJobRegistry

from shared.queue.jobs import events_queue
from shared.queue.serializer import OrjsonSerializer
from shared.settings import Settings

log = logging.getLogger(__name__)

STRANDED_AFTER_SECONDS = 10.0
"""A live worker registers a job it moved within milliseconds; one still unregistered after
this long was taken by a worker that died in between."""

# KEYS[1] intermediate list, KEYS[2] queue list; ARGV[1] job id. Back to the head, where it was,
# once: two scheduler threads may find the same job.
_REQUEUE = """
if redis.call('LREM', KEYS[1], 1, ARGV[1]) == 1 then
  redis.call('LPUSH', KEYS[2], ARGV[1])
  return 1
end
return 0
"""


def recover_abandoned(redis: Redis, settings: Settings) -> None:
    """Retry (or dead-letter) jobs whose worker stopped renewing them: RQ's own cleanup of
    lapsed StartedJobRegistry entries (see worker.runner.Keepalive for the lease)."""
    StartedJobRegistry(settings.queue_name, connection=redis, serializer=OrjsonSerializer).cleanup()


def recover_stranded(redis: Redis, settings: Settings) -> list[str]:
    """Put back on the queue the jobs stuck in its intermediate list; returns their ids. They
    never started, so they go back as they were, without spending a retry."""
    queue = events_queue(redis, settings)
    intermediate = queue.intermediate_queue
    taken = intermediate.get_job_ids()
    if not taken:  # the usual case: one LRANGE per pass
        return []
    started = set(queue.started_job_registry.get_job_ids(cleanup=False))
    requeued = []
    for job_id in taken:
        if job_id in started or intermediate.set_first_seen(job_id):  # running, or noticed just now
            continue
        first_seen = intermediate.get_first_seen(job_id)
        if first_seen is None or time.time() - first_seen.timestamp() < STRANDED_AFTER_SECONDS:
            continue
        if redis.eval(_REQUEUE, 2, intermediate.key, queue.key, job_id):
            redis.delete(intermediate.get_first_seen_key(job_id))
            requeued.append(job_id)
            log.warning("job %s was taken by a worker that died before starting it; requeued", job_id)
    return requeued
