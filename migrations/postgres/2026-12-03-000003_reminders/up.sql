-- Customer reminders (SMS): what the `reminders` consumer of the event feed planned, and what was sent.
--
-- `dedupe_key` names what a reminder is about (its kind, subject and, for the ready-for-pickup sequence, its place
-- in it): a redelivered event plans nothing twice. A sender claims due rows (`claimed_until`, `claim_token`; with
-- `FOR UPDATE SKIP LOCKED` here), sends outside the transaction, and records the outcome only while it still holds
-- the claim: two instances never send one reminder twice.
CREATE TABLE reminders (
    id             uuid PRIMARY KEY,
    dedupe_key     text NOT NULL UNIQUE,
    ticket_id      uuid NOT NULL REFERENCES tickets (id),
    -- The loan or pickup the reminder is about, or the ticket itself.
    subject_id     uuid NOT NULL,
    customer_id    uuid REFERENCES customers (id),
    store_id       uuid NOT NULL REFERENCES stores (id),
    kind           text NOT NULL CHECK (kind IN ('ticket_opened', 'quote_waiting', 'ready_for_pickup', 'loaner_due',
                                                 'loaner_overdue', 'courier_on_the_way')),
    sequence_no    integer NOT NULL DEFAULT 1 CHECK (sequence_no >= 1),
    event_id       uuid NOT NULL,
    -- The customer's tracking link (the opened message), kept until it is sent.
    link           text,
    due_at         timestamptz NOT NULL,
    state          text NOT NULL CHECK (state IN ('pending', 'sent', 'skipped', 'cancelled', 'failed')),
    attempts       integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    claimed_until  timestamptz,
    claim_token    uuid,
    body           text,
    channel        text,
    sent_at        timestamptz,
    -- Why it was skipped, cancelled or failed, or the last failed attempt's reason.
    reason         text,
    created_at     timestamptz NOT NULL,
    updated_at     timestamptz NOT NULL,
    CHECK ((state = 'sent') = (sent_at IS NOT NULL))
);
CREATE INDEX reminders_due ON reminders (due_at) WHERE state = 'pending';
CREATE INDEX reminders_ticket ON reminders (ticket_id);
CREATE INDEX reminders_subject ON reminders (subject_id) WHERE state = 'pending';
