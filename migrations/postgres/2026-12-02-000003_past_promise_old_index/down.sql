CREATE INDEX CONCURRENTLY IF NOT EXISTS tickets_past_promise ON tickets (store_id, id)
    WHERE promised_at IS NOT NULL AND (ready_at > promised_at OR (ready_at IS NULL AND status NOT IN ('closed', 'cancelled')));
