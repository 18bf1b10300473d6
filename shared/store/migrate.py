"""Schema migrations: numbered, append-only SQL files in `shared/store/migrations/`.

Each file holds one or more statements separated by `;`; `{database}` is replaced by the
configured database name (validated as a plain identifier in Settings, since DDL cannot bind
identifiers). Every table is named `{database}.<name>`. Statements are written for one node;
with `CLICKHOUSE_CLUSTER` set, `shared.store.render` rewrites them for a replicated, sharded
cluster (its docstring lists the rules and the conventions a new migration must follow).

Applied versions are recorded in `<database>.schema_migrations` (created right after
migration 1, and rendered like any table). Every statement should be idempotent (IF NOT
EXISTS), so two processes migrating at once do no harm; a migration that renames or
exchanges tables is not, so run `trackhouse migrate` once before starting the services
(compose does: its one-shot `migrate` service).
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from importlib import resources

from clickhouse_connect.driver.client import Client

from shared.store.render import ClusterRenderer, render, split_statements

log = logging.getLogger(__name__)

_FILE = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")
_BOOKKEEPING = (
    "CREATE TABLE IF NOT EXISTS {database}.schema_migrations "
    "(version UInt32, name String, applied_at DateTime64(3, 'UTC') DEFAULT now64(3)) "
    "ENGINE = ReplacingMergeTree ORDER BY version"
)


@dataclass(frozen=True, slots=True)
class Migration:
    version: int
    name: str
    sql: str


@dataclass(frozen=True, slots=True)
class Step:
    """One migration as it runs here: its statements, rendered for the topology."""

    migration: Migration
    statements: list[str]


def load_migrations() -> list[Migration]:
    found = []
    for entry in resources.files("shared.store.migrations").iterdir():
        match = _FILE.match(entry.name)
        if match:
            found.append(Migration(int(match[1]), match[2], entry.read_text(encoding="utf-8")))
    return sorted(found, key=lambda m: m.version)


def plan(database: str, cluster: str | None = None) -> list[Step]:
    """Every migration's statements, in order, rendered for one node or for `cluster` (the
    renderer follows the tables from the first migration on, so it always renders them all)."""
    renderer = ClusterRenderer(database, cluster) if cluster else None
    steps = []
    for migration in load_migrations():
        statements = split_statements(migration.sql.format(database=database))
        if migration.version == 1:  # the database exists from here on
            statements.append(_BOOKKEEPING.format(database=database))
        steps.append(Step(migration, render(statements, renderer)))
    return steps


def dry_run(database: str, cluster: str | None = None) -> str:
    """The SQL a fresh store would run, each statement ending in `;` (`trackhouse migrate --dry-run`)."""
    lines = []
    for step in plan(database, cluster):
        lines.append(f"-- {step.migration.version:04d}_{step.migration.name}")
        lines.extend(f"{statement};" for statement in step.statements)
    return "\n".join(lines)


def _applied(client: Client, database: str) -> set[int]:
    exists = client.command(
        "SELECT count() FROM system.tables WHERE database = {db:String} AND name = 'schema_migrations'",
        parameters={"db": database},
    )
    if not exists:
        return set()
    rows = client.query(f"SELECT version FROM {database}.schema_migrations").result_rows
    return {int(row[0]) for row in rows}


def migrate(client: Client, database: str, cluster: str | None = None) -> list[Migration]:
    """Apply every migration not yet recorded; return those applied now."""
    applied = _applied(client, database)
    done = []
    # A cluster's bookkeeping table is Distributed: the record must reach a shard before we go on.
    insert_settings = {"distributed_foreground_insert": 1} if cluster else None
    for step in plan(database, cluster):
        migration = step.migration
        if migration.version in applied:
            continue
        for statement in step.statements:
            client.command(statement)
        client.insert(
            f"{database}.schema_migrations",
            [[migration.version, migration.name]],
            column_names=["version", "name"],
            settings=insert_settings,
        )
        log.info("applied migration %04d_%s", migration.version, migration.name)
        done.append(migration)
    return done
