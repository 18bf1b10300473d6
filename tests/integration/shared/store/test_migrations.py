"""Migration 0004 rebuilds a table that already holds rows: every row kept, the first copy wins."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from clickhouse_connect.driver.client import Client

from shared.settings import Settings
from shared.store.migrate import load_migrations, migrate
from tests.support.audit import freeze_merges, inserted
from tests.support.builders import queue_row
from worker.writer import EventWriter

pytestmark = pytest.mark.integration
T0 = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def store_at_0003(store: Client, settings: Settings) -> Iterator[Client]:
    """A store migrated by an older release: 0001-0003 only (not recorded, as if by hand)."""
    db = settings.clickhouse_database
    for migration in load_migrations():
        if migration.version <= 3:
            store.command(migration.sql.format(database=db))
    freeze_merges(store, db)  # the old engine would collapse the copies before we look
    yield store
    store.command(f"DROP DATABASE IF EXISTS {db}")


def write(store: Client, settings: Settings, token: str, *rows: dict[str, Any]) -> None:
    columns = list(rows[0])
    data = [[row[name] for row in rows] for name in columns]
    EventWriter(store, settings.clickhouse_database).write(columns, data, token=token)


def copy(event_id: str, received: datetime, trusted: bool | None = None, **fields: Any) -> dict[str, Any]:
    """A queue row; `trusted` (set by the API from a server key): None leaves the column out,
    as for tables older than 0005."""
    row = queue_row(event_id, team_id="team-a", project_id="p-1", **fields)
    row["received_at"] = received.isoformat().replace("+00:00", "Z")
    if trusted is None:
        del row["trusted"]
    else:
        row["trusted"] = trusted
    return row


def final_values(store: Client, settings: Settings) -> dict[str, tuple[str, float]]:
    rows = store.query(
        f"SELECT event_id, user_email, conversion_value FROM {settings.clickhouse_database}.events FINAL"
    ).result_rows
    return {str(r[0]): (str(r[1]), float(r[2])) for r in rows}


def test_0004_rebuilds_a_table_holding_rows_and_the_first_received_copy_wins(
    store_at_0003: Client, settings: Settings
) -> None:
    db = settings.clickhouse_database
    write(store_at_0003, settings, "t1", copy("order-1001", T0, user_email="first@x", conversion_value=99.5))
    write(store_at_0003, settings, "t2", copy("order-1001", T0 + timedelta(seconds=5), user_email="later@x"))
    write(store_at_0003, settings, "t3", copy("solo", T0, user_email="solo@x", conversion_value=1))
    assert final_values(store_at_0003, settings)["order-1001"][0] == "later@x"  # 0003: the last won
    read_before = store_at_0003.query(f"SELECT * FROM {db}.events ORDER BY event_id, received_at")
    before, names = read_before.result_rows, ", ".join(read_before.column_names)

    applied = migrate(store_at_0003, db)

    assert 4 in [m.version for m in applied]
    engine = str(
        store_at_0003.command(
            f"SELECT engine_full FROM system.tables WHERE database = '{db}' AND name = 'events'"
        )
    )
    assert engine.startswith("ReplacingMergeTree(replace_version)")
    # The columns 0003 had (0005 adds `trusted`).
    after = store_at_0003.query(f"SELECT {names} FROM {db}.events ORDER BY event_id, received_at").result_rows
    # Every event copied with all its values, inserted_at included. (The later copy is copied
    # too, or collapsed on insert if the client optimises on insert: FINAL reads the same.)
    assert [row[0] for row in before] == ["order-1001", "order-1001", "solo"]
    assert before[0] in after and before[2] in after
    assert final_values(store_at_0003, settings) == {"order-1001": ("first@x", 99.5), "solo": ("solo@x", 1.0)}

    freeze_merges(store_at_0003, db)
    write(store_at_0003, settings, "t4", copy("solo", T0 + timedelta(hours=1), user_email="replay@x"))
    assert inserted(store_at_0003, db)["solo"] == 2  # stored, then collapsed at read:
    assert final_values(store_at_0003, settings)["solo"] == ("solo@x", 1.0)
    assert migrate(store_at_0003, db) == []


def test_0005_a_trusted_copy_replaces_public_ones_stored_before_and_after_it(
    store_at_0003: Client, settings: Settings
) -> None:
    db = settings.clickhouse_database
    # A public copy stored by an older release, copied by 0004 and given its version by 0005.
    write(store_at_0003, settings, "old", copy("order-2001", T0, user_email="squatter@x", conversion_value=0))
    assert 5 in [m.version for m in migrate(store_at_0003, db)]
    freeze_merges(store_at_0003, db)  # FINAL decides, not a merge that happened to run
    server = copy("order-2001", T0 + timedelta(seconds=2), user_email="buyer@x", conversion_value=499.0, trusted=True)
    write(store_at_0003, settings, "server", server)
    later_public = copy("order-2001", T0 + timedelta(seconds=4), user_email="late@x", conversion_value=1, trusted=False)
    write(store_at_0003, settings, "late", later_public)
    first_server_wins = copy("order-2001", T0 + timedelta(seconds=6), user_email="retry@x", trusted=True)
    write(store_at_0003, settings, "retry", first_server_wins)
    assert inserted(store_at_0003, db)["order-2001"] == 4
    # The old (public) row, a later public copy and a later server copy all lose to the first server copy.
    assert final_values(store_at_0003, settings) == {"order-2001": ("buyer@x", 499.0)}
