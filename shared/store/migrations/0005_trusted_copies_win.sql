-- A copy of an event sent with a server key (secret) wins over one sent with a public write
-- key or none; among equals the first received still wins.
-- A security review replayed the cost of "first received always wins": with a site's public
-- key anyone sent `order-2001` worth 0 under his own e-mail 1.5 s before the shop's server
-- sent the real 499.0 conversion, which was then dropped by deduplication.
-- `trusted` is set by the API from the key (never from the event). The version keeps its
-- old value for trusted copies and drops by 2^62 for the others, so every trusted copy beats
-- every untrusted one while each group stays ordered first-received first (ms < 2^62).
-- MATERIALIZE recomputes the stored versions of the rows already there (all untrusted).
ALTER TABLE {database}.events ADD COLUMN IF NOT EXISTS trusted Bool DEFAULT false AFTER event_time_clamped;

ALTER TABLE {database}.events MODIFY COLUMN replace_version UInt64
    MATERIALIZED bitNot(toUInt64(toUnixTimestamp64Milli(received_at))) - if(trusted, 0, 4611686018427387904);

ALTER TABLE {database}.events MATERIALIZE COLUMN replace_version SETTINGS mutations_sync = 2
