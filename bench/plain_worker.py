"""The plain design's worker: an RQ SimpleWorker running bench.plain_jobs.insert_event.

`python -m bench.plain_worker` with BENCH_REDIS_URL, BENCH_QUEUE, BENCH_CLICKHOUSE_URL,
BENCH_DATABASE. It owns the chDB engine of its data directory; SIGTERM is RQ's warm stop
(finish the current job, then exit).
"""

from __future__ import annotations

import os

from redis import Redis
from rq import Queue
from rq.serializers import JSONSerializer
from rq.worker import SimpleWorker

from bench.plain_jobs import bind
from shared.store.client import open_client
from shared.store.migrate import migrate
from worker.writer import EventWriter


def main() -> None:
    database = os.environ.get("BENCH_DATABASE", "trackhouse")
    client = open_client(os.environ["BENCH_CLICKHOUSE_URL"])
    migrate(client, database)
    bind(EventWriter(client, database))
    redis = Redis.from_url(os.environ["BENCH_REDIS_URL"])
    queue = Queue(os.environ.get("BENCH_QUEUE", "bench-plain"), connection=redis, serializer=JSONSerializer)
    worker = SimpleWorker([queue], connection=redis, serializer=JSONSerializer)
    worker.work(logging_level="WARNING")


if __name__ == "__main__":
    main()
