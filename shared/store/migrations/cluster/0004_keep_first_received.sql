-- Cluster counterpart of ../0004_keep_first_received.sql (see it for why: the first-received
-- copy wins). CREATE OR REPLACE … AS SELECT on every node would have each replica copy its own
-- parts into the new table; instead the rows are copied once through the Distributed tables.
-- The copy inserts the SELECT's columns by position (replace_version is MATERIALIZED).
-- Stop the workers while it runs, as on one node.
DROP TABLE IF EXISTS {database}.events__rebuild ON CLUSTER {cluster} SYNC;

DROP TABLE IF EXISTS {database}.events__rebuild_local ON CLUSTER {cluster} SYNC;

-- The new replicated tables, empty: the structure from the local tables, on every node.
CREATE OR REPLACE TABLE {database}.events__rebuild_local ON CLUSTER {cluster}
(
    event_id            String,
    event_type          LowCardinality(String),
    event_time          DateTime64(3, 'UTC'),
    event_attributes    String,
    link_id             String,
    link_slug           String,
    link_label          String,
    link_title          String,
    link_original_url   String,
    link_attributes     String,
    link_created_at     Nullable(DateTime64(3, 'UTC')),
    link_expires_at     Nullable(DateTime64(3, 'UTC')),
    link_tags           Array(String),
    user_id             String,
    user_name           String,
    user_email          String,
    user_attributes     String,
    team_id             String,
    team_name           String,
    team_attributes     String,
    project_id          String,
    project_name        String,
    project_attributes  String,
    qr_code_id          String,
    qr_code_name        String,
    qr_code_attributes  String,
    visitor_id          String,
    session_id          String,
    ip_address          String,
    country             LowCardinality(String),
    city                LowCardinality(String),
    device_type         LowCardinality(String),
    browser             LowCardinality(String),
    os                  LowCardinality(String),
    user_agent          String,
    referrer            String,
    utm_source          LowCardinality(String),
    utm_medium          LowCardinality(String),
    utm_campaign        LowCardinality(String),
    utm_term            String,
    utm_content         String,
    time_spent_sec      Float64,
    is_bounce           Bool,
    is_qr_scan          Bool,
    conversion_type     LowCardinality(String),
    conversion_value    Float64,
    received_at         DateTime64(3, 'UTC'),
    is_bot              Bool DEFAULT false,
    event_time_clamped  Bool DEFAULT false,
    inserted_at         DateTime64(3, 'UTC') DEFAULT now64(3),
    replace_version     UInt64 MATERIALIZED bitNot(toUInt64(toUnixTimestamp64Milli(received_at))),
    INDEX idx_event_id event_id TYPE bloom_filter(0.001) GRANULARITY 1
)
ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{uuid}/{shard}', '{replica}', replace_version)
PARTITION BY toYYYYMM(event_time)
ORDER BY (team_id, project_id, link_id, toDate(event_time), event_id)
SETTINGS replicated_deduplication_window = 10000, replicated_deduplication_window_seconds = 604800
EMPTY AS SELECT
    event_id,
    event_type,
    event_time,
    event_attributes,
    link_id,
    link_slug,
    link_label,
    link_title,
    link_original_url,
    link_attributes,
    link_created_at,
    link_expires_at,
    link_tags,
    user_id,
    user_name,
    user_email,
    user_attributes,
    team_id,
    team_name,
    team_attributes,
    project_id,
    project_name,
    project_attributes,
    qr_code_id,
    qr_code_name,
    qr_code_attributes,
    visitor_id,
    session_id,
    ip_address,
    country,
    city,
    device_type,
    browser,
    os,
    user_agent,
    referrer,
    utm_source,
    utm_medium,
    utm_campaign,
    utm_term,
    utm_content,
    time_spent_sec,
    is_bounce,
    is_qr_scan,
    conversion_type,
    conversion_value,
    received_at,
    is_bot,
    event_time_clamped,
    inserted_at
FROM {database}.events_local;

CREATE OR REPLACE TABLE {database}.events__rebuild ON CLUSTER {cluster} AS {database}.events__rebuild_local
ENGINE = Distributed({cluster}, {database}, events__rebuild_local, cityHash64(team_id, project_id, link_id, toDate(event_time), event_id));

-- One copy through the Distributed tables (one per shard; replication does the rest),
-- acknowledged once the shards have the rows.
INSERT INTO {database}.events__rebuild SETTINGS distributed_foreground_insert = 1 SELECT
    event_id,
    event_type,
    event_time,
    event_attributes,
    link_id,
    link_slug,
    link_label,
    link_title,
    link_original_url,
    link_attributes,
    link_created_at,
    link_expires_at,
    link_tags,
    user_id,
    user_name,
    user_email,
    user_attributes,
    team_id,
    team_name,
    team_attributes,
    project_id,
    project_name,
    project_attributes,
    qr_code_id,
    qr_code_name,
    qr_code_attributes,
    visitor_id,
    session_id,
    ip_address,
    country,
    city,
    device_type,
    browser,
    os,
    user_agent,
    referrer,
    utm_source,
    utm_medium,
    utm_campaign,
    utm_term,
    utm_content,
    time_spent_sec,
    is_bounce,
    is_qr_scan,
    conversion_type,
    conversion_value,
    received_at,
    is_bot,
    event_time_clamped,
    inserted_at
FROM {database}.events;

-- Swap the copy in, re-create the Distributed tables over the swapped local tables, drop the old.
EXCHANGE TABLES {database}.events__rebuild_local AND {database}.events_local ON CLUSTER {cluster};

CREATE OR REPLACE TABLE {database}.events__rebuild ON CLUSTER {cluster} AS {database}.events__rebuild_local
ENGINE = Distributed({cluster}, {database}, events__rebuild_local, cityHash64(team_id, project_id, link_id, toDate(event_time), event_id));

CREATE OR REPLACE TABLE {database}.events ON CLUSTER {cluster} AS {database}.events_local
ENGINE = Distributed({cluster}, {database}, events_local, cityHash64(team_id, project_id, link_id, toDate(event_time), event_id));

DROP TABLE IF EXISTS {database}.events__rebuild ON CLUSTER {cluster} SYNC;

DROP TABLE IF EXISTS {database}.events__rebuild_local ON CLUSTER {cluster} SYNC
