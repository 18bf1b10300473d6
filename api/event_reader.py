"""Reading one stored event back, in the request's field names and types."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from clickhouse_connect.driver.client import Client

from shared.store.schema import EVENT_COLUMNS, JSON_COLUMNS

_READ_COLUMNS = (*EVENT_COLUMNS, "inserted_at")


def _iso(value: datetime) -> str:
    value = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"


def find_event(client: Client, database: str, event_id: str) -> dict[str, Any] | None:
    """The stored row for `event_id`, or None. FINAL collapses a re-sent event_id."""
    result = client.query(
        f"SELECT {', '.join(_READ_COLUMNS)} FROM {database}.events FINAL "
        "WHERE event_id = {event_id:String} LIMIT 1",
        parameters={"event_id": event_id},
    )
    if not result.result_rows:
        return None
    event = dict(zip(_READ_COLUMNS, result.result_rows[0], strict=True))
    for name, value in event.items():
        if isinstance(value, datetime):
            event[name] = _iso(value)
        elif name in JSON_COLUMNS:
            event[name] = json.loads(value) if value else {}
    return event
