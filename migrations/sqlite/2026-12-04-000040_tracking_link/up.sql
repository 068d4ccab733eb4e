-- The tracking link grows up (issue 15): the quote the customer approves or declines through the link, which
-- version of it they saw, the rating's "does it work now?", and timeline entries that are the customer's own acts.

-- Each quote issued bumps the version; the customer's decision names the version they saw, so a quote re-issued
-- meanwhile is refused rather than approved unseen. No quote: version 0 and no state.
ALTER TABLE tickets ADD COLUMN quote_version INTEGER NOT NULL DEFAULT 0 CHECK (quote_version >= 0);
ALTER TABLE tickets ADD COLUMN quote_state TEXT
    CHECK (quote_state IS NULL OR (quote_state IN ('waiting', 'approved', 'declined') AND quote_version >= 1));
ALTER TABLE tickets ADD COLUMN rating_works_now BOOLEAN CHECK (rating_works_now IS NULL OR rating IS NOT NULL);
-- A quote waiting when this runs is the first version of its ticket's quote.
UPDATE tickets SET quote_version = 1, quote_state = 'waiting' WHERE status = 'awaiting_approval';

-- An entry the customer made through the tracking link: no key acted.
ALTER TABLE ticket_events ADD COLUMN by_customer BOOLEAN NOT NULL DEFAULT 0
    CHECK (NOT by_customer OR api_key_id IS NULL);
