"""Waiting for replicas before an insert, within a bound (`REDIS_MIN_REPLICAS_ACK` > 0).

A worker inserts a job only once `WAIT` confirms that many replicas hold its merge claim (a
claim lost in a failover would give the retry another deduplication token: duplicates). Short
of them the job is refused with `ReplicasBehind`, a Redis fault: the runner gives the attempt
back (`worker.runner.EventWorker`), as for any Redis outage, so a failover does not use up a
job's retries (the old primary takes ~13 s to replicate again, README "Replicated
acknowledgements").

Given back forever, though, a job whose replica never returns (one dead for good, or
`MIN_REPLICAS_ACK` above the replicas there are) would never become a dead letter, and a drain
(a burst worker, retries without interval) would never return. So the refusals of a job are
free only for `REDIS_REPLICA_WAIT_SECONDS` (300 s) from the first of them in a row (recorded in
the job's meta, so every worker and every attempt sees the same start; a passing check clears
it). Past that, each refusal raises `ReplicaWaitExhausted` instead, an ordinary failure: it
spends an attempt, the job is retried on `RETRY_INTERVALS_SECONDS` and ends in the
FailedJobRegistry with the reason if the replicas stay away.

`trackhouse_replica_refusals_total{attempt}` counts the refusals, `given_back` within the
wait, `spent` past it; the alerts TrackhouseWorkerReplicasBehind and
TrackhouseReplicaWaitExhausted (deploy/prometheus/alerts.yml) watch both.
"""

from __future__ import annotations

import logging
import time

from prometheus_client import Counter
from rq.job import Job

from shared.queue.connect import ReplicasBehind, require_replicas

log = logging.getLogger(__name__)

SINCE_META = "replicas_behind_since"
"""Job meta: the wall-clock time (s) of the first refusal of the current run of refusals."""

_refusals = Counter(
    "trackhouse_replica_refusals",
    "Job attempts refused for want of replica acknowledgements (REDIS_MIN_REPLICAS_ACK), by whether "
    "the attempt was given back (within REDIS_REPLICA_WAIT_SECONDS) or spent (past it).",
    ["attempt"],
)
# Both children exist from the start: a rate() over a series born at its first increment misses it.
GIVEN_BACK = _refusals.labels("given_back")
SPENT = _refusals.labels("spent")


class ReplicaWaitExhausted(RuntimeError):
    """The job has been refused for want of replicas for longer than REDIS_REPLICA_WAIT_SECONDS:
    not a Redis fault any more (deliberately not a redis exception), so this attempt counts."""


def require_for_job(job: Job, replicas: int, timeout_ms: int, wait_seconds: float) -> None:
    """Return once `replicas` replicas hold every write so far (the job's claim included).
    Short of them: `ReplicasBehind` (the attempt is given back) while the job's refusals have
    lasted less than `wait_seconds`, else `ReplicaWaitExhausted` (the attempt is spent)."""
    try:
        require_replicas(job.connection, replicas, timeout_ms)
    except ReplicasBehind as behind:
        now = time.time()
        since = job.meta.get(SINCE_META)
        if not isinstance(since, int | float):
            since = job.meta[SINCE_META] = now
            job.save_meta()  # type: ignore[no-untyped-call]
        waited = now - since
        if waited < wait_seconds:
            GIVEN_BACK.inc()
            raise
        SPENT.inc()
        log.error(
            "job %s refused for want of replicas for %.0f s (REDIS_REPLICA_WAIT_SECONDS %g): "
            "this attempt counts against its retries",
            job.id,
            waited,
            wait_seconds,
            extra={"job_id": job.id},
        )
        raise ReplicaWaitExhausted(
            f"{behind}; refused so for {waited:.0f} s, longer than REDIS_REPLICA_WAIT_SECONDS "
            f"({wait_seconds:g} s): attempts are spent now"
        ) from behind
    if SINCE_META in job.meta:  # the replicas are back: a later refusal starts a new wait
        del job.meta[SINCE_META]
        job.save_meta()  # type: ignore[no-untyped-call]
