-- Cluster counterpart of ../0001_create_database.sql, plus the bookkeeping table (single node:
-- `_BOOKKEEPING` in shared/store/migrate.py), split like every MergeTree table here: a
-- replicated `<name>_local` on every node and a Distributed `<name>` over the shards.
CREATE DATABASE IF NOT EXISTS {database} ON CLUSTER {cluster};

CREATE TABLE IF NOT EXISTS {database}.schema_migrations_local ON CLUSTER {cluster}
(version UInt32, name String, applied_at DateTime64(3, 'UTC') DEFAULT now64(3))
ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{uuid}/{shard}', '{replica}')
ORDER BY version;

CREATE OR REPLACE TABLE {database}.schema_migrations ON CLUSTER {cluster} AS {database}.schema_migrations_local
ENGINE = Distributed({cluster}, {database}, schema_migrations_local, cityHash64(version))
