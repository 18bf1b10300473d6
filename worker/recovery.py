"""Jobs a dead worker left behind, given back within seconds instead of RQ's 10 minutes.

A worker takes a job in two steps: it moves the id from the queue to the queue's
*intermediate* list (BLMOVE), then registers it as started and removes it from that list. Killed
after the first step, it leaves the job in neither the queue nor the StartedJobRegistry; killed
after the second, it leaves a started entry nobody renews. RQ finds both only in a worker's
maintenance pass (every 10 minutes), and counts the first as a failed attempt a minute later.
Every worker's scheduler thread runs these each pass (`worker.runner.SchedulerThread`).

At start-up, `reclaim_at_startup` does not wait for leases: in the embedded topology the
starting process is the only worker its Redis has ever had, so every started or intermediate
job belongs to the process that died; a starting worker process takes back the jobs of
workers whose registrations have expired (a live worker keeps its registration).
"""

from __future__ import annotations

import logging
import time
from typing import cast

from redis import Redis
from rq.exceptions import NoSuchJobError
from rq.executions import Execution
from rq.job import Job, JobStatus
from rq.registry import StartedJobRegistry
from rq.worker import Worker

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


def recover_stranded(
    redis: Redis, settings: Settings, *, after_seconds: float = STRANDED_AFTER_SECONDS
) -> list[str]:
    """Put back on the queue the jobs stuck in its intermediate list for `after_seconds`; returns
    their ids. They never started, so they go back as they were, without spending a retry."""
    queue = events_queue(redis, settings)
    intermediate = queue.intermediate_queue
    taken = intermediate.get_job_ids()
    if not taken:  # the usual case: one LRANGE per pass
        return []
    started = set(queue.started_job_registry.get_job_ids(cleanup=False))
    requeued = []
    for job_id in taken:
        if job_id in started:
            continue
        if after_seconds > 0:
            if intermediate.set_first_seen(job_id):  # noticed just now
                continue
            first_seen = intermediate.get_first_seen(job_id)
            if first_seen is None or time.time() - first_seen.timestamp() < after_seconds:
                continue
        if redis.eval(_REQUEUE, 2, intermediate.key, queue.key, job_id):
            redis.delete(intermediate.get_first_seen_key(job_id))
            requeued.append(job_id)
            log.warning("job %s was taken by a worker that died before starting it; requeued", job_id)
    return requeued


def reclaim_at_startup(redis: Redis, settings: Settings, *, sole_worker: bool) -> list[str]:
    """Requeue, at the head and at once, the jobs a dead process held; returns their ids.

    `sole_worker` (the embedded topology): every started and intermediate job is dead.
    Otherwise only jobs whose worker's registration has expired are, and the intermediate
    list keeps its lease (a live worker may be between its two steps). A started job spends
    one retry, as RQ counts an abandoned attempt (a job that kills its process every time ends
    as a dead letter instead of a crash loop); it keeps its rows and token: stored once."""
    queue = events_queue(redis, settings)
    registry = queue.started_job_registry
    alive = set() if sole_worker else {worker.name for worker in Worker.all(connection=redis)}
    reclaimed = []
    for entry in cast(list[bytes], redis.zrange(registry.key, 0, -1)):
        execution = Execution.from_composite_key(entry.decode(), redis)
        try:
            job = Job.fetch(execution.job_id, connection=redis, serializer=OrjsonSerializer)
        except NoSuchJobError:
            redis.zrem(registry.key, entry)
            continue
        if job.worker_name in alive:
            continue
        with redis.pipeline() as pipe:
            # Killed after registering the execution but before marking the job started, it is
            # still "queued" and in the intermediate list: recover_stranded puts it back.
            if job.get_status(refresh=False) == JobStatus.STARTED:
                if job.retries_left:
                    job.retries_left -= 1
                    # First on the pipeline: RQ opens its transaction there.
                    queue.enqueue_job(job, pipeline=pipe, at_front=True)
                    reclaimed.append(job.id)
                else:
                    job.set_status(JobStatus.FAILED, pipeline=pipe)
                    queue.failed_job_registry.add(
                        job,
                        ttl=settings.failure_ttl_seconds,
                        exc_string="its worker died with it, on its last attempt",
                        pipeline=pipe,
                    )
                pipe.lrem(queue.intermediate_queue_key, 0, job.id)  # killed before RQ removed it
            execution.delete(job, pipe)  # its record, registry entries and worker set
            pipe.execute()
    if sole_worker:
        reclaimed += recover_stranded(redis, settings, after_seconds=0)
    if reclaimed:
        log.warning("took back %d job(s) a dead worker held: %s", len(reclaimed), ", ".join(reclaimed))
    return reclaimed
