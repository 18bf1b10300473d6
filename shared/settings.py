"""The one settings object. Built by the entry points (`cli.main`), then passed down.

Nothing reads the environment at import time: tests build `Settings(...)` directly.
Every variable takes the prefix `TRACKHOUSE_` (e.g. `TRACKHOUSE_PORT=9000`).
"""

from __future__ import annotations

import os
import re
import warnings
from pathlib import Path
from typing import Any, Final, Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

MIN_ADMIN_TOKEN_CHARS = 16
"""Shortest admin token accepted: it guards personal data and the dashboard."""
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")
ENV_PREFIX: Final = "TRACKHOUSE_"
RENAMED: Final = {"dashboard": "rq_dashboard"}
"""Settings renamed, old name -> new. The old variable (TRACKHOUSE_DASHBOARD) and keyword still
work, with a DeprecationWarning (`trackhouse` logs it); the new name wins when both are set."""


class Settings(BaseSettings):
    # hide_input_in_errors: a malformed secret (admin token, write keys) must not be echoed.
    # use_attribute_docstrings: each field's docstring is its description, which docs/settings.md
    # is generated from (`make docs`).
    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX, extra="ignore", hide_input_in_errors=True, use_attribute_docstrings=True
    )

    # --- HTTP ---
    host: str = "127.0.0.1"
    """Address the API binds to. Loopback by default; compose sets 0.0.0.0."""
    port: int = Field(default=8000, ge=0, le=65535)
    """Port the API listens on (0: any free port)."""
    max_body_bytes: int = Field(default=1_048_576, ge=1024)
    """Largest /track request body accepted (bytes, after gzip inflation); larger get 413."""
    batch_max_events: int = Field(default=1000, ge=1)
    """Most events one /batch request may carry; more get 413."""
    batch_max_bytes: int = Field(default=5_242_880, ge=1024)
    """Largest /batch request body (bytes, after gzip inflation); larger get 413."""
    api_max_body_bytes: int = Field(default=262_144, ge=1024)
    """Largest request body of every other route (a query is a few KB); larger get 413 before
    it is parsed, and the read routes check the key before reading a byte of it."""

    # --- group commit (API → Redis) ---
    job_max_events: int = Field(default=2000, ge=1)
    """Most events the API packs into one queued job."""
    job_max_bytes: int = Field(default=2_097_152, ge=1024)
    """Most request bytes the API packs into one queued job (keeps jobs well under Redis limits)."""

    # --- storage locations ---
    data_dir: Path = Path("./data")
    """Embedded Redis (AOF) and chDB files live here."""
    redis_url: str | None = None
    """`redis://…` or `unix://…`. Unset: `trackhouse up` starts its own redis-server under data_dir."""
    redis_appendfsync: Literal["always", "everysec", "no"] = "everysec"
    """fsync policy of the embedded redis-server's AOF. A killed redis-server loses nothing
    either way (acknowledged writes are in the OS's page cache); on an OS crash or power loss
    `everysec` can lose the last ~1 s of acknowledged events, `always` none (an fsync per write)."""
    redis_sentinels: list[str] = Field(default=[])
    """Sentinels (JSON list of `host:port`) that find the Redis primary: set, they replace
    REDIS_URL for the API, the workers, `status` and `failed`, which follow a failover."""
    redis_sentinel_master: str = "trackhouse"
    """The primary's name as the Sentinels know it (`sentinel monitor <name> …`)."""
    redis_sentinel_password: SecretStr | None = None
    """Password of the Sentinels themselves (`requirepass` in sentinel.conf), if any."""
    redis_password: SecretStr | None = None
    """With REDIS_SENTINELS: the password of the primary and replicas they name (`requirepass`).
    With REDIS_URL the password goes in the URL."""
    redis_min_replicas_ack: int = Field(default=0, ge=0, le=16)
    """The API answers 201 only once `WAIT` confirms this many replicas hold the job (0: the
    primary's acknowledgement is enough; a failover may then lose what it had not replicated)."""
    redis_replica_ack_timeout_ms: int = Field(default=500, ge=1, le=60_000)
    """How long the API waits for those replicas; short of them it answers 503 + Retry-After."""
    redis_replica_wait_seconds: float = Field(default=300, ge=0, le=86_400)
    """How long workers hold a job back for want of those replicas without spending its
    attempts: past it, each refusal spends one (retried as RETRY_INTERVALS_SECONDS says, then a
    dead letter), so a replica that never returns cannot keep a job queued forever."""
    clickhouse_url: str | None = None
    """`http(s)://user:pass@host:8123` for a server, `chdb:///abs/path` for the embedded engine.
    Unset: `chdb://<data_dir>/clickhouse`."""
    clickhouse_database: str = "trackhouse"
    """Database holding the `events` table (a plain identifier); migrations create it."""
    clickhouse_cluster: str | None = None
    """A ClickHouse cluster name (`remote_servers`): migrations run ON CLUSTER DDL, Replicated
    engines and a Distributed table that reads and inserts go through (shared/store/migrations/cluster/).
    Unset: single-node DDL (also right for ClickHouse Cloud)."""

    # --- access ---
    admin_token: SecretStr | None = None
    """Bearer token for the read endpoints. Unset: those endpoints answer 403. At least
    `MIN_ADMIN_TOKEN_CHARS` characters (e.g. `openssl rand -hex 16`)."""

    # --- queue and workers ---
    queue_name: str = "trackhouse-events"
    """The RQ queue the API puts insert jobs on and the workers drain."""
    job_timeout_seconds: int = Field(default=120, ge=1)
    """Longest a single insert job may run before RQ fails it (and retries it)."""
    retry_intervals_seconds: list[int] = Field(default=[1, 5, 30, 120, 600, 1800])
    """Back-off before each retry of a failed insert; the length is the number of retries.
    Default: 7 attempts spread over ~43 minutes, enough to ride out a store restart."""
    result_ttl_seconds: int = Field(default=0, ge=0)
    """How long a finished job stays in Redis. 0: deleted at once; the row in ClickHouse is the result."""
    failure_ttl_seconds: int = Field(default=30 * 86_400, ge=60)
    """How long a job that exhausted its retries stays in the FailedJobRegistry (rq-dashboard)."""
    worker_nice: int = Field(default=10, ge=0, le=19)
    """Nice value of the processes that store events (`trackhouse worker`, `trackhouse up`'s store
    process): on a shared machine, storing yields the CPU to the API answering clients, and a
    burst waits in the queue (whose depth backpressure bounds) instead of in request latency.
    0: equal shares."""
    worker_ttl_seconds: int = Field(default=60, ge=20)
    """Heartbeat TTL of a worker; a dead worker's job is recovered after it lapses."""
    scheduler_interval_seconds: int = Field(default=1, ge=1)
    """How often due retries are moved back onto the queue."""
    insert_max_rows: int = Field(default=50_000, ge=1)
    """When the queue is deep, a worker merges queued jobs into one insert of up to this many rows
    (ClickHouse prefers few large inserts; chDB: ~8 ms fixed cost per insert)."""
    insert_linger_ms: int = Field(default=1000, ge=0, le=10_000)
    """A worker holds a job this long after it was queued before claiming what queued behind it,
    so a stream of jobs becomes about one insert a second (ClickHouse's own advice) instead of
    one per job. Every insert is a part that background merges rewrite: at 200 ms, merging cost
    the store process more CPU than inserting (BENCHMARKS.md). A backlog's jobs are older than
    this and go at once. Bounds the extra end-to-end lag; 0 turns it off."""
    api_processes: int = Field(default=1, ge=1, le=64)
    """Processes `trackhouse api` serves the port with (one listening socket; each process has
    its own event loop and group committer). One is CPU-bound at a few thousand `/track` events/s
    (BENCHMARKS.md)."""
    embedded_workers: int = Field(default=1, ge=1, le=16)
    """Worker threads of `trackhouse up`'s store process (the one process owning chDB)."""
    rq_dashboard: bool = False
    """Mount rq-dashboard (RQ's job browser, not the analytics page at /dashboard) at /rq on the
    API (needs ADMIN_TOKEN); `--rq-dashboard` sets it. Formerly TRACKHOUSE_DASHBOARD and
    `--dashboard`, still read, with a warning."""
    store_socket: Path | None = None
    """Where the API sends its reads (GET by id, query, export, readyz): the unix socket of the
    store process owning the engine. `trackhouse up` sets it for its API processes; unset,
    the API opens the store itself."""

    # --- backpressure: 503 + Retry-After instead of an unbounded queue ---
    backpressure_check_interval_ms: int = Field(default=1000, ge=0)
    """How often the API reads the queue's state (0: never refuse)."""
    backpressure_max_queue_age_seconds: int = Field(default=300, ge=0)
    """Refuse while the oldest queued job has waited longer than this (0: no limit)."""
    backpressure_max_queue_events: int = Field(default=5_000_000, ge=0)
    """Refuse while more events than this are queued (0: no limit)."""
    backpressure_max_memory_ratio: float = Field(default=0.9, ge=0, le=1)
    """Refuse while Redis uses more than this share of its maxmemory (0 or no maxmemory: no limit)."""

    # --- ingestion security (CORS, write keys, rate limits; see SECURITY.md) ---
    cors_allow_origins: list[str] = Field(default=["*"])
    """Origins whose browsers may call POST /api/events/track and /batch (JSON list; `["*"]`:
    any, the default for a public tracker; `[]`: no CORS headers). Never applies to the
    read and admin endpoints, which answer without CORS headers whatever this says."""
    write_keys: dict[str, str] = Field(default={}, repr=False)
    """Write key -> project_id (JSON object), fixed at start; the registry's keys (docs/tenancy.md)
    change at run time. Empty: tracking is open. Set: ingestion needs `Authorization: Bearer
    <key>` or `X-Write-Key: <key>`, and every event belongs to the key's project. repr=False:
    keys must not reach logs through a printed Settings."""
    rate_limit_ip_per_second: float = Field(default=0, ge=0)
    """Ingestion requests per second per client IP (token bucket; 0: off). Off by default:
    behind a proxy missing from TRUSTED_PROXIES every client shares the proxy's address."""
    rate_limit_ip_burst: int = Field(default=100, ge=1)
    """Requests a client IP may send at once before its per-second rate applies."""
    rate_limit_key_per_second: float = Field(default=0, ge=0)
    """Ingestion requests per second per write key, environment or registry (0: off); a registry
    key's own `rate_limit_per_second` replaces it for that key."""
    rate_limit_key_burst: int = Field(default=1000, ge=1)
    """Requests a write key may send at once before its per-second rate applies."""

    # --- read side: /api/query and /api/export (see README "Query API") ---
    read_keys: dict[str, str] = Field(default={}, repr=False)
    """Read key -> project_id (JSON object), fixed at start: `Authorization: Bearer <key>` on the
    read endpoints sees only that project's events (registry read keys, docs/tenancy.md, also
    cover a team). The admin token sees every project."""
    query_timeout_seconds: float = Field(default=10, gt=0, le=3600)
    """Longest one /api/query may run in the store (408 after)."""
    export_timeout_seconds: float = Field(default=600, gt=0, le=86_400)
    """Longest one /api/export may run, from its request to its last byte, however fast the
    client reads (a large export streams for a while); then the stream is cut off."""
    query_concurrency: int = Field(default=2, ge=1, le=64)
    """Reads running at once per process; more wait up to QUERY_WAIT_SECONDS, then get 429."""
    query_wait_seconds: float = Field(default=2, ge=0, le=60)
    """How long a read waits for a free slot (in the API process, then in the store) before
    429 + Retry-After."""
    export_concurrency: int = Field(default=1, ge=1, le=64)
    """Exports streaming at once, in a pool of their own: a slow export never holds a query's slot."""
    read_tenant_concurrency: int = Field(default=1, ge=1, le=64)
    """Queries (and, apart, exports) one read key's project may run at once in the store, across
    every API process: one key holder cannot take every slot. The admin token has no such cap."""
    export_idle_timeout_seconds: float = Field(default=30, gt=0, le=3600)
    """An export whose client reads nothing for this long is cut off and its slot freed."""
    query_max_threads: int = Field(default=0, ge=0, le=256)
    """Engine threads one read may use (0: the engine's default, every core). Capping it at 1
    made reads slower without sparing ingestion more than the nice value below does
    (BENCHMARKS.md)."""
    query_thread_nice: int = Field(default=19, ge=0, le=19)
    """Nice value of the store's threads while they run a read (ClickHouse os_thread_priority):
    reads yield CPU to ingestion; on an idle machine they run at full speed (BENCHMARKS.md)."""
    query_max_rows: int = Field(default=10_000, ge=1, le=1_000_000)
    """Most result rows one /api/query returns (its `limit`, and time buckets)."""
    query_max_rows_to_read: int = Field(default=1_000_000_000, ge=0)
    """Most stored rows one read may scan (0: no cap); over it, 400."""
    query_max_bytes_to_read: int = Field(default=100 * 2**30, ge=0)
    """Most bytes one read may scan (0: no cap); over it, 400."""
    query_max_memory_bytes: int = Field(default=2**30, ge=0)
    """Most memory one read may take in the store (ClickHouse max_memory_usage; 0: no cap); over
    it, 400, and the store (which also runs the inserts) carries on. Queries hold at most
    QUERY_CONCURRENCY times this at once (exports stream in the table's order: little). The
    heaviest exact questions (every metric by link x country x device) need most of the default;
    on a small host, lower it (SECURITY.md)."""
    query_max_answer_bytes: int = Field(default=8 * 2**20, ge=0)
    """Largest /api/query answer, as JSON (0: no cap); over it, 413. 10,000 rows of six
    ordinary dimensions and every metric fit; dimension values are cut to 1,024 characters."""

    @model_validator(mode="before")
    @classmethod
    def _renamed(cls, data: Any) -> Any:
        """A renamed setting given by its old name: as a keyword, or as its old variable when
        neither name came from elsewhere (the environment source reads only the new one)."""
        if not isinstance(data, dict):
            return data
        data, environment = dict(data), {name.upper(): value for name, value in os.environ.items()}
        for old, new in RENAMED.items():
            variable = f"{ENV_PREFIX}{old.upper()}"
            if old in data:
                value, where = data.pop(old), f"the setting {old!r}"
            elif variable in environment:
                value, where = environment[variable], variable
            else:
                continue
            data.setdefault(new, value)
            warnings.warn(
                f"{where} is deprecated: use {ENV_PREFIX}{new.upper()} ({new!r})", DeprecationWarning, stacklevel=2
            )
        return data

    @field_validator("read_keys")
    @classmethod
    def _read_keys(cls, value: dict[str, str]) -> dict[str, str]:
        keys = {key.strip(): project.strip() for key, project in value.items()}
        if len(keys) != len(value) or not all(keys) or not all(keys.values()):
            raise ValueError("read keys and their project ids must be non-empty and distinct")
        return keys

    @field_validator("cors_allow_origins")
    @classmethod
    def _origins(cls, value: list[str]) -> list[str]:
        # Browsers send `scheme://host[:port]`, lower-case, no slash: "https://a.com/" would never match.
        origins = []
        for origin in value:
            origin = origin.strip().rstrip("/").lower()
            if origin != "*" and not re.match(r"^[a-z][a-z0-9+.-]*://[^/?#\s]+$", origin):
                raise ValueError(f"{origin!r}: an origin is '*' or scheme://host[:port]")
            origins.append(origin)
        return origins

    @field_validator("write_keys")
    @classmethod
    def _keys(cls, value: dict[str, str]) -> dict[str, str]:
        keys = {key.strip(): project.strip() for key, project in value.items()}  # as presented: stripped
        if len(keys) != len(value) or not all(keys) or not all(keys.values()):
            raise ValueError("write keys and their project ids must be non-empty and distinct")
        return keys

    # --- enrichment (never overrides a value the client sent) ---
    enrich_user_agent: bool = True
    """device_type, browser, os and is_bot from the user agent (ua-parser rules, cached per UA)."""
    drop_bots: bool = False
    """Answer bots' events (201 / "dropped") but do not store them."""
    visitor_hash: bool = True
    """visitor_id, when absent, is a hash of IP, user agent and project/team under a salt that
    changes every UTC day (stable within a day, not linkable across days). Off: a random UUID."""
    sessions: bool = True
    """session_id, when absent, is the visitor's current session (idle window below). Off: random."""
    session_idle_seconds: int = Field(default=1800, ge=60)
    """A visitor's session ends after this long without an event; the next event starts another."""
    geo_headers: bool = True
    """country/city from CDN headers (Cloudflare, Vercel, CloudFront), from trusted proxies only."""
    geo_database: bool = True
    """country from an offline IP database (iptocc) when no header gave one."""
    trusted_proxies: list[str] = Field(default=[])
    """CIDRs of the proxies / CDN edges in front of the API: only their X-Forwarded-For and geo
    headers are believed. Empty: the TCP peer is the client and headers are ignored."""
    client_ip_header: str = "x-forwarded-for"
    """The one header trusted proxies put the client's address in: `x-forwarded-for` (read from
    the right across all its lines) or a single-address header such as `x-real-ip`. Only this
    one is read, so a client cannot send the header its proxy leaves untouched."""
    ip_storage: Literal["full", "truncated", "none"] = "full"
    """How the client IP is stored: whole, truncated (IPv4 /24, IPv6 /48) or not at all. The
    visitor hash is computed from the full IP first."""
    retention_days: int = Field(default=0, ge=0, le=36_500)
    """Days of events kept, by event_time, for projects whose registry record sets no
    `retention_days` of its own (0: forever). Reads never show older events; the workers
    delete them within RETENTION_INTERVAL_SECONDS (docs/privacy.md)."""
    retention_interval_seconds: int = Field(default=3600, ge=10)
    """How often a worker drops expired partitions and deletes expired rows."""
    erasure_hash_key: SecretStr | None = None
    """Key of the hashes the erasure log, tombstones and suppressions keep instead of a subject's
    values. Unset: 32 random bytes made once and kept in Redis."""
    max_future_seconds: int = Field(default=300, ge=0)
    """An event_time further ahead than this is clamped to the receive time (and flagged)."""
    max_past_days: int = Field(default=0, ge=0)
    """0 (default): any past event_time ClickHouse can hold (from 1900) is accepted, as imports of
    historical clicks need. N > 0: event_times more than N days old are refused (400)."""

    log_level: str = "INFO"
    """Logging level of every process: DEBUG, INFO, WARNING, ERROR."""
    log_format: Literal["text", "json"] = "text"
    """`json`: one JSON object per line, for log shippers."""
    worker_metrics_host: str = "127.0.0.1"
    """Address the worker metrics server binds to (compose: 0.0.0.0, unpublished)."""
    worker_metrics_port: int = Field(default=0, ge=0, le=65535)
    """`trackhouse worker` serves Prometheus metrics on this loopback port (0: off). With
    --concurrency N, worker i listens on port + i."""
    access_log: bool = False
    """One log line per HTTP request (uvicorn's access log); off: at thousands of events/s it
    costs more than the request."""

    @field_validator("redis_sentinels")
    @classmethod
    def _host_ports(cls, value: list[str]) -> list[str]:
        for address in value:
            host, _, port = address.rpartition(":")
            if not host or not port.isdigit() or not 0 < int(port) < 65536:
                raise ValueError(f"{address!r}: a Sentinel is host:port")
        return value

    @field_validator("clickhouse_cluster")
    @classmethod
    def _cluster_identifier(cls, value: str | None) -> str | None:
        if value is not None and not value.strip():
            return None  # `TRACKHOUSE_CLICKHOUSE_CLUSTER=` (compose's default) means single node
        if value is not None and not _IDENTIFIER.match(value):
            raise ValueError("must be a plain identifier: letters, digits and underscores")
        return value

    @field_validator("client_ip_header")
    @classmethod
    def _header_name(cls, value: str) -> str:
        value = value.strip().lower()
        if not re.match(r"^[a-z0-9-]+$", value):
            raise ValueError("a header name: letters, digits and dashes")
        return value

    @field_validator("clickhouse_database")
    @classmethod
    def _identifier(cls, value: str) -> str:
        # Database names are spliced into DDL (identifiers cannot be bound parameters).
        if not _IDENTIFIER.match(value):
            raise ValueError("must be a plain identifier: letters, digits and underscores")
        return value

    @field_validator("redis_password", "redis_sentinel_password")
    @classmethod
    def _blank_password_is_none(cls, value: SecretStr | None) -> SecretStr | None:
        return value if value is not None and value.get_secret_value() else None

    @field_validator("admin_token")
    @classmethod
    def _blank_is_unset(cls, value: SecretStr | None) -> SecretStr | None:
        # `TRACKHOUSE_ADMIN_TOKEN=` (compose's default) must not mean "the empty string opens it".
        if value is None or not value.get_secret_value().strip():
            return None
        if len(value.get_secret_value().strip()) < MIN_ADMIN_TOKEN_CHARS:
            raise ValueError(f"must be at least {MIN_ADMIN_TOKEN_CHARS} characters (e.g. `openssl rand -hex 16`)")
        return value

    @field_validator("retry_intervals_seconds")
    @classmethod
    def _non_negative(cls, value: list[int]) -> list[int]:
        if any(v < 0 for v in value):
            raise ValueError("intervals must be >= 0")
        return value

    @property
    def store_url(self) -> str:
        """The ClickHouse URL in force: the configured one, else the embedded chDB path."""
        if self.clickhouse_url:
            return self.clickhouse_url
        return f"chdb://{(self.data_dir / 'clickhouse').resolve()}"

    @property
    def uses_chdb(self) -> bool:
        return self.store_url.startswith("chdb://")
