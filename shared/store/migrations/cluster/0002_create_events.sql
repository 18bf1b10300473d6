-- Cluster counterpart of ../0002_create_events.sql: the same columns, in `events_local` on every
-- node with the Replicated engine ({uuid}: the same on every replica with ON CLUSTER, and new
-- for a table rebuilt under a name used before). Insert deduplication: the replicated window
-- instead of non_replicated_deduplication_window, 10,000 inserts for 7 days (DEDUP_WINDOW_* in
-- shared/store/migrate.py), outliving the retry schedule.
-- `events` is the Distributed table every read and insert goes through, sharded by a hash of
-- the sorting key, so the copies of an event meet on one shard and FINAL collapses them.
CREATE TABLE IF NOT EXISTS {database}.events_local ON CLUSTER {cluster}
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
    inserted_at         DateTime64(3, 'UTC') DEFAULT now64(3),
    INDEX idx_event_id event_id TYPE bloom_filter(0.001) GRANULARITY 1
)
ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{uuid}/{shard}', '{replica}')
PARTITION BY toYYYYMM(event_time)
ORDER BY (team_id, project_id, link_id, toDate(event_time), event_id)
SETTINGS replicated_deduplication_window = 10000, replicated_deduplication_window_seconds = 604800;

CREATE OR REPLACE TABLE {database}.events ON CLUSTER {cluster} AS {database}.events_local
ENGINE = Distributed({cluster}, {database}, events_local, cityHash64(team_id, project_id, link_id, toDate(event_time), event_id))
