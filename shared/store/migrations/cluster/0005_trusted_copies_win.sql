-- Cluster counterpart of ../0005_trusted_copies_win.sql (see it for why: a server-key copy of
-- an event wins over a public one). ALTER acts on the local tables; the Distributed table is
-- re-created over them so it carries the new column.
ALTER TABLE {database}.events_local ON CLUSTER {cluster} ADD COLUMN IF NOT EXISTS trusted Bool DEFAULT false AFTER event_time_clamped;

ALTER TABLE {database}.events_local ON CLUSTER {cluster} MODIFY COLUMN replace_version UInt64
    MATERIALIZED bitNot(toUInt64(toUnixTimestamp64Milli(received_at))) - if(trusted, 0, 4611686018427387904);

ALTER TABLE {database}.events_local ON CLUSTER {cluster} MATERIALIZE COLUMN replace_version SETTINGS mutations_sync = 2;

CREATE OR REPLACE TABLE {database}.events ON CLUSTER {cluster} AS {database}.events_local
ENGINE = Distributed({cluster}, {database}, events_local, cityHash64(team_id, project_id, link_id, toDate(event_time), event_id))
