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
-- The feed's scoped reads: a store's staff read their stores' events, a courier partner its own, in feed order.
CREATE INDEX events_store_feed ON events (store_id, position) WHERE position IS NOT NULL;
CREATE INDEX events_partner_feed ON events (partner_id, position) WHERE position IS NOT NULL;

CREATE TABLE event_consumers (
    name TEXT PRIMARY KEY NOT NULL,
    position BIGINT NOT NULL DEFAULT 0 CHECK (position >= 0),
    updated_at TEXT NOT NULL
);

-- The staff alerts raised (`events::alerts`): one row per alert, subject and occasion (`marker`: the promise or the
-- hold it is about, or the series of a long waitlist), so that each is raised once even with several instances
-- sweeping (the insert that finds the row taken raises nothing). A long waitlist's row is removed when the queue
-- falls back, so that it is raised again the next time.
CREATE TABLE event_alerts (
    alert TEXT NOT NULL,
    subject_id BLOB NOT NULL CHECK (length(subject_id) = 16),
    marker TEXT NOT NULL,
    raised_at TEXT NOT NULL,
    PRIMARY KEY (alert, subject_id, marker)
);
