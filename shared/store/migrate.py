"""Schema migrations: numbered, append-only SQL files in `shared/migrations/`.

Each file is one statement; `{database}` is replaced by the configured database name
(validated as a plain identifier in Settings, since DDL cannot bind identifiers).
Applied versions are recorded in `<database>.schema_migrations`. Every statement is
idempotent (IF NOT EXISTS), so two processes migrating at once do no harm.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from importlib import resources

from clickhouse_connect.driver.client import Client

log = logging.getLogger(__name__)

_FILE = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")


@dataclass(frozen=True, slots=True)
class Migration:
    version: int
    name: str
    sql: str


def load_migrations() -> list[Migration]:
    found = []
    for entry in resources.files("shared.store.migrations").iterdir():
        match = _FILE.match(entry.name)
        if match:
            found.append(Migration(int(match[1]), match[2], entry.read_text(encoding="utf-8")))
    return sorted(found, key=lambda m: m.version)


def _applied(client: Client, database: str) -> set[int]:
    exists = client.command(
        "SELECT count() FROM system.tables WHERE database = {db:String} AND name = 'schema_migrations'",
        parameters={"db": database},
    )
    if not exists:
        return set()
    rows = client.query(f"SELECT version FROM {database}.schema_migrations").result_rows
    return {int(row[0]) for row in rows}


def migrate(client: Client, database: str) -> list[Migration]:
    """Apply every migration not yet recorded; return those applied now."""
    applied = _applied(client, database)
    done = []
    for migration in load_migrations():
        if migration.version in applied:
            continue
        client.command(migration.sql.format(database=database))
        if migration.version == 1:  # the database exists from here on
            client.command(
                f"CREATE TABLE IF NOT EXISTS {database}.schema_migrations "
                "(version UInt32, name String, applied_at DateTime64(3, 'UTC') DEFAULT now64(3)) "
                "ENGINE = ReplacingMergeTree ORDER BY version"
            )
        client.insert(
            f"{database}.schema_migrations",
            [[migration.version, migration.name]],
            column_names=["version", "name"],
        )
        log.info("applied migration %04d_%s", migration.version, migration.name)
        done.append(migration)
    return done
