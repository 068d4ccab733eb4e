ALTER TABLE ticket_events DROP COLUMN by_customer;
ALTER TABLE tickets
    DROP COLUMN rating_works_now,
    DROP COLUMN quote_state,
    DROP COLUMN quote_version;
