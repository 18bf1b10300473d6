"""Putting known events straight into the store (the writer seam), for read-side tests."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from clickhouse_connect.driver.client import Client

from shared.event.parse import RequestContext, parse_event
from worker.writer import EventWriter

SERVER_SET = ("is_bot",)
"""Columns enrichment sets, not the client: a test event may carry them too."""


def store_events(store: Client, database: str, events: Sequence[dict[str, Any]]) -> None:
    """Validate each event as the API would, then insert them all in one insert."""
    context = RequestContext(received_at=datetime.now(UTC))
    rows = []
    for event in events:
        client_fields = {k: v for k, v in event.items() if k not in SERVER_SET}
        row = parse_event(client_fields, context)
        row.update({k: event[k] for k in SERVER_SET if k in event})
        rows.append(row)
    columns = list(rows[0])
    data = [[row[c] for row in rows] for c in columns]
    EventWriter(store, database).write(columns, data, token=uuid.uuid4().hex)
