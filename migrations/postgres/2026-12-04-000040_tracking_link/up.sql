-- The tracking link grows up (issue 15): the quote the customer approves or declines through the link, which
-- version of it they saw, the rating's "does it work now?", and timeline entries that are the customer's own acts.

-- Each quote issued bumps the version; the customer's decision names the version they saw, so a quote re-issued
-- meanwhile is refused rather than approved unseen. No quote: version 0 and no state.
ALTER TABLE tickets
    ADD COLUMN quote_version integer NOT NULL DEFAULT 0 CHECK (quote_version >= 0),
    ADD COLUMN quote_state text,
    ADD COLUMN rating_works_now boolean,
    ADD CONSTRAINT tickets_quote_state_check
        CHECK (quote_state IS NULL OR (quote_state IN ('waiting', 'approved', 'declined') AND quote_version >= 1)),
    ADD CONSTRAINT tickets_rating_works_now_check CHECK (rating_works_now IS NULL OR rating IS NOT NULL);
-- A quote waiting when this runs is the first version of its ticket's quote.
UPDATE tickets SET quote_version = 1, quote_state = 'waiting' WHERE status = 'awaiting_approval';

-- An entry the customer made through the tracking link: no key acted.
ALTER TABLE ticket_events
    ADD COLUMN by_customer boolean NOT NULL DEFAULT false,
    ADD CONSTRAINT ticket_events_by_customer_check CHECK (NOT by_customer OR api_key_id IS NULL);
