-- The past-promise list of a store reads its page from this index alone (an index-only scan): it holds every column
-- the list shows. The tickets of one store lie all over the table, so a page read through the old index fetched 51
-- scattered heap pages, most of them from disk at ten million tickets (p99 28 ms at 8 clients; see benches/README.md).
-- Built CONCURRENTLY, so that an upgrade does not stop openings while it builds (minutes at ten million tickets):
-- one statement, outside a transaction (metadata.toml). The old index goes in the next migration.
CREATE INDEX CONCURRENTLY IF NOT EXISTS tickets_past_promise_covering ON tickets (store_id, id)
    INCLUDE (number, model_id, channel, status, created_at, updated_at, device_imei, customer_name, promised_at, ready_at)
    WHERE promised_at IS NOT NULL AND (ready_at > promised_at OR (ready_at IS NULL AND status NOT IN ('closed', 'cancelled')));
