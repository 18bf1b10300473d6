-- Cluster counterpart of ../0003_enrichment_flags.sql: the ALTER acts on the local tables, then
-- the Distributed table is re-created from them, so it carries the new columns.
ALTER TABLE {database}.events_local ON CLUSTER {cluster}
    ADD COLUMN IF NOT EXISTS is_bot Bool DEFAULT false AFTER received_at,
    ADD COLUMN IF NOT EXISTS event_time_clamped Bool DEFAULT false AFTER is_bot;

CREATE OR REPLACE TABLE {database}.events ON CLUSTER {cluster} AS {database}.events_local
ENGINE = Distributed({cluster}, {database}, events_local, cityHash64(team_id, project_id, link_id, toDate(event_time), event_id))
