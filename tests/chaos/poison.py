"""The poison fault of both chaos runs: a job of 100 events queued straight into Redis (the API
never lets such a value through), one of which the store rejects for its data."""

from __future__ import annotations

from redis import Redis

from shared.queue.jobs import enqueue_rows, events_queue
from shared.settings import Settings
from tests.support.builders import queue_row

BATCH = [f"chaos-poison-batch-{i}" for i in range(100)]
"""The job's event ids: one poison, 99 that must be stored."""


def queue_poison(redis: Redis, settings: Settings) -> str:
    """Queue the job; returns the poison event's id."""
    rows = [queue_row(event_id) for event_id in BATCH]
    rows[37]["time_spent_sec"] = "not a number"  # a value the store rejects
    enqueue_rows(events_queue(redis, settings), rows, settings)
    return str(rows[37]["event_id"])
