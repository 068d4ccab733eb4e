-- Customer reminders (SMS): what the `reminders` consumer of the event feed planned, and what was sent.
--
-- `dedupe_key` names what a reminder is about (its kind, subject and, for the ready-for-pickup sequence, its place
-- in it): a redelivered event plans nothing twice. A sender claims due rows (`claimed_until`, `claim_token`; SQLite
-- serialises writers), sends outside the transaction, and records the outcome only while it still holds
-- the claim: two instances never send one reminder twice.
CREATE TABLE reminders (
    id             BLOB PRIMARY KEY NOT NULL CHECK (length(id) = 16),
    dedupe_key     TEXT NOT NULL UNIQUE,
    ticket_id      BLOB NOT NULL REFERENCES tickets (id),
    -- The loan or pickup the reminder is about, or the ticket itself.
    subject_id     BLOB NOT NULL,
    customer_id    BLOB REFERENCES customers (id),
    store_id       BLOB NOT NULL REFERENCES stores (id),
    kind           TEXT NOT NULL CHECK (kind IN ('ticket_opened', 'quote_waiting', 'ready_for_pickup', 'loaner_due',
                                                 'loaner_overdue', 'courier_on_the_way')),
    sequence_no    INTEGER NOT NULL DEFAULT 1 CHECK (sequence_no >= 1),
    event_id       BLOB NOT NULL,
    -- The customer's tracking link (the opened message), kept until it is sent.
    link           TEXT,
    due_at         TEXT NOT NULL,
    state          TEXT NOT NULL CHECK (state IN ('pending', 'sent', 'skipped', 'cancelled', 'failed')),
    attempts       INTEGER NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    claimed_until  TEXT,
    claim_token    BLOB,
    body           TEXT,
    channel        TEXT,
    sent_at        TEXT,
    -- Why it was skipped, cancelled or failed, or the last failed attempt's reason.
    reason         TEXT,
    created_at     TEXT NOT NULL,
    updated_at     TEXT NOT NULL,
    CHECK ((state = 'sent') = (sent_at IS NOT NULL))
);
CREATE INDEX reminders_due ON reminders (due_at) WHERE state = 'pending';
CREATE INDEX reminders_ticket ON reminders (ticket_id);
CREATE INDEX reminders_subject ON reminders (subject_id) WHERE state = 'pending';
