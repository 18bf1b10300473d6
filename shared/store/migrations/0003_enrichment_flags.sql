-- Flags set by server-side enrichment: a bot by its user agent; an event_time clamped because
-- it lay too far in the future (the client's clock). Old rows and old jobs default to false.
ALTER TABLE {database}.events
    ADD COLUMN IF NOT EXISTS is_bot Bool DEFAULT false AFTER received_at,
    ADD COLUMN IF NOT EXISTS event_time_clamped Bool DEFAULT false AFTER is_bot
