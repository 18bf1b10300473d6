-- One row per tracked event.
-- ReplacingMergeTree: a client that re-sends an event_id (same day, same link) ends up with one
-- row after merges, and reads use FINAL. Worker retries are stopped earlier, at insert time,
-- by insert_deduplication_token (non_replicated_deduplication_window).
-- ORDER BY serves "events of a team / project / link over a time range"; the bloom filter on
-- event_id makes the lookup by id skip almost every granule.
CREATE TABLE IF NOT EXISTS {database}.events
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
ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(event_time)
ORDER BY (team_id, project_id, link_id, toDate(event_time), event_id)
SETTINGS non_replicated_deduplication_window = 10000
