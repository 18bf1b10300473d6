"""The real stack the chaos run drives: a Redis primary with one replica and three Sentinels
(real redis-server processes, AOF; tests.support.replication), `trackhouse api` and one faulty
worker (tests.chaos.faulty_worker) as separate processes finding the primary through the
Sentinels, with `REDIS_MIN_REPLICAS_ACK=1` as in docker-compose.cluster.yml, and chDB on disk.

One worker process: chDB allows one process per data directory. The harness restarts it
whenever it dies, as docker-compose's restart policy would.
"""

from __future__ import annotations

import json
import signal
import subprocess
import threading
import time
from pathlib import Path

from redis import Redis
from rq import Queue

from shared.queue.connect import connect
from shared.settings import Settings
from tests.chaos.faulty_worker import CONTROL_ENV
from tests.support.processes import child_port, http, query_chdb, spawn, wait_for
from tests.support.replication import MASTER, ReplicatedRedis

QUEUE = Settings.model_fields["queue_name"].default
MIN_REPLICAS_ACK = 1
"""As in docker-compose.cluster.yml: a 201 only once the replica holds the job."""


class ChaosRedis(ReplicatedRedis):
    """A primary, one replica and three Sentinels, plus the faults the harness injects into
    single servers: stopped and started again on their port and AOF, as a supervisor would."""

    def __init__(self, directory: Path, *, appendfsync: str) -> None:
        super().__init__(directory, replicas=1, sentinels=3)
        self.appendfsync = appendfsync

    def _server_args(self, port: int) -> list[str]:
        args = super()._server_args(port)
        args[args.index("--appendfsync") + 1] = self.appendfsync
        return args

    def stop_server(self, port: int, *, kill: bool) -> None:
        process = self._servers.pop(port)
        process.send_signal(signal.SIGKILL if kill else signal.SIGTERM)
        process.wait(timeout=30)

    def start_server(self, port: int, *, replica_of: int | None = None) -> None:
        """Start a stopped server on its port and data; `replica_of`: straight back as that
        primary's replica (its config file would say so), rather than waiting ~10 s for
        the Sentinels to reconfigure a server that comes back calling itself a primary."""
        args = self._server_args(port)
        if replica_of is not None:
            args += ["--replicaof", "127.0.0.1", str(replica_of)]
        self._servers[port] = self._spawn(f"redis-{port}", args)
        wait_for(lambda: self._ping(port), timeout_seconds=30, what=f"redis-server {port} to answer")

    def _ping(self, port: int) -> bool:
        try:
            with Redis(port=port, socket_timeout=1) as client:
                return bool(client.ping())
        except Exception:  # refused while it starts, LOADING while it reads its AOF
            return False


