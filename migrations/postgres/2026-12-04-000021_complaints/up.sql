-- Complaints (issue 15): against a ticket, a store or a loan; an owner from first contact; a first reply due a set
-- time after opening; a timeline; goodwill remedies with who approved them.
CREATE TABLE complaints (
    id                  uuid PRIMARY KEY,
    store_id            uuid NOT NULL REFERENCES stores (id),
    -- What it is against: a ticket (ticket_id), a loan (loan_id and the loan's ticket) or the store itself.
    about               TEXT NOT NULL CHECK (about IN ('ticket', 'store', 'loan')),
    ticket_id           uuid REFERENCES tickets (id),
    loan_id             uuid REFERENCES loans (id),
    category            TEXT NOT NULL CHECK (category IN ('repair_quality', 'delay', 'staff_attitude', 'charges',
                                                          'loaner', 'data_privacy', 'courier', 'other')),
    text                TEXT NOT NULL CHECK (length(trim(text)) BETWEEN 1 AND 2000),
    contact_preference  TEXT NOT NULL CHECK (contact_preference IN ('sms', 'phone', 'none')),
    channel             TEXT NOT NULL CHECK (channel IN ('link', 'phone', 'walk_in')),
    state               TEXT NOT NULL CHECK (state IN ('open', 'acknowledged', 'resolved', 'closed', 'reopened')),
    -- The key that opened it; none when the customer did, through the link.
    opened_by           uuid REFERENCES api_keys (id),
    -- The first staff member who acted on it (first-contact responsibility); none while it is open.
    owner_id            uuid REFERENCES api_keys (id),
    opened_at           timestamptz NOT NULL,
    first_reply_due_at  timestamptz NOT NULL,
    first_reply_at      timestamptz,
    acknowledged_at     timestamptz,
    resolved_at         timestamptz,
    closed_at           timestamptz,
    resolution          TEXT CHECK (resolution IS NULL OR length(trim(resolution)) BETWEEN 1 AND 2000),
    -- A complaint filed through the link with an `Idempotency-Key`: the key and the request's fingerprint, so that
    -- the customer's retry answers with this complaint instead of filing another.
    link_request_key    TEXT,
    link_request_hash   TEXT,
    updated_at          timestamptz NOT NULL,
    CHECK ((about = 'store' AND ticket_id IS NULL AND loan_id IS NULL)
        OR (about = 'ticket' AND ticket_id IS NOT NULL AND loan_id IS NULL)
        OR (about = 'loan' AND ticket_id IS NOT NULL AND loan_id IS NOT NULL)),
    CHECK ((state = 'open') = (owner_id IS NULL)),
    CHECK ((state = 'open') = (acknowledged_at IS NULL)),
    CHECK (state NOT IN ('resolved', 'closed') OR (resolved_at IS NOT NULL AND resolution IS NOT NULL)),
    CHECK ((state = 'closed') = (closed_at IS NOT NULL)),
    CHECK (first_reply_due_at > opened_at),
    CHECK (first_reply_at IS NULL OR first_reply_at >= opened_at),
    CHECK ((link_request_key IS NULL) = (link_request_hash IS NULL)),
    CHECK (link_request_key IS NULL OR channel = 'link')
);
-- The list by store, newest first, and the clock's look-ups: complaints still waiting for their first reply.
CREATE INDEX complaints_store ON complaints (store_id, id);
CREATE INDEX complaints_awaiting_reply ON complaints (first_reply_due_at) WHERE first_reply_at IS NULL;
CREATE INDEX complaints_ticket ON complaints (ticket_id) WHERE ticket_id IS NOT NULL;
CREATE INDEX complaints_opened ON complaints (store_id, opened_at);
CREATE UNIQUE INDEX complaints_link_request ON complaints (ticket_id, link_request_key)
    WHERE link_request_key IS NOT NULL;

-- Every step of a complaint, in order: opening, acknowledgement, replies, resolution, closing, reopening, remedies.
CREATE TABLE complaint_events (
    id            uuid PRIMARY KEY,
    complaint_id  uuid NOT NULL REFERENCES complaints (id),
    at            timestamptz NOT NULL,
    kind          TEXT NOT NULL CHECK (kind IN ('opened', 'acknowledged', 'replied', 'resolved', 'closed',
                                                'reopened', 'remedy_recorded')),
    from_state    TEXT,
    to_state      TEXT,
    -- The staff key that acted; none for the customer's own acts through the link.
    actor_id      uuid REFERENCES api_keys (id),
    by_customer   BOOLEAN NOT NULL DEFAULT FALSE,
    message       TEXT CHECK (message IS NULL OR length(message) <= 2000),
    CHECK (by_customer = (actor_id IS NULL))
);
CREATE INDEX complaint_events_complaint ON complaint_events (complaint_id, at);

-- Goodwill remedies: a charge waived, warranty days added, compensation paid; each approved by a manager (admin).
CREATE TABLE complaint_remedies (
    id              uuid PRIMARY KEY,
    complaint_id    uuid NOT NULL REFERENCES complaints (id),
    kind            TEXT NOT NULL CHECK (kind IN ('waived_charge', 'extended_warranty', 'compensation')),
    amount_minor    BIGINT CHECK (amount_minor IS NULL OR amount_minor > 0),
    warranty_days   INTEGER CHECK (warranty_days IS NULL OR warranty_days BETWEEN 1 AND 1095),
    note            TEXT CHECK (note IS NULL OR length(note) <= 1000),
    approved_by     uuid NOT NULL REFERENCES api_keys (id),
    approved_at     timestamptz NOT NULL,
    CHECK ((kind = 'extended_warranty') = (warranty_days IS NOT NULL)),
    CHECK ((kind = 'extended_warranty') = (amount_minor IS NULL))
);
CREATE INDEX complaint_remedies_complaint ON complaint_remedies (complaint_id);

-- Complaints are events' subjects too: the outbox's subject check grows by one.
ALTER TABLE events DROP CONSTRAINT events_subject_type_check;
ALTER TABLE events ADD CONSTRAINT events_subject_type_check
    CHECK (subject_type IN ('ticket', 'loan', 'pickup', 'stock_level', 'part', 'store', 'complaint'));
