-- The outbox: every meaningful change writes its event here, in the same transaction as the change.
--
-- `seq` is the insertion order. An event is written while its subject's row is locked, so one subject's events
-- are in `seq` order of their commits. `position` is the feed's order: it is assigned after the commit by the
-- sequencer (`events::sequence`), one instance at a time, to committed events only, so a reader walking positions
-- upwards never skips an event that commits later (a `seq` cursor could: a transaction that took a smaller `seq`
-- may commit after a larger one). `txid` is the writing transaction's id, which tells the sequencer which
-- committed events may still have an older, uncommitted one before them.
CREATE TABLE events (
    seq BIGSERIAL PRIMARY KEY,
    id UUID NOT NULL UNIQUE,
    event_type TEXT NOT NULL CHECK (event_type ~ '^[a-z_]+\.[a-z_]+$'),
    occurred_at TIMESTAMPTZ NOT NULL,
    subject_type TEXT NOT NULL CHECK (subject_type IN ('ticket', 'loan', 'pickup', 'stock_level', 'part', 'store')),
    subject_id UUID NOT NULL,
    -- Who may see it: the store's staff (and admins); a courier partner sees its own pickups' events only.
    store_id UUID REFERENCES stores (id),
    partner_id UUID REFERENCES courier_partners (id),
    payload TEXT NOT NULL,
    -- What only Depot's own consumers read (the tracking link for the customer's message): never in the feed or a
    -- webhook.
    internal TEXT,
    txid BIGINT NOT NULL DEFAULT (pg_current_xact_id()::text::bigint),
    position BIGINT UNIQUE
);
-- What the sequencer has still to place, in insertion order.
CREATE INDEX events_unplaced ON events (seq) WHERE position IS NULL;
-- A subject's events (a ticket's history of what went out).
CREATE INDEX events_subject ON events (subject_id, seq);
-- The feed's scoped reads: a store's staff read their stores' events, a courier partner its own, in feed order.
CREATE INDEX events_store_feed ON events (store_id, position) WHERE position IS NOT NULL;
CREATE INDEX events_partner_feed ON events (partner_id, position) WHERE position IS NOT NULL;

-- Where each internal consumer of the feed (webhook fan-out, reminders) has read up to. A consumer's row is locked
-- while it works, so one instance at a time advances it.
CREATE TABLE event_consumers (
    name TEXT PRIMARY KEY,
    position BIGINT NOT NULL DEFAULT 0 CHECK (position >= 0),
    updated_at TIMESTAMPTZ NOT NULL
);

-- The staff alerts raised (`events::alerts`): one row per alert, subject and occasion (`marker`: the promise or the
-- hold it is about, or the series of a long waitlist), so that each is raised once even with several instances
-- sweeping (the insert that finds the row taken raises nothing). A long waitlist's row is removed when the queue
-- falls back, so that it is raised again the next time.
CREATE TABLE event_alerts (
    alert TEXT NOT NULL,
    subject_id UUID NOT NULL,
    marker TEXT NOT NULL,
    raised_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (alert, subject_id, marker)
);
