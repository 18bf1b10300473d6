"""Workers run one function: a job naming any other is refused before anything is imported.

A JSON serializer keeps pickle out, but an RQ job still names its function (and optional
success/failure/stopped callbacks) as dotted paths that the worker imports and calls: a job
written straight into Redis naming `os.mkdir` ran. So before a job runs, `refusal` checks it
against the one shape trackhouse enqueues (`worker.jobs.insert_events(columns, data)`, no
instance, no kwargs, no callbacks), and `dead_letter_refused` fails it into the
FailedJobRegistry with the reason, without RQ's failure path (no retry, no dependents, no
webhooks the job might name).
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from rq import Queue
from rq.exceptions import DeserializationError
from rq.job import Job, JobStatus
from rq.registry import FailedJobRegistry
from rq.results import Result

from shared.queue.jobs import INSERT_EVENTS

log = logging.getLogger(__name__)

ALLOWED_FUNCTIONS = frozenset({INSERT_EVENTS})


def refusal(job: Job) -> str | None:
    """Why `job` must not run, or None when it is one of ours. Reads only the decoded job."""
    try:
        name, instance, args, kwargs = job.func_name, job.instance, job.args, job.kwargs
    except DeserializationError:
        return None  # not JSON: RQ fails it unread (see shared/queue/serializer.py)
    if name not in ALLOWED_FUNCTIONS:
        return f"function {name!r} is not allowed (only {INSERT_EVENTS})"
    if instance is not None or kwargs or not isinstance(args, list | tuple) or len(args) != 2:
        return f"{INSERT_EVENTS} takes exactly (columns, data)"
    callbacks = (job._success_callback_name, job._failure_callback_name, job._stopped_callback_name)
    if any(callbacks):
        return "job callbacks are not allowed"
    return None


def dead_letter_refused(job: Job, queue: Queue, reason: str, *, failure_ttl: int) -> None:
    """Fail `job` as a dead letter with `reason`: off the queue's intermediate list, into the
    FailedJobRegistry; nothing of it is imported or called."""
    reason = f"trackhouse: job refused: {reason}"
    now = datetime.now(UTC)
    job.ended_at = now
    with queue.connection.pipeline() as pipe:
        pipe.lrem(queue.intermediate_queue_key, 1, job.id)
        job.set_status(JobStatus.FAILED, pipeline=pipe)
        FailedJobRegistry(queue=queue).add(job, ttl=failure_ttl, exc_string=reason, pipeline=pipe)
        Result.create_failure(job, failure_ttl, reason, pipeline=pipe, execution_ended_at=now)
        pipe.execute()
    log.warning("%s; dead-lettered %s", reason, job.id, extra={"job_id": job.id})
