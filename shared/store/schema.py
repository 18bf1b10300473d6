"""The `events` columns as the code sees them: one list, in table order.

The DDL lives in numbered migrations (`shared/store/migrations/`); a test checks that the
table ClickHouse reports matches this list, so the two cannot drift apart.
"""

from __future__ import annotations

from typing import Final

# Columns whose value is a JSON object, held as JSON text in a String column.
JSON_COLUMNS: Final = (
    "event_attributes",
    "link_attributes",
    "user_attributes",
    "team_attributes",
    "project_attributes",
    "qr_code_attributes",
)
# DateTime64(3, 'UTC') columns; travel on the queue as ISO-8601 strings ("…Z").
TIME_COLUMNS: Final = ("event_time", "link_created_at", "link_expires_at", "received_at")

# Bool columns (everything else the API fills is text, a number, a time or link_tags).
BOOL_COLUMNS: Final = ("is_bounce", "is_qr_scan", "is_bot", "event_time_clamped", "trusted")

# Every column the API fills, in table order. `inserted_at` is the table's own default.
EVENT_COLUMNS: Final = (
    "event_id",
    "event_type",
    "event_time",
    "event_attributes",
    "link_id",
    "link_slug",
    "link_label",
    "link_title",
    "link_original_url",
    "link_attributes",
    "link_created_at",
    "link_expires_at",
    "link_tags",
    "user_id",
    "user_name",
    "user_email",
    "user_attributes",
    "team_id",
    "team_name",
    "team_attributes",
    "project_id",
    "project_name",
    "project_attributes",
    "qr_code_id",
    "qr_code_name",
    "qr_code_attributes",
    "visitor_id",
    "session_id",
    "ip_address",
    "country",
    "city",
    "device_type",
    "browser",
    "os",
    "user_agent",
    "referrer",
    "utm_source",
    "utm_medium",
    "utm_campaign",
    "utm_term",
    "utm_content",
    "time_spent_sec",
    "is_bounce",
    "is_qr_scan",
    "conversion_type",
    "conversion_value",
    "received_at",
    "is_bot",
    "event_time_clamped",
    "trusted",
)

# Columns the table computes itself, after EVENT_COLUMNS in table order: `inserted_at`
# (DEFAULT now64(3)) and `replace_version` (MATERIALIZED from trusted and received_at: the
# ReplacingMergeTree's version, so a server-key copy of an event beats a public one, and
# among equals the first received is the one kept; migration 0005).
TABLE_COLUMNS: Final = (*EVENT_COLUMNS, "inserted_at", "replace_version")