class Stack:
    def __init__(self, directory: Path, *, appendfsync: str = "everysec", api_processes: int = 1) -> None:
        self.directory = directory
        self.api_processes = api_processes
        self.redis_group = ChaosRedis(directory / "redis", appendfsync=appendfsync)
        self.settings = Settings(
            redis_sentinels=self.redis_group.sentinel_addresses, redis_sentinel_master=MASTER
        )
        self.chdb_url = f"chdb://{directory / 'clickhouse'}"
        self.control = directory / "store-fault"
        self.port = child_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.api: subprocess.Popen[bytes] | None = None
        self.worker: subprocess.Popen[bytes] | None = None
        self.worker_starts = 0
        self._supervising = threading.Event()
        self._lock = threading.Lock()
        self._supervisor = threading.Thread(target=self._supervise, name="worker-supervisor", daemon=True)

    @property
    def env(self) -> dict[str, str]:
        return {
            "TRACKHOUSE_REDIS_SENTINELS": json.dumps(self.redis_group.sentinel_addresses),
            "TRACKHOUSE_REDIS_SENTINEL_MASTER": MASTER,
            "TRACKHOUSE_REDIS_MIN_REPLICAS_ACK": str(MIN_REPLICAS_ACK),
            "TRACKHOUSE_CLICKHOUSE_URL": self.chdb_url,
            "TRACKHOUSE_HOST": "127.0.0.1",
            "TRACKHOUSE_PORT": str(self.port),
            "TRACKHOUSE_INSERT_LINGER_MS": "200",
            "TRACKHOUSE_API_PROCESSES": str(self.api_processes),
            CONTROL_ENV: str(self.control),
        }

    def start(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        self.redis_group.start()
        self.start_api()
        self.start_worker()
        self._supervising.set()
        self._supervisor.start()

    def redis(self) -> Redis:
        """A client of whichever server the Sentinels name primary, across failovers."""
        return connect(self.settings, patient=True)

    # --- the API ---
    def start_api(self) -> None:
        self.api = spawn(["cli", "api"], self.env, self.directory / "api.log")
        # /healthz, not /readyz: readiness opens the store, and chDB belongs to the worker.
        wait_for(lambda: self._healthy(), timeout_seconds=60, what="the API to answer /healthz")

    def _healthy(self) -> bool:
        if self.api is not None and self.api.poll() is not None:
            raise AssertionError(f"the API exited ({self.api.returncode}); see {self.directory}/api.log")
        return http("GET", f"{self.base_url}/healthz")[0] == 200

    def restart_api(self) -> int:
        """SIGTERM under load (uvicorn stops accepting, answers what is in flight), then start."""
        assert self.api is not None
        self.api.send_signal(signal.SIGTERM)
        code = self.api.wait(timeout=60)
        self.start_api()
        return code

    # --- the worker ---
    def start_worker(self) -> None:
        with self._lock:
            self.worker = spawn(["tests.chaos.faulty_worker"], self.env, self.directory / "worker.log")
            self.worker_starts += 1

    def kill_worker(self) -> None:
        """SIGKILL; the supervisor starts the next one."""
        with self._lock:
            if self.worker is not None and self.worker.poll() is None:
                self.worker.send_signal(signal.SIGKILL)
                self.worker.wait(timeout=30)

    def _supervise(self) -> None:
        while self._supervising.is_set():
            with self._lock:
                dead = self.worker is not None and self.worker.poll() is not None
            if dead and self._supervising.is_set():
                self.start_worker()
            time.sleep(0.2)

    def stop_worker(self) -> None:
        self._supervising.clear()
        self._supervisor.join(timeout=5)
        with self._lock:
            if self.worker is not None and self.worker.poll() is None:
                self.worker.send_signal(signal.SIGTERM)
                self.worker.wait(timeout=180)

    # --- Redis ---
    def restart_redis(self, *, kill: bool) -> float:
        """Stop the primary (SIGTERM, or SIGKILL as a crash), start it on the same AOF and port;
        returns how long it was away (under the Sentinels' 1 s, so usually no failover)."""
        started = time.monotonic()
        primary = self.redis_group.current_primary()
        self.redis_group.stop_server(primary, kill=kill)
        self.redis_group.start_server(primary)
        return time.monotonic() - started

    def redis_outage(self, seconds: float) -> None:
        """Redis gone for `seconds` (primary and replica SIGKILLed, so nothing to fail over to;
        then back on their AOF): longer than any client retry hides, so the API must answer 5xx
        meanwhile, and only 201 what Redis acknowledged."""
        primary = self.redis_group.current_primary()
        replicas = [port for port in self.redis_group.ports if port != primary]
        for port in (primary, *replicas):
            self.redis_group.stop_server(port, kill=True)
        time.sleep(seconds)
        self.redis_group.start_server(primary)
        for port in replicas:
            self.redis_group.start_server(port, replica_of=primary)

    def failover(self) -> tuple[float, float]:
        """SIGKILL the primary; once the Sentinels have promoted the replica, start the old
        primary again as it was configured (a primary), as a supervisor would: the Sentinels
        turn it into the new primary's replica. Returns (seconds to the promotion, seconds
        until the old primary replicates), both from the kill; until then the API answers 503
        (`MIN_REPLICAS_ACK=1` with no replica left)."""
        killed = time.monotonic()
        old = self.redis_group.kill_primary()
        self.redis_group.wait_promoted(old)
        promoted = time.monotonic() - killed
        self.redis_group.restart(old)
        self.redis_group.wait_replica_synced(old, timeout_seconds=90)
        return promoted, time.monotonic() - killed

    # --- the store ---
    def store_fault(self, mode: str | None) -> None:
        if mode:
            self.control.write_text(mode)
        else:
            self.control.unlink(missing_ok=True)

    # --- the queue ---
    def pending_work(self, redis: Redis) -> dict[str, int]:
        return pending_work(redis)

    def dead_letters(self, redis: Redis) -> int:
        return dead_letters(redis)

    def stop(self) -> None:
        self.stop_worker()
        if self.api is not None and self.api.poll() is None:
            self.api.send_signal(signal.SIGTERM)
            self.api.wait(timeout=60)
        self.redis_group.stop()


def pending_work(redis: Redis) -> dict[str, int]:
    """What is not stored yet: queued, taken by a worker, running, waiting for a retry, and
    every job hash that is not a dead letter (merged jobs keep theirs until stored)."""
    queue = Queue(QUEUE, connection=redis)
    return {
        "queued": queue.count,
        "taken": int(redis.llen(queue.intermediate_queue_key)),  # dequeued, not yet started
        "started": queue.started_job_registry.count,
        "scheduled": queue.scheduled_job_registry.count,
        "jobs": sum(1 for _ in redis.scan_iter("rq:job:*", count=1000)) - dead_letters(redis),
    }


def dead_letters(redis: Redis) -> int:
    return int(Queue(QUEUE, connection=redis).failed_job_registry.count)


def stored_counts(chdb_url: str, database: str = "trackhouse") -> dict[str, int]:
    """Rows per event_id as inserted: no FINAL, and the worker froze the table's merges, so a
    duplicate insert shows as a count of 2 (tests.support.audit)."""
    rows = query_chdb(chdb_url, f"SELECT event_id, count() FROM {database}.events GROUP BY event_id")
    return {str(event_id): int(count) for event_id, count in rows}
