"""Counting every insert that landed: the events table with its merges turned off.

A ReplacingMergeTree collapses repeated event ids in background merges (12 inserts of one id
left 3 rows within a second here), so a plain count hides duplicates. An audit table fed by a
materialized view does not help either: this engine pushes even the blocks deduplication
dropped into views. So tests turn merges off on the table itself, with table settings (they
persist, unlike `SYSTEM STOP MERGES`, across the restarts of a chaos run's worker), before the
first insert; every row inserted then stays a row, and `FINAL` still collapses them at read.
The engine also collapses repeated keys inside one insert (`optimize_on_insert`), so the
clients that write in tests carry `WRITE_SETTINGS`.
"""

from __future__ import annotations

from collections import Counter

from clickhouse_connect.driver.client import Client

WRITE_SETTINGS: dict[str, object] = {"optimize_on_insert": 0}
"""For the clients that insert: a duplicate inside one insert stays two rows."""

# Parts over this many bytes are never merged: 1 means none is. With no merges every insert
# stays a part, so the part limits (1,000 delays inserts, 3,000 refuses them) go out of reach.
_FROZEN = (
    "max_bytes_to_merge_at_max_space_in_pool = 1, max_bytes_to_merge_at_min_space_in_pool = 1, "
    "parts_to_delay_insert = 1000000, parts_to_throw_insert = 1000000"
)


def freeze_merges(client: Client, database: str) -> None:
    """Stop `<database>.events` merging, for good (idempotent)."""
    client.command(f"ALTER TABLE {database}.events MODIFY SETTING {_FROZEN}")


def inserted(client: Client, database: str) -> Counter[str]:
    """Rows per event_id as inserted (a duplicate shows as 2). Needs `freeze_merges` and writes
    made with `WRITE_SETTINGS`."""
    rows = client.query(f"SELECT event_id, count() FROM {database}.events GROUP BY event_id").result_rows
    return Counter({str(event_id): int(count) for event_id, count in rows})


def once_each(ids: list[str]) -> Counter[str]:
    """What `inserted` must equal when each of `ids` was stored exactly once."""
    return Counter(dict.fromkeys(ids, 1))
