-- The outbox (see the PostgreSQL migration for the whole story). SQLite has one writer at a time, so insertion
-- order is commit order; `txid` stays 0 and the sequencer places events in `seq` order.
CREATE TABLE events (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id BLOB NOT NULL UNIQUE CHECK (length(id) = 16),
    event_type TEXT NOT NULL CHECK (event_type GLOB '[a-z_]*.[a-z_]*' AND event_type NOT GLOB '*[^a-z_.]*'),
    occurred_at TEXT NOT NULL,
    subject_type TEXT NOT NULL CHECK (subject_type IN ('ticket', 'loan', 'pickup', 'stock_level', 'part', 'store')),
    subject_id BLOB NOT NULL CHECK (length(subject_id) = 16),
    store_id BLOB REFERENCES stores (id),
    partner_id BLOB REFERENCES courier_partners (id),
    payload TEXT NOT NULL,
    -- What only Depot's own consumers read (the tracking link for the customer's message): never in the feed or a
    -- webhook.
    internal TEXT,
    txid BIGINT NOT NULL DEFAULT 0,
    position BIGINT UNIQUE
);
CREATE INDEX events_unplaced ON events (seq) WHERE position IS NULL;
CREATE INDEX events_subject ON events (subject_id, seq);

CREATE TABLE event_consumers (
    name TEXT PRIMARY KEY NOT NULL,
    position BIGINT NOT NULL DEFAULT 0 CHECK (position >= 0),
    updated_at TEXT NOT NULL
);
