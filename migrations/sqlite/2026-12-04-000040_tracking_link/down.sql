ALTER TABLE ticket_events DROP COLUMN by_customer;
ALTER TABLE tickets DROP COLUMN rating_works_now;
ALTER TABLE tickets DROP COLUMN quote_state;
ALTER TABLE tickets DROP COLUMN quote_version;
