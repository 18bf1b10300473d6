"""Reading one stored event back, in the request's field names and types.

An event_id is unique only within its team and project (clients choose their ids), so a
lookup by id alone can find events of several teams or projects. It then returns none of
them but the scopes it found (`Ambiguous`), and the caller narrows the lookup by team_id and
project_id. Within one scope, copies that did not collapse (sent with another link or day,
so another sorting key) are read first-received first, as deduplication keeps them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from shared.lifecycle.retention import Retention
from shared.query import sql
from shared.query.engine import ReadEngine
from shared.store.schema import JSON_COLUMNS

MAX_SCOPES = 10
"""Scopes listed when an id is ambiguous."""


@dataclass(frozen=True, slots=True)
class Ambiguous:
    """The id names events of more than one (team_id, project_id); at most MAX_SCOPES listed."""

    scopes: list[dict[str, str]]


def _iso(value: datetime) -> str:
    value = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"


def find_event(
    engine: ReadEngine,
    database: str,
    event_id: str,
    *,
    team_id: str | None = None,
    project_id: str | None = None,
    projects: frozenset[str] | None = None,
    limits: sql.Limits,
    retention: Retention | None = None,
) -> dict[str, Any] | Ambiguous | None:
    """The stored event `event_id` (in the given team / project, when given), or None, or the
    scopes it names when it is not one event, within the read key's `projects` (None: all).
    FINAL collapses re-sent copies to the one deduplication keeps."""
    # One more scope than listed, to know there are more.
    statement = sql.event_by_id(
        database,
        event_id,
        limits,
        team_id=team_id,
        project_id=project_id,
        max_scopes=MAX_SCOPES + 1,
        projects=projects,
        retention=retention,
    )
    rows = [dict(zip(statement.columns, row, strict=True)) for row in engine.rows(statement)]
    if not rows:
        return None
    if len(rows) > 1:
        return Ambiguous(
            [{"team_id": r["team_id"], "project_id": r["project_id"]} for r in rows[:MAX_SCOPES]]
        )
    event = rows[0]
    for name, value in event.items():
        if isinstance(value, datetime):
            event[name] = _iso(value)
        elif name in JSON_COLUMNS:
            event[name] = json.loads(value) if value else {}
    return event
